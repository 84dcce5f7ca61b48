"""Tests of tensorcalc.simplify."""
