"""The expression IR: variables, constants, einsum terms and sums.

Protocol (other modules build on it: ``functions``, ``diff``, ``simplify``, ``evaluate``,
``printing``, ``rearrange``)
-----------------------------------------------------------------------------------------

* Every node is an :class:`Expr` with

  - ``children: tuple[Expr, ...]`` -- the operands, evaluated before the node;
  - ``shape: tuple[int | str, ...]`` -- a ``str`` entry is a named dimension, bound to an
    int when the expression is evaluated;
  - ``dtype`` -- a numpy dtype when known, else ``None``;
  - ``params()`` -- a hashable tuple of the node's non-child attributes; together with the
    class and the children it forms the structural key.  Live nodes of identical structure
    share one ``uid`` (hash-consing, ``tensorcalc.uids``), which is what CSE and collection
    of like terms use; uids are never reused, and a dead structure's entry is swept;
  - ``eval_node(self, *child_values, sizes)`` -- compute the node from its evaluated
    children; ``sizes`` maps each named dimension to its int.

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

  ``tensorcalc.functions`` adds :class:`Func` (elementwise), :class:`MatFunc` (inv, det,
  logdet), ``LogSumExp``, ``Index``, ``IndexAdjoint`` and ``Stack``.

* New node classes (e.g. ``tensorcalc.rearrange``) subclass :class:`Expr`, call
  ``super().__init__(children, shape, dtype)``, implement ``params`` and ``eval_node``, and
  register a derivative rule with ``tensorcalc.diff.defvjp`` (see that module: the upstream
  gradient may carry extra *leading* axes, used to build Jacobians).

>>> import numpy as np
>>> x = var("x", ("n",)); A = var("A", ("m", "n"))
>>> y = einsum("ij,j->i", A, x)
>>> y.shape
('m',)
>>> y.evaluate(A=np.eye(2), x=np.array([1.0, 2.0]))
array([1., 2.])
"""

from __future__ import annotations

import numbers
import threading
from typing import Any, Mapping, Sequence

import numpy as np

from .dims import (broadcast_shapes, check_dim, fake_sizes, pinned_names, resolve_dim,
                   unify_shapes)
from .errors import TensorcalcError
from .uids import _UIDS, intern

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


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
        ref = _UIDS.get(key)  # the hit path of intern(), inlined: it runs for every node
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

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        raise NotImplementedError(type(self).__name__)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def evaluate(self, arrays: Mapping[str, Any] | None = None, /, **kwargs: Any) -> np.ndarray:
        """Evaluate with arrays bound by variable name (extra names are ignored).

        >>> import numpy as np
        >>> (var("x", (2,)) * 3).evaluate(x=np.array([1.0, 2.0]))
        array([3., 6.])
        """
        from .evaluation import evaluate

        return evaluate(self, {**(arrays or {}), **kwargs})

    # -- operators --------------------------------------------------------------------
    def __add__(self, other: Any) -> "Expr":
        return add(self, other)

    def __radd__(self, other: Any) -> "Expr":
        return add(other, self)

    def __sub__(self, other: Any) -> "Expr":
        return add(self, other, coeffs=(1.0, -1.0))

    def __rsub__(self, other: Any) -> "Expr":
        return add(other, self, coeffs=(1.0, -1.0))

    def __neg__(self) -> "Expr":
        return scale(self, -1.0)

    def __pos__(self) -> "Expr":
        return self

    def __mul__(self, other: Any) -> "Expr":
        return multiply(self, other)

    def __rmul__(self, other: Any) -> "Expr":
        return multiply(other, self)

    def __truediv__(self, other: Any) -> "Expr":
        if _is_number(other):
            return scale(self, 1.0 / other)
        from .functions import pow as pow_

        return multiply(self, pow_(as_expr(other), -1.0))

    def __rtruediv__(self, other: Any) -> "Expr":
        from .functions import pow as pow_

        return multiply(other, pow_(self, -1.0))

    def __pow__(self, other: Any) -> "Expr":
        from .functions import power

        return power(self, other)

    def __rpow__(self, other: Any) -> "Expr":
        from .functions import power

        return power(as_expr(other), self)

    def __matmul__(self, other: Any) -> "Expr":
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> "Expr":
        return matmul(other, self)

    @property
    def T(self) -> "Expr":
        """Reverse the axes (numpy's ``.T``)."""
        labels = LETTERS[: self.ndim]
        return einsum(labels + "->" + labels[::-1], self)

    def __getitem__(self, index: Any) -> "Expr":
        from .functions import index as index_

        return index_(self, index)

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

    def __str__(self) -> str:
        try:
            from .printing import to_str
        except ImportError:
            return repr(self)
        return to_str(self)


class Var(Expr):
    """A named input.  ``symmetric=True`` declares a square matrix equal to its transpose.

    >>> var("S", ("n", "n"), symmetric=True).shape
    ('n', 'n')
    """

    __slots__ = ("name", "symmetric")

    def __init__(self, name: str, shape: Sequence[Any], symmetric: bool = False,
                 dtype: Any = None) -> None:
        self.name = name
        self.symmetric = bool(symmetric)
        super().__init__((), shape, dtype)

    def params(self) -> tuple:
        return (self.name, self.shape, self.symmetric)

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        raise RuntimeError("variables are bound by the evaluator")

    def __repr__(self) -> str:
        return f"Var({self.name!r}, {self.shape})"


class Const(Expr):
    """A numpy array (Python scalars become 0-d arrays)."""

    __slots__ = ("value", "_key")

    def __init__(self, value: Any) -> None:
        arr = np.asarray(value)
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
        if arr.dtype.kind not in "fc":
            raise TypeError(f"constants must be numeric, got dtype {arr.dtype}")
        self.value = arr
        # Small constants are keyed by value (so equal constants merge), large ones by identity.
        self._key = (arr.tobytes(), arr.dtype.str) if arr.size <= 256 else ("id", id(arr))
        super().__init__((), arr.shape, arr.dtype)

    def params(self) -> tuple:
        return (self.shape, self._key)

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        return self.value

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
        dtype = _result_dtype(operands)
        super().__init__(operands, tuple(self.sizes[lab] for lab in output), dtype)

    @property
    def spec(self) -> str:
        return ",".join(self.inputs) + "->" + self.output

    def params(self) -> tuple:
        return (self.spec, tuple(self.sizes.items()), self.scale, self.factor_dims)

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        from .contract import einsum as tc_einsum

        carried = set("".join(self.inputs))
        extra = {lab: resolve_dim(self.sizes[lab], sizes) for lab in self.output
                 if lab not in carried}
        out = tc_einsum(self.spec, *values, sizes=extra or None)
        factor = self.scale
        for d, p in self.factor_dims:
            factor *= float(sizes[d]) ** p
        return out * factor if factor != 1.0 else out

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
        super().__init__(terms, shape, _result_dtype(terms))

    def params(self) -> tuple:
        return self.coeffs

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        out = None
        for c, v in zip(self.coeffs, values):
            term = v if c == 1.0 else v * c
            out = term if out is None else out + term
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

    def eval_node(self, value: np.ndarray, *ignored: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        return value

    def __repr__(self) -> str:
        return nested_repr(self.children[0])


# ---------------------------------------------------------------------------------------
# Builders


def var(name: str, shape: Sequence[Any] | int | str = (), symmetric: bool = False,
        dtype: Any = None) -> Var:
    """A symbolic input; dims are ints or dimension names bound at evaluation.

    >>> var("A", ("m", 3)).shape
    ('m', 3)
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"variable name must be a non-empty str, got {name!r}")
    if isinstance(shape, (int, str)):
        shape = (shape,)
    shape = tuple(shape)
    if symmetric and (len(shape) != 2 or shape[0] != shape[1]):
        raise TensorcalcError(f"symmetric variable {name!r} must be square, got shape {shape}")
    return Var(name, shape, symmetric, dtype)


def as_expr(value: Any) -> Expr:
    """Wrap arrays and Python numbers as :class:`Const`; pass expressions through."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"cannot use {type(value).__name__} {value!r} in an expression")
    return Const(value)


def einsum(subscripts: str, *operands: Any, sizes: Mapping[str, Any] | None = None) -> Expr:
    """An einsum term over symbolic operands (arrays and scalars become constants).

    Accepts what ``tensorcalc.einsum`` accepts (implicit output, ``...``, broadcasting of
    size-1 axes, extended outputs sized by ``sizes``, whose values may be dimension names).

    >>> einsum("ij,jk->ik", var("A", ("m", "n")), var("B", ("n", 2))).shape
    ('m', 2)
    """
    ops = [as_expr(op) for op in operands]
    try:
        spec, back = _parse_symbolic(subscripts, ops, sizes, {})
    except TensorcalcError as err:
        # A label may join a named dim with an int (numpy-style: the int wins); only then
        # is the extra pass over the labels worth it.
        pins = pinned_names(subscripts, [op.shape for op in ops], sizes)
        if not pins:
            raise err from None
        spec, back = _parse_symbolic(subscripts, ops, sizes, pins)
    all_labels = "".join(dict.fromkeys("".join(spec.inputs) + spec.output))
    if len(all_labels) > len(LETTERS):
        raise TensorcalcError(f"einsum {subscripts!r} uses more than {len(LETTERS)} labels")
    rename = {lab: LETTERS[k] for k, lab in enumerate(all_labels)}
    inputs = ["".join(rename[lab] for lab in labels) for labels in spec.inputs]
    ops = [_squeeze(op, drop) for op, drop in zip(ops, spec.squeeze)]
    out = "".join(rename[lab] for lab in spec.output)
    lab_sizes = {rename[lab]: back[dim] for lab, dim in spec.sizes.items() if lab in rename}
    return Einsum(inputs, out, ops, lab_sizes)


def _parse_symbolic(subscripts: str, ops: Sequence[Expr], sizes: Mapping[str, Any] | None,
                    pins: Mapping[str, int]) -> tuple[Any, dict[int, Any]]:
    """Parse with stand-in ints for named dims; the spec and the way back to dimensions."""
    from .subscripts import parse

    fake, back = fake_sizes([op.shape for op in ops], sizes, pins)
    shapes = [tuple(fake[d] for d in op.shape) for op in ops]
    user_sizes = {k: fake[v] for k, v in (sizes or {}).items()}
    try:
        return parse(subscripts, shapes, user_sizes or None), back
    except TensorcalcError as err:
        named = {d: n for d, n in fake.items() if isinstance(d, str)}
        note = f" (named dimensions stood in by sizes {named})" if named else ""
        raise TensorcalcError(
            f"{err}\n  symbolic operand shapes: {[op.shape for op in ops]}{note}") from None


def _squeeze(op: Expr, axes: Sequence[int]) -> Expr:
    """Drop size-1 axes (summing over a size-1 label is exactly a squeeze)."""
    if not axes:
        return op
    labels = LETTERS[: op.ndim]
    keep = "".join(lab for ax, lab in enumerate(labels) if ax not in axes)
    return Einsum([labels], keep, [op], dict(zip(labels, op.shape)))


def scale(x: Any, factor: float) -> Expr:
    """``factor * x`` as an einsum scale."""
    x = as_expr(x)
    labels = LETTERS[: x.ndim]
    return Einsum([labels], labels, [x], dict(zip(labels, x.shape)), scale=factor)


def broadcast_to(x: Any, shape: Sequence[Any]) -> Expr:
    """Broadcast ``x`` to ``shape`` as an extended einsum (no copy until evaluation)."""
    x = as_expr(x)
    shape = tuple(shape)
    if x.shape == shape:
        return x
    broadcast_shapes(x.shape, shape)
    out = LETTERS[: len(shape)]
    lead = len(shape) - x.ndim
    labels = ""
    sizes = dict(zip(out, shape))
    for ax, d in enumerate(x.shape):
        if d != 1 or shape[lead + ax] == 1:
            labels += out[lead + ax]
        else:  # a size-1 axis: a private label of size 1, summed away
            lab = LETTERS[len(shape) + ax]
            labels += lab
            sizes[lab] = 1
    return Einsum([labels], out, [x], sizes)


def add(a: Any, b: Any, coeffs: Sequence[float] = (1.0, 1.0)) -> Expr:
    """``coeffs[0] * a + coeffs[1] * b`` with numpy broadcasting."""
    a, b = as_expr(a), as_expr(b)
    shape = broadcast_shapes(a.shape, b.shape)
    return Add([broadcast_to(a, shape), broadcast_to(b, shape)], coeffs)


def multiply(a: Any, b: Any) -> Expr:
    """Elementwise product with numpy broadcasting, as one einsum."""
    if _is_number(a) and isinstance(b, Expr):
        return scale(b, a)
    if _is_number(b) and isinstance(a, Expr):
        return scale(a, b)
    a, b = as_expr(a), as_expr(b)
    shape = broadcast_shapes(a.shape, b.shape)
    out = LETTERS[: len(shape)]
    sizes = dict(zip(out, shape))
    inputs = []
    spare = iter(LETTERS[len(shape):])
    for op in (a, b):
        lead = len(shape) - op.ndim
        labels = ""
        for ax, d in enumerate(op.shape):
            if d != 1 or shape[lead + ax] == 1:
                labels += out[lead + ax]
            else:
                lab = next(spare)
                labels += lab
                sizes[lab] = 1
        inputs.append(labels)
    return Einsum(inputs, out, [a, b], sizes)


def matmul(a: Any, b: Any) -> Expr:
    """numpy ``@``: vectors, matrices and batched stacks."""
    a, b = as_expr(a), as_expr(b)
    if a.ndim == 0 or b.ndim == 0:
        raise TensorcalcError("matmul: operands must have at least one dimension (use * for scalars)")
    left = "...ij" if a.ndim >= 2 else "j"
    right = "...jk" if b.ndim >= 2 else "j"
    out = ("..." if a.ndim >= 2 or b.ndim >= 2 else "") + ("i" if a.ndim >= 2 else "") + (
        "k" if b.ndim >= 2 else "")
    inner_a, inner_b = a.shape[-1], b.shape[-2 if b.ndim >= 2 else 0]
    # Equal, or a name against an int (the int wins, checked when arrays are bound).
    if inner_a != inner_b and isinstance(inner_a, str) == isinstance(inner_b, str):
        raise TensorcalcError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                              f"({inner_a} != {inner_b})")
    return einsum(f"{left},{right}->{out}", a, b)


def as_coeff(c: Any) -> float | complex:
    """A scale or coefficient: a float, or a complex when its imaginary part is not zero."""
    if type(c) is float:  # the common case, first
        return c
    z = complex(c)
    return z if z.imag else z.real


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, bool) or (
        isinstance(x, np.generic) and np.ndim(x) == 0)


def _result_dtype(operands: Sequence[Expr]) -> Any:
    dtypes = [op.dtype for op in operands]
    if any(d is None for d in dtypes):
        return None
    return np.result_type(*dtypes)


def topological(roots: Sequence[Expr]) -> list[Expr]:
    """Every node reachable from ``roots``, children before parents, one per ``uid``."""
    order: list[Expr] = []
    seen: set[int] = set()
    for root in roots:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node.uid in seen:
                continue
            if expanded:
                seen.add(node.uid)
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(node.children) if c.uid not in seen)
    return order
