"""Tests of the tensorcalc command and its demo."""
