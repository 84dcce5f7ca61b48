"""Tests of tensorcalc.differentiation: every derivative checked by the gradient oracle, closed forms or JAX."""
