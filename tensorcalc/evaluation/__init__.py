"""Layer 7, evaluation: bind arrays and run the DAG (:mod:`.evaluate`, which installs
``Expr.evaluate``), and compile expressions into one cached callable (:mod:`.compile`).
Arrays of other libraries run through :mod:`.generic`; dask arrays chunked along a batch
dimension through the fused per-chunk plan of :mod:`.chunked` (stages planned by
:mod:`.chunked_plan`, tasks' numpy work in :mod:`.chunked_kernel`, the graph by
:mod:`.chunked_graph`, the tree reductions' steps in :mod:`.chunked_combine`)."""

from .compile import Compiled, compile
from .evaluate import bind, check_operands, evaluate

__all__ = ["evaluate", "compile", "Compiled", "bind", "check_operands"]
