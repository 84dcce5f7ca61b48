"""Benchmark suites of tensorcalc: ``python bench/contract.py``, ``python bench/derivatives.py``.

Each script runs every library in its own process and prints one table of medians and the
ratio tensorcalc / best peer. The machine they run on is usually shared and noisy: compare
ratios, not absolute times.
"""
