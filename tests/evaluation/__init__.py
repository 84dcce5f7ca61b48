"""Tests of tensorcalc.evaluation: evaluate and compile."""
