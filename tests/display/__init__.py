"""Tests of tensorcalc.display: einsum text, matrix and index notation, LaTeX, generated numpy."""
