"""Shared test configuration: hypothesis profiles and small fixtures.

Profiles (choose with ``HYPOTHESIS_PROFILE=<name>`` or ``pytest --hypothesis-profile=<name>``):

* ``ci`` (default): few examples per property, no per-example deadline (the machine is shared
  and a first call may build a plan), derandomized so a red run reproduces;
* ``dev``: the same, randomized, for local exploration;
* ``thorough``: ten times as many examples, for a nightly run.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
    report_multiple_bugs=False,  # one shrunk reproducer per property keeps a red run short
)

settings.register_profile("ci", max_examples=40, derandomize=True, **_COMMON)
settings.register_profile("dev", max_examples=40, **_COMMON)
settings.register_profile("thorough", max_examples=400, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: every test run sees the same data."""
    return np.random.default_rng(20261125)
