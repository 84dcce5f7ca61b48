"""The front door: ``tc.einsum`` sends arrays to the contraction layer and symbolic operands
to the expression IR.

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> einsum("ij,j->i", np.eye(2), np.array([1.0, 2.0]))
array([1., 2.])
>>> einsum("ij,j->i", var("A", ("m", "n")), var("x", ("n",))).shape
('m',)
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .contraction import contract
from .ir import Expr, einsum as expr_einsum


def einsum(*args: Any, out: np.ndarray | None = None, optimize: Any = "auto",
           sizes: Mapping[str, Any] | None = None) -> Any:
    """``numpy.einsum`` on arrays (plus the extended outputs); an expression when an operand
    is symbolic. See :func:`tensorcalc.contraction.contract.einsum`."""
    if sizes is None and args and type(args[0]) is str and not any(
            isinstance(op, Expr) for op in args[1:]):
        return contract.einsum(*args, out=out, optimize=optimize)
    subscripts, operands = contract.split_args(args)
    if any(isinstance(op, Expr) for op in operands):
        if out is not None:
            raise TypeError("out= is not supported with symbolic operands")
        return expr_einsum(subscripts, *operands, sizes=sizes)
    return contract.einsum_arrays(subscripts, operands, out, optimize, sizes)


einsum.__doc__ = contract.einsum.__doc__
