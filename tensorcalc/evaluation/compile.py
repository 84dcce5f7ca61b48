"""Compile expressions into one callable: shared intermediates, a cached program per input
signature, a planned contraction per einsum.

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> fn = compile(var("x", ("n",)) * 2)
>>> fn(x=np.array([1.0, 2.0]))
array([2., 4.])
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..contraction import contract_expression
from ..errors import TensorcalcError
from ..ir import Einsum, Expr, Var, as_expr, topological
from ..ir.dims import resolve_dim
from ..simplify import simplify_all
from ..backends import backend_of, detect, device_of, get_backend
from .binding import bind, check_symmetric, missing_array_message, program_steps
from .chunked import evaluate_dask
from .generic import build_program, check_symmetric_array_api, converter, signature_of
from .precision import adopting, keep_call_precision, origin_names, weak_nodes, weak_roots


class Compiled:
    """A callable evaluating several expressions with shared intermediates.

    The program (node order, argument slots, a ``contract_expression`` per einsum) is built
    once per signature of input shapes and dtypes and cached. ``batch`` names the dimension
    dask inputs are chunked along (:mod:`.chunked`).
    """

    def __init__(self, exprs: Sequence[Expr], single: bool, backend: str | None = None,
                 batch: str | None = None) -> None:
        originals = [as_expr(e) for e in exprs]
        self.exprs = simplify_all(originals)
        self.single = single
        self.backend = None if backend is None else get_backend(backend).name
        self.batch = batch
        self.order = topological(self.exprs)
        self.variables = [n for n in self.order if isinstance(n, Var)]
        self.names = sorted({v.name for v in self.variables})
        self.symmetric = sorted({v.name for v in self.variables if v.symmetric})
        # outputs computed from numbers only take the precision of the call's arrays (.precision)
        self._constant = weak_roots(self.exprs, weak_nodes(self.order))
        self._origins = origin_names(originals) if self._constant else frozenset()
        # the inputs whose library picks the backend (numbers only: those they derive from)
        self._dispatch = tuple(self.names or sorted(self._origins))
        if batch is not None:
            _check_batch(batch, self.variables)
        self._programs: dict[tuple, tuple[list, list[int]]] = {}
        self._backend_programs: dict[tuple, Callable[[Mapping[str, Any]], list[Any]]] = {}

    def __call__(self, arrays: Mapping[str, Any] | None = None, /, **named: Any) -> Any:
        arrays = {**(arrays or {}), **named}
        if self.backend is not None or not _all_numpy(arrays, self._dispatch):
            chosen = backend_of([arrays[n] for n in self._dispatch if n in arrays], self.backend)
            if chosen.name == "dask":  # fused per-chunk tasks along a batch dimension (.chunked)
                return evaluate_dask(self, arrays, self.batch)
            if chosen.name != "numpy":  # torch, JAX, ...: a program on that library (.generic)
                return self.run_on(chosen, arrays)
        try:
            inputs = [np.asarray(arrays[name]) for name in self.names]
        except KeyError as err:
            missing = next(v for v in self.variables if v.name == err.args[0])
            raise TensorcalcError(missing_array_message(missing, self.variables, arrays)) from None
        for name in self.symmetric:  # checked on every call: the values change, not the shapes
            check_symmetric(name, inputs[self.names.index(name)])
        signature = tuple((a.shape, a.dtype.char) for a in inputs)
        program = self._programs.get(signature)
        if program is None:
            program = self._programs[signature] = self._build(arrays)
        steps, outputs = program
        slots: list[Any] = [None] * len(self.order)
        for k, name_or_fn, args in steps:
            if isinstance(name_or_fn, str):
                a = arrays[name_or_fn]
                if not (isinstance(a, np.ndarray) and a.dtype.kind in "fc"):
                    a = np.asarray(a)  # lists, scalars; ints and bools become float64 as in bind()
                    a = a.astype(np.float64) if a.dtype.kind in "biu" else a
                slots[k] = a
            else:
                value = name_or_fn(*[slots[j] for j in args])
                slots[k] = value if type(value) is np.ndarray else np.asarray(value)
        results = [slots[k] for k in outputs]
        if self._constant:
            results = keep_call_precision(results, self._constant, arrays, self._origins)
        return results[0] if self.single else results

    def _build(self, arrays: Mapping[str, Any]) -> tuple[list, list[int]]:
        values, sizes = bind(self.variables, arrays)  # validates shapes once per signature
        shapes = {uid: np.shape(v) for uid, v in values.items()}
        # scalar constants keep the arrays' precision (.precision)
        steps, index, _ = program_steps(self.order, shapes, sizes,
                                        lambda node, child_shapes: _step(node, child_shapes, sizes),
                                        adopting)
        return steps, [index[e.uid] for e in self.exprs]

    @property
    def origins(self) -> frozenset[str]:
        """The variables the outputs of numbers only derive from: the arrays given for them
        set those outputs' precision (:func:`~.precision.keep_call_precision`)."""
        return self._origins

    def run_on(self, backend: Any, arrays: Mapping[str, Any]) -> Any:
        """The call on another library's arrays (``backend`` a row of
        :data:`tensorcalc.backends.BACKENDS`): one program per backend, shapes, dtypes and
        device (:mod:`.generic`)."""
        missing = next((v for v in self.variables if v.name not in arrays), None)
        if missing is not None:
            raise TensorcalcError(missing_array_message(missing, self.variables, arrays))
        given = [arrays[name] for name in self.names]
        like = next((a for a in given if detect(a) is backend), None)
        convert = converter(backend, like)
        inputs = {name: convert(a) for name, a in zip(self.names, given)}
        for name in self.symmetric:  # checked on every call: the values change, not the shapes
            check_symmetric_array_api(name, inputs[name])
        # outputs of numbers only take the precision and device of these (.precision)
        origins = {n: arrays[n] for n in sorted(self._origins) if n in arrays}
        signature = signature_of(backend, list(inputs.values())) + tuple(
            (str(getattr(a, "dtype", type(a))), str(device_of(a))) for a in origins.values())
        program = self._backend_programs.get(signature)
        if program is None:
            program = self._backend_programs[signature] = build_program(
                backend, self.order, self.exprs, inputs, origins)
        results = program(inputs)
        return results[0] if self.single else results

    def __repr__(self) -> str:
        return f"<Compiled {len(self.exprs)} expression(s), {len(self.order)} nodes, inputs {self.names}>"


def _all_numpy(arrays: Mapping[str, Any], names: Sequence[str]) -> bool:
    """True when every input is a numpy array: the one check of the numpy fast path (a
    plain loop over the inputs, exact types: it runs on every call)."""
    ndarray = np.ndarray
    for name in names:
        if type(arrays.get(name)) is not ndarray:
            return False
    return True


def _check_batch(batch: str, variables: Sequence[Var]) -> None:
    dims = sorted({d for v in variables for d in v.shape if isinstance(d, str)})
    if batch not in dims:
        raise TensorcalcError(f"batch={batch!r} is not a named dimension of the variables; "
                              f"they have {dims}")


def _step(node: Expr, child_shapes: list[tuple], sizes: dict[str, int]) -> Callable:
    """A function of the child arrays computing ``node`` for these shapes."""
    if isinstance(node, Einsum):
        factor = node.factor(sizes)
        if _is_permutation(node):
            # A transpose (or a scale) is a strided view: no contraction to run.
            axes = tuple(node.inputs[0].index(lab) for lab in node.output)
            if factor == 1.0:
                return lambda a: a.transpose(axes)
            return lambda a: a.transpose(axes) * factor
        carried = set("".join(node.inputs))
        extra = {lab: resolve_dim(node.sizes[lab], sizes) for lab in node.output if lab not in carried}
        expr = contract_expression(node.spec, *child_shapes, sizes=extra or None)
        if factor == 1.0:
            return expr
        if not child_shapes or not np.isfinite(factor):  # NaN (a mean of nothing) times
            return lambda *args: expr(*args) * factor      # an empty operand would vanish
        # An einsum is linear in each operand: scale the smallest one, not the (possibly
        # much larger, e.g. diagonal-embedded) result.
        k = min(range(len(child_shapes)), key=lambda j: int(np.prod(child_shapes[j])))
        return lambda *args: expr(*args[:k], args[k] * factor, *args[k + 1:])
    if not node.children:
        value = node.eval_node(sizes=sizes)
        return lambda: value
    return lambda *args: node.eval_node(*args, sizes=sizes)


def _is_permutation(node: Einsum) -> bool:
    labels = node.inputs[0]
    return (len(node.inputs) == 1 and len(set(labels)) == len(labels)
            and sorted(labels) == sorted(node.output))


def compile(exprs: Any, *, backend: str | None = None, batch: str | None = None) -> Compiled:
    """One callable for an expression or a list of them; shared parts are computed once.

    The callable takes numpy arrays or the arrays of another library (torch, JAX, CuPy, dask,
    array-API libraries) and returns that library's arrays, as :func:`~.evaluate.evaluate`
    does; ``backend=`` fixes the library for every call (numpy inputs are converted to it).

    On dask arrays chunked along a named dimension (``batch=``, the rows of the data; without
    it, the dimension the inputs are split into the most chunks along), the whole graph runs
    as one fused numpy task per chunk and the chunks combine by a tree reduction
    (:mod:`.chunked`); the result is lazy:

    >>> import dask.array as da, numpy as np
    >>> from tensorcalc.ir import var
    >>> X, w = var("X", ("N", "d")), var("w", ("d",))
    >>> grad = compile(X.T @ (X @ w), batch="N")
    >>> lazy = grad(X=da.ones((1000, 3), chunks=(250, 3)), w=np.ones(3))
    >>> lazy.compute()
    array([3000., 3000., 3000.])
    >>> compile(X @ w, batch="rows")
    Traceback (most recent call last):
    ...
    tensorcalc.errors.TensorcalcError: batch='rows' is not a named dimension of the variables; they have ['N', 'd']

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> x = var("x", ("n",))
    >>> fn = compile([x * x, x + 1.0])
    >>> fn(x=np.array([1.0, 2.0]))
    [array([1., 4.]), array([2., 3.])]
    """
    single = isinstance(exprs, Expr)
    return Compiled([exprs] if single else list(exprs), single, backend, batch)
