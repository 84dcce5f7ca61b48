"""Layer 10, einops patterns on arrays and on expressions: the one adapter to einops' private
names (:mod:`.adapter`), the IR nodes a pattern lowers to, which register their own
derivative, printer and code rules (:mod:`.nodes`), the public functions
(:mod:`.rearrange`: ``rearrange``/``reduce``/``repeat``; :mod:`.functions`: ``pack``,
``unpack``, ``parse_shape``, ``asnumpy`` and ``einops.einsum``'s pattern-last form)."""

from . import chunked  # noqa: F401  (the einops nodes' rules for chunked dask arrays)
from .functions import asnumpy, einops_einsum_args, pack, parse_shape, unpack
from .rearrange import RearrangeError, rearrange, reduce, repeat

__all__ = ["RearrangeError", "asnumpy", "einops_einsum_args", "pack", "parse_shape",
           "rearrange", "reduce", "repeat", "unpack"]
