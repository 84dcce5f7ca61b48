"""Layer 9, einops patterns on arrays and on expressions: the one adapter to einops' private
names (:mod:`.adapter`), the IR nodes a pattern lowers to, which register their own
derivative, printer and code rules (:mod:`.nodes`), and the public functions
(:mod:`.rearrange`)."""

from .rearrange import RearrangeError, rearrange, reduce, repeat

__all__ = ["RearrangeError", "rearrange", "reduce", "repeat"]
