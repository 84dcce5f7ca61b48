"""Tests of tensorcalc.ir: builders, shapes, named dimensions, hash-consed uids."""
