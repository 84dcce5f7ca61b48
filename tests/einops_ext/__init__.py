"""Tests of tensorcalc.einops_ext: einops patterns on arrays and expressions, the adapter."""
