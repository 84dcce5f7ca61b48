"""Tests of tensorcalc.explain: step-by-step derivations."""
