"""The front doors: ``tc.einsum`` sends numpy arrays to the contraction layer, other
libraries' arrays (torch, JAX, CuPy, dask, array-API) to :mod:`tensorcalc.backends.front`
(their result is that library's array) and symbolic operands to the expression IR;
``tc.contract_expression`` is :func:`tensorcalc.backends.front.contract_expression`.

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

from .backends.front import ContractExpression, contract_expression, einsum_foreign, foreign_backend
from .contraction import contract
from .einops_ext import einops_einsum_args
from .ir import Expr, einsum as expr_einsum

_K, _SAFE = "K", "safe"  # the defaults, tested by identity on the fast path


def einsum(*args: Any, out: np.ndarray | None = None, optimize: Any = "auto",
           sizes: Mapping[str, Any] | None = None, dtype: Any = None, order: str = "K",
           casting: str = "safe") -> Any:
    """``numpy.einsum`` on arrays (plus the extended outputs); an expression when an operand
    is symbolic. See :func:`tensorcalc.contraction.contract.einsum`."""
    if len(args) > 1 and isinstance(args[-1], str) and not isinstance(args[0], (str, bytes)):
        args = einops_einsum_args(args, sizes)  # einops.einsum(x, w, "b d, d o -> b o")
    if (out is None and sizes is None and dtype is None and order is _K and casting is _SAFE
            and args and type(args[0]) is str):
        plan = contract.lookup_plan(args, optimize)  # only arrays find one: no Expr check
        if plan is not None:
            return plan.execute(args[1:])
    subscripts, operands = contract.split_args(args)
    if any(isinstance(op, Expr) for op in operands):
        for name, given in (("out", out is not None), ("dtype", dtype is not None),
                            ("order", order is not _K and order != "K"),
                            ("casting", casting is not _SAFE and casting != "safe")):
            if given:
                raise TypeError(f"{name}= is not supported with symbolic operands")
        return expr_einsum(subscripts, *operands, sizes=sizes)
    backend = foreign_backend(operands)  # numpy operands pass in one type test each
    if backend is not None:
        return einsum_foreign(subscripts, operands, backend, optimize, sizes, dtype, out, order,
                              casting)
    return contract.einsum_arrays(subscripts, operands, out, optimize, sizes, dtype, order, casting)


einsum.__doc__ = contract.einsum.__doc__

__all__ = ["einsum", "contract_expression", "ContractExpression"]
