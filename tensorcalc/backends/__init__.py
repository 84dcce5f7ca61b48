"""Layer 2, arrays of any library (no expressions): the table of backends (numpy, torch,
JAX, CuPy, dask, array-API libraries), which backend a call's arrays belong to, and planned
contractions run on each (:mod:`.pairwise`; array-API steps lowered by hand in
:mod:`.lowering`)."""

from .pairwise import PairwisePlan, backend_of_namespace, contract, pairwise_plan
from .lowering import device_of, put_index, take_index
from .table import (BACKENDS, Backend, Source, backend_of, detect, get_backend, is_neutral,
                    source_backend)

__all__ = ["BACKENDS", "Backend", "Source", "source_backend", "backend_of", "detect", "get_backend", "is_neutral",
           "contract", "pairwise_plan", "PairwisePlan", "backend_of_namespace",
           "device_of", "take_index", "put_index"]
