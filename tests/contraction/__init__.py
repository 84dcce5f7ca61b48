"""Tests of tensorcalc.contraction: einsum, paths, expressions, the compiled core, string-level gradients."""
