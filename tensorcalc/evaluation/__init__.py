"""Layer 6, evaluation: bind arrays and run the DAG (:mod:`.evaluate`, which installs
``Expr.evaluate``), and compile expressions into one cached callable (:mod:`.compile`)."""

from .compile import Compiled, compile
from .evaluate import bind, check_operands, evaluate

__all__ = ["evaluate", "compile", "Compiled", "bind", "check_operands"]
