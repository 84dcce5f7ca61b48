"""Tests of tensorcalc.notation: the index-notation parser and its lowering."""
