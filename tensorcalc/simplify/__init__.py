"""Layer 4, simplification: a registry of rules by node type (:func:`.core.simplify_rule`);
the rules of the IR's nodes live in :mod:`.einsum` and :mod:`.sums`, those of the primitives
in :mod:`.primitives`. A new node type registers its own rule."""

from . import einsum, primitives, sums  # noqa: F401  (register their rules)
from .core import (bind_dims, is_zero, named_dims, rebuild, simplify, simplify_all, simplify_only,
                   simplify_rule, zeros)
from .sums import split_scale

__all__ = ["simplify", "simplify_all", "simplify_only", "simplify_rule", "bind_dims", "named_dims",
           "rebuild", "zeros", "is_zero", "split_scale"]
