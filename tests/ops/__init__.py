"""Tests of tensorcalc.ops: the primitives' values and operators."""
