"""Layer 9, index notation: the tokenizer and parser (:mod:`.parser`, text to a syntax tree)
and the lowering of the tree to the IR (:mod:`.lowering`, which also holds ``parse``)."""

from .lowering import infer_shapes, lower, parse
from .parser import parse_tree, tokenize

__all__ = ["parse", "parse_tree", "tokenize", "infer_shapes", "lower"]
