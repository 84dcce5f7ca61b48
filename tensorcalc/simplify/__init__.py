"""Layer 5, simplification: a registry of rules by node type (:func:`.core.simplify_rule`);
the rules of the IR's nodes live in :mod:`.einsum` and :mod:`.sums`, those of the primitives
in :mod:`.primitives`. A new node type registers its own rule. Beside them, the rewrite table
(:mod:`.rewrite`) holds the rules that replace a node by a simpler equal expression
(``x x⁻¹ -> 1``, ``log(softmax z) -> log_softmax(z)``), one module per primitive family in
:mod:`.rewrites`."""

from . import einsum, primitives, rewrites, sums  # noqa: F401  (register their rules)
from .core import (bind_dims, is_zero, named_dims, rebuild, simplify, simplify_all, simplify_only,
                   simplify_rule, zeros)
from .rewrite import rewrite_rule, rewrite_rules
from .sums import split_scale
from .view import simplified

__all__ = ["simplify", "simplify_all", "simplify_only", "simplify_rule", "bind_dims", "named_dims",
           "rebuild", "zeros", "is_zero", "split_scale", "rewrite_rule", "rewrite_rules",
           "simplified"]
