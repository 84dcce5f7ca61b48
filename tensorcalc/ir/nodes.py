"""The expression IR: variables, constants, einsum terms and sums.

Protocol (every layer above builds on it)
----------------------------------------

* Every node is an :class:`Expr` with

  - ``children: tuple[Expr, ...]`` -- the operands, evaluated before the node;
  - ``shape: tuple[int | str, ...]`` -- a ``str`` entry is a named dimension, bound to an
    int when the expression is evaluated;
  - ``dtype`` -- a numpy dtype when known, else ``None``;
  - ``params()`` -- a hashable tuple of the node's non-child attributes; together with the
    class and the children it forms the structural key.  Live nodes of identical structure
    share one ``uid`` (hash-consing, ``tensorcalc.ir.uids``), which is what CSE and collection
    of like terms use; uids are never reused, and a dead structure's entry is swept;
  - ``eval_node(self, *child_values, sizes, xp=numpy)`` -- compute the node from its
    evaluated children; ``sizes`` maps each named dimension to its int. ``xp`` is the
    array-API namespace of the children when they are not numpy arrays (torch, JAX, CuPy,
    dask, ``tensorcalc.backends``): the node then computes with ``xp``'s functions and
    returns that library's array (a numpy result is converted by the evaluator).

* Node classes defined here (attributes are plain and documented so the printer can walk
  the tree):

  - :class:`Var` ``(name, shape, symmetric)`` -- an input, bound by name at evaluation;
  - :class:`Const` ``(value)`` -- a numpy array;
  - :class:`Einsum` ``(inputs, output, operands, sizes, scale, factor_dims)`` -- the universal
    linear node ``scale * prod(sizes[d] ** p for d, p in factor_dims) * einsum(inputs->output)``.
    Labels are single ASCII letters, one per operand axis; ``sizes`` maps every label to its
    dimension (int or name).  The output may repeat a label (diagonal embedding) or hold a
    label no input carries (broadcast): the *extended* einsum of ``tensorcalc.einsum``.
    Sum, trace, diag, transpose, broadcasting and elementwise products are all einsums;
  - :class:`Add` ``(terms, coeffs)`` -- ``sum(c * t)`` over terms of one shape (broadcasting
    of ``+`` is lowered to einsum broadcasts first; a term may give a named dim where another
    gives its int size, and the evaluator checks the binding).

  ``tensorcalc.ops`` adds the primitives: :class:`~tensorcalc.ops.nodes.Func`
  (elementwise), ``MatFunc`` (inv, det, logdet), ``LogSumExp``, ``Index``, ``IndexAdjoint``
  and ``Stack``.

* New node classes (e.g. the einops nodes) subclass :class:`Expr`, call
  ``super().__init__(children, shape, dtype)``, implement ``params`` and ``eval_node``, and
  join the registries of the layers above from their own module: ``defvjp`` (derivative),
  ``simplify_rule``, ``str_rule`` and ``code_rule`` (see ``ARCHITECTURE.md``).

* Layers above install what they own on :class:`Expr`: the builders in ``tensorcalc.ir.build``
  the arithmetic operators, ``tensorcalc.ops`` ``/``, ``**`` and indexing,
  ``tensorcalc.evaluation`` ``evaluate`` and ``tensorcalc.display`` ``__str__``; this module
  imports nothing above it.

>>> x = Var("x", ("n",))
>>> x.shape, x.ndim
(('n',), 1)
"""

from __future__ import annotations

import numbers
import threading
from typing import Any, Mapping, Sequence

import numpy as np

from ..backends import backend_of_namespace, contract as backend_contract
from ..contraction.contract import einsum as contract_einsum
from ..errors import TensorcalcError
from .dims import check_dim, resolve_dim, unify_shapes
from .uids import UIDS, intern


_REPR = threading.local()
_REPR_DEPTH = 60


def nested_repr(node: "Expr") -> str:
    """``repr`` of a child node; ``...`` past a depth limit, so a deep chain cannot overflow
    the stack when printed in a traceback or a debugger."""
    depth = getattr(_REPR, "depth", 0)
    if depth >= _REPR_DEPTH:
        return "..."
    _REPR.depth = depth + 1
    try:
        return repr(node)
    finally:
        _REPR.depth = depth


class Expr:
    """Base class of every expression node (see the module docstring for the protocol)."""

    __array_ufunc__ = None  # so ``ndarray * expr`` defers to Expr.__rmul__ (not elementwise)
    # ``_pins``: operand axes whose declared dim is a name where the node needs an int (or
    # the like), computed by the evaluator on first use (``evaluation.check_operands``).
    __slots__ = ("children", "shape", "dtype", "uid", "_uid_token", "_pins", "__weakref__")

    def __init__(self, children: Sequence["Expr"], shape: Sequence[Any], dtype: Any = None) -> None:
        self.children = tuple(children)
        self.shape = tuple(check_dim(d) for d in shape)
        self.dtype = None if dtype is None else np.dtype(dtype)
        key = (type(self), self.params(), tuple(c.uid for c in self.children))
        ref = UIDS.get(key)  # the hit path of intern(), inlined: it runs for every node
        token = ref() if ref is not None else None
        if token is None:
            token = intern(key)
        self._uid_token = token  # held, so the table keeps the entry while we live
        self.uid = token.value
        self._pins = None

    # -- protocol ---------------------------------------------------------------------
    def params(self) -> tuple:
        """Hashable non-child attributes (part of the structural key)."""
        return ()

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        raise NotImplementedError(type(self).__name__)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __iter__(self):
        """Iterate over the first axis (``a, b = x`` for a vector of known length 2)."""
        if not self.shape or not isinstance(self.shape[0], int):
            raise TypeError(f"cannot iterate over an expression of shape {self.shape}")
        return (self[k] for k in range(self.shape[0]))

    def __bool__(self) -> bool:
        raise TypeError("the truth value of a symbolic expression is undefined")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        inner = ", ".join(nested_repr(c) for c in self.children)
        extra = ", ".join(str(p) for p in self.params())
        return f"{type(self).__name__}({', '.join(s for s in (extra, inner) if s)})"

    # __str__ and _repr_latex_ are installed by tensorcalc.display.


class Var(Expr):
    """A named input.  ``symmetric=True`` declares a square matrix equal to its transpose.

    >>> Var("S", ("n", "n"), symmetric=True).symmetric
    True
    """

    __slots__ = ("name", "symmetric")

    def __init__(self, name: str, shape: Sequence[Any], symmetric: bool = False,
                 dtype: Any = None) -> None:
        self.name = name
        self.symmetric = bool(symmetric)
        super().__init__((), shape, dtype)

    def params(self) -> tuple:
        return (self.name, self.shape, self.symmetric)

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        raise RuntimeError("variables are bound by the evaluator")

    def __repr__(self) -> str:
        return f"Var({self.name!r}, {self.shape})"


class Const(Expr):
    """A numpy array (Python scalars become 0-d arrays), copied when the node is built.

    >>> import numpy as np
    >>> a = np.array([1.0, 2.0])
    >>> c = Const(a)
    >>> a[:] = 0.0
    >>> c.value
    array([1., 2.])
    """

    __slots__ = ("value", "_key")

    def __init__(self, value: Any) -> None:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"constants must be numeric, got dtype {arr.dtype}")
        # A copy, read-only: the value is the one at construction. An alias of the caller's
        # array would change under the node's key (equal small constants merge by value)
        # and under everything already folded from it.
        arr = np.array(arr, dtype=np.float64 if arr.dtype.kind in "biu" else arr.dtype)
        arr.flags.writeable = False
        self.value = arr
        # Small constants are keyed by value (so equal constants merge), large ones by identity.
        self._key = (arr.tobytes(), arr.dtype.str) if arr.size <= 256 else ("id", id(arr))
        super().__init__((), arr.shape, arr.dtype)

    def params(self) -> tuple:
        return (self.shape, self._key)

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        return self.value  # numpy for every backend: the evaluator places it on the device

    def __repr__(self) -> str:
        if self.value.size <= 4:
            return f"Const({self.value.tolist()!r})"
        return f"Const(<{self.value.dtype} {self.value.shape}>)"


class Einsum(Expr):
    """``scale * prod(sizes[d] ** p for d, p in factor_dims) * einsum(inputs -> output)``.

    ``inputs``: one label string per operand (one ASCII letter per axis); ``output``: may
    repeat labels (diagonal embedding) or name labels no input carries (broadcast);
    ``sizes``: label -> int or dimension name; ``factor_dims``: ``(name, power)`` pairs of
    named dimensions multiplied in (a summed label no operand carries gives ``delta(a, a) =
    n_a``; ``mean`` over a named axis gives power -1).
    """

    __slots__ = ("inputs", "output", "sizes", "scale", "factor_dims")

    def __init__(self, inputs: Sequence[str], output: str, operands: Sequence[Expr],
                 sizes: Mapping[str, Any], scale: float = 1.0,
                 factor_dims: Sequence[tuple[str, int]] = ()) -> None:
        if len(inputs) != len(operands) or not operands:
            raise ValueError("Einsum needs one label string per operand, and an operand")
        for labels, op in zip(inputs, operands):
            if len(labels) != op.ndim:
                raise ValueError(f"labels {labels!r} do not fit operand of shape {op.shape}")
        used = set("".join(inputs)) | set(output)
        self.inputs = tuple(inputs)
        self.output = output
        self.sizes = {lab: sizes[lab] for lab in sorted(used)}
        self.scale = as_coeff(scale)
        powers: dict[str, int] = {}
        for name, p in factor_dims:
            powers[name] = powers.get(name, 0) + p
        self.factor_dims = tuple(sorted((n, p) for n, p in powers.items() if p))
        dtype = result_dtype(operands)
        super().__init__(operands, tuple(self.sizes[lab] for lab in output), dtype)

    @property
    def spec(self) -> str:
        return ",".join(self.inputs) + "->" + self.output

    def params(self) -> tuple:
        return (self.spec, tuple(self.sizes.items()), self.scale, self.factor_dims)

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        carried = set("".join(self.inputs))
        extra = {lab: resolve_dim(self.sizes[lab], sizes) for lab in self.output
                 if lab not in carried}
        if xp is np:
            out = contract_einsum(self.spec, *values, sizes=extra or None)
        else:  # the same planned pairwise order, run by the backend's einsum (or lowered)
            out = backend_contract(self.spec, values, xp, backend_of_namespace(xp), extra or None)
        factor = self.factor(sizes)
        return out * factor if factor != 1.0 else out

    def factor(self, sizes: Mapping[str, int]) -> float | complex:
        """``scale`` times the named sizes' powers (:func:`size_power`)."""
        factor = self.scale
        for d, p in self.factor_dims:
            factor *= size_power(sizes[d], p)
        return factor

    def __repr__(self) -> str:
        ops = ", ".join(nested_repr(c) for c in self.children)
        s = "" if self.scale == 1.0 else f"{self.scale!r} * "
        return f"{s}Einsum({self.spec!r}, {ops})"


class Add(Expr):
    """``sum(coeff * term)``; every term has the node's shape."""

    __slots__ = ("coeffs",)

    def __init__(self, terms: Sequence[Expr], coeffs: Sequence[float] | None = None) -> None:
        terms = tuple(terms)
        if not terms:
            raise ValueError("Add needs a term")
        # Terms may differ where one has a named dim and another its int size (a name
        # broadcast against an int, the int wins); evaluation checks the name's binding.
        shape = unify_shapes([t.shape for t in terms])
        if shape is None:
            raise TensorcalcError(f"cannot add shapes {[t.shape for t in terms]}")
        self.coeffs = tuple(as_coeff(c) for c in ((1.0,) * len(terms) if coeffs is None else coeffs))
        super().__init__(terms, shape, result_dtype(terms))

    def params(self) -> tuple:
        return self.coeffs

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        if xp is not np:
            return self._eval_array_api(values, xp)
        first = self.coeffs[0]
        if len(values) > 1 and all(c == first for c in self.coeffs):
            # a common coefficient scales the sum once, in place: 0.5 * (t + tᵀ) is two passes
            out = values[0] + values[1]
            for v in values[2:]:
                out += v
            if first == 1.0:
                return out
            if np.can_cast(np.result_type(out, first), out.dtype, "same_kind"):
                out *= first
                return out
            return out * first
        out = None
        for c, v in zip(self.coeffs, values):
            term = v if c == 1.0 else v * c
            out = term if out is None else out + term
        return out

    def _eval_array_api(self, values: Sequence[Any], xp: Any) -> Any:
        # xp.add promotes as numpy does (torch's ``+`` keeps a float32 array float32 when
        # met with a float64 0-d array); no in-place update (JAX arrays are immutable)
        out = None
        for c, v in zip(self.coeffs, values):
            term = v if c == 1.0 else v * c
            out = term if out is None else xp.add(out, term)
        return out

    def __repr__(self) -> str:
        parts = [f"{c!r}*{nested_repr(t)}" if c != 1.0 else nested_repr(t)
                 for c, t in zip(self.coeffs, self.children)]
        return "Add(" + ", ".join(parts) + ")"


class WithDims(Expr):
    """``children[0]``, with ``children[1:]`` (variables) attached only to bind named dims.

    A derivative can need a dimension no variable left in it carries (the Jacobian of
    ``A x - b`` with respect to ``A`` holds only ``x``, yet its shape involves ``m``); the
    attached variables supply that size at evaluation.  Printers show ``children[0]``.
    """

    __slots__ = ()

    def __init__(self, expr: Expr, variables: Sequence["Var"]) -> None:
        super().__init__((expr, *variables), expr.shape, expr.dtype)

    def eval_node(self, value: np.ndarray, *ignored: np.ndarray, sizes: Mapping[str, int],
                  xp: Any = np) -> np.ndarray:
        return value

    def __repr__(self) -> str:
        return nested_repr(self.children[0])


def size_power(size: int, power: int) -> float:
    """``size ** power`` for a named size, NaN for a negative power of 0: such a factor is the
    count a mean divides by, and the mean of no entries is 0 / 0 (numpy's ``mean`` of an
    empty slice is NaN); NaN times the empty sum is NaN, silently, on every backend.

    >>> size_power(4, -1), size_power(0, -1), size_power(0, 2)
    (0.25, nan, 0.0)
    """
    return float(size) ** power if size or power > 0 else float("nan")


def as_coeff(c: Any) -> float | complex:
    """A scale or coefficient: a float, or a complex when its imaginary part is not zero."""
    if type(c) is float:  # the common case, first
        return c
    z = complex(c)
    return z if z.imag else z.real


def is_number(x: Any) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, bool) or (
        isinstance(x, np.generic) and np.ndim(x) == 0)


def result_dtype(operands: Sequence[Expr]) -> Any:
    dtypes = [op.dtype for op in operands]
    if any(d is None for d in dtypes):
        return None
    return np.result_type(*dtypes)
