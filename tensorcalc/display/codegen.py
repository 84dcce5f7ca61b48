"""Write an expression as the source of one self-contained function, for numpy
(``tc.to_numpy``), torch, JAX or any array-API library (``tc.to_source``).

Every node becomes one assignment (shared subexpressions are computed once). An einsum of
three or more operands is split into the pairwise steps of ``tc.contract_path``; a pairwise
step that is a matrix product is written with ``@``, others with the backend's einsum
(``np.einsum``, ``torch.einsum``, ``jnp.einsum``) or, for the array-API standard, which has no
einsum, lowered to ``permute_dims``/``reshape``/``@``/``sum`` (:mod:`.einsum_code`; the
backends' spellings are the ``source`` column of :data:`tensorcalc.backends.BACKENDS`). Extended
einsums: numpy writes a repeated output label into a diagonal view of ``np.zeros``
(``np.einsum("ii->i", out)[...] = v``: einsum returns a writeable view for one operand); the
other backends select the diagonal with ``where`` and ``eye`` masks (JAX arrays cannot be
written into); a broadcast label is ``broadcast_to``. Functions are the table's templates:
numpy's ``code`` column, the ``array_api`` column (``xp.`` renamed to the backend's
namespace) for the others.

Numbers stay weak as in evaluation (float32 in, float32 out): a number is written as a Python
literal (a subexpression of numbers only is folded to one), and an array made from numbers
takes the inputs' dtype (``dtype`` in the function's head).

>>> from tensorcalc.ir import var, einsum
>>> print(to_numpy(einsum("i->ii", var("x", ("n",)))), end="")
import numpy as np
<BLANKLINE>
<BLANKLINE>
def f(x):
    n = x.shape[0]
    t1 = np.zeros((n, n), dtype=np.result_type(x))
    np.einsum("aa->a", t1)[...] = x
    return t1
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from typing import Any, Sequence

import numpy as np

from ..errors import TensorcalcError
from ..ir import Add, Const, Einsum, Expr, Var, WithDims, walk
from ..ir.registry import NodeRules
from ..ops import (AXIS, ELEMENTWISE, MATRIX, POW, AxisFunc, Func, Index, IndexAdjoint, MatFunc,
                   PowArray, Stack)
from ..ops import table
from ..ops.table import Primitive
from ..simplify import simplified
from ..backends import BACKENDS, Backend, get_backend, source_backend
from .einsum_code import einsum_source
from .format import number, sign_magnitude, signed_sum
from .text import item_text

__all__ = ["to_numpy", "to_source", "code_rule", "CodeWriter"]

DEFAULT_SIZE = 64  # planning size of a named dimension the caller gives no size for

# The source of each node type: ``rule(node, args, writer) -> name``, ``args`` the names of
# the children's values; a rule emits lines with ``writer.emit`` and returns the result's name.
# The writer's ``backend`` (the ``source`` column of the backend's row) says how the library
# is spelled.
code_rule = NodeRules("to_source")


def _bound_names() -> frozenset[str]:
    """The names generated code binds itself (namespaces, imported modules): a variable
    spelled so is renamed."""
    names = {"jax"}  # ``import jax.numpy as jnp`` binds no ``jax``, but keep it free for readers
    for row in BACKENDS.values():
        if row.source is not None:
            names.add(row.source.ns)
            for line in row.source.imports:  # ``import a.b as c`` binds c, ``import a.b`` binds a
                words = line.split()
                names.add(words[-1] if "as" in words else words[1].partition(".")[0])
    return frozenset(names)


RESERVED = _bound_names()


def _identifier(name: str, taken: set[str]) -> str:
    base = name if name.isidentifier() and not keyword.iskeyword(name) else "v_" + "".join(
        c if c.isalnum() else "_" for c in name)
    out = base
    k = 1
    while out in taken or out in RESERVED:
        out = f"{base}_{k}"
        k += 1
    taken.add(out)
    return out


def literal(value: Any) -> str:
    """A 0-d value as Python source: a weak number in every array library.

    >>> literal(np.float64(-2.0)), literal(np.inf), literal(np.complex128(1j))
    ('(-2.0)', 'float("inf")', '1j')
    """
    v = np.asarray(value).item()
    if isinstance(v, complex):
        if not (math.isfinite(v.real) and math.isfinite(v.imag)):
            return f"complex({literal(v.real)}, {literal(v.imag)})"
        return repr(v)
    if isinstance(v, float) and not math.isfinite(v):
        return f'float("{v}")'
    text = repr(v)
    return f"({text})" if text.startswith("-") else text  # x ** (-2.0), not x ** -2.0 ...


class CodeWriter:
    def __init__(self, expr: Expr, sizes: dict[str, int], backend: Backend | None = None) -> None:
        self.expr = expr
        self.sizes = sizes
        self.row = backend or get_backend("numpy")
        self.backend = self.row.source  # how the library is spelled
        self.taken: set[str] = set()
        self.names: dict[int, str] = {}
        self.lines: list[str] = []
        self.params: list[str] = []
        self.dim_names: dict[str, str] = {}
        self.counter = 0
        # Python numbers: the source of each (weak) scalar, and the value of folded ones
        self.scalars: set[str] = set()
        self.folded: dict[int, np.ndarray] = {}
        self.dtype_names: dict[str, str] = {}  # "real"/"complex" -> the head's dtype variable
        order = walk(expr)
        for v in sorted((n for n in order if isinstance(n, Var)), key=lambda v: v.name):
            self.names[v.uid] = _identifier(v.name, self.taken)
            self.params.append(self.names[v.uid])
        # Where each named dimension can be read from: the first variable axis carrying it.
        self.dim_source: dict[str, str] = {}
        for v in sorted((n for n in order if isinstance(n, Var)), key=lambda v: v.name):
            for ax, d in enumerate(v.shape):
                if isinstance(d, str) and d not in self.dim_source:
                    self.dim_source[d] = f"{self.names[v.uid]}.shape[{ax}]"
        self.order = order

    # -- helpers -----------------------------------------------------------------------
    @property
    def ns(self) -> str:
        """The namespace the source calls (``np``, ``xp``, ``jnp``)."""
        return self.backend.ns

    def fresh(self) -> str:
        while True:
            self.counter += 1
            name = f"t{self.counter}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def dim(self, d: Any) -> str:
        if not isinstance(d, str):
            return str(int(d))
        if d not in self.dim_names:
            self.dim_names[d] = _identifier(d, self.taken)
        return self.dim_names[d]

    def shape_text(self, dims: Sequence[Any]) -> str:
        return self.tuple_text([self.dim(d) for d in dims])

    @staticmethod
    def tuple_text(parts: Sequence[str]) -> str:
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def product(self, dims: Sequence[Any]) -> str:
        """The product of ``dims`` as source (one number when they are all ints)."""
        known = math.prod(int(d) for d in dims if not isinstance(d, str))
        names = [self.dim(d) for d in dims if isinstance(d, str)]
        return " * ".join(([str(known)] if known != 1 or not names else []) + names)

    def plan_size(self, d: Any) -> int:
        return int(d) if not isinstance(d, str) else int(self.sizes.get(d, DEFAULT_SIZE))

    def emit(self, text: str) -> str:
        name = self.fresh()
        self.lines.append(f"{name} = {text}")
        return name

    def emit_product(self, numbers: Sequence[str], operands: Sequence[str]) -> str:
        """Emit the product of ``numbers`` (numbers and named sizes: Python numbers) and
        ``operands``: a Python number when the operands all are, one literal when every
        factor is a literal."""
        parts = list(numbers) + list(operands)
        if not all(a in self.scalars for a in operands):
            return self.emit(" * ".join(parts))
        values = [self.number_of(p) for p in parts]
        name = literal(math.prod(values)) if None not in values else self.emit(" * ".join(parts))
        self.scalars.add(name)
        return name

    @staticmethod
    def number_of(text: str) -> Any:
        """The number a literal (as :func:`literal` or ``number`` write it) stands for, or
        None (a name, or an expression)."""
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, (int, float, complex)) else None

    def template(self, row: Primitive) -> str:
        """The row's source template for this backend: numpy's column, or the array-API one
        with its namespace ``xp.`` renamed to the backend's."""
        if not self.backend.array_api:
            return row.code
        if not row.array_api:
            raise TensorcalcError(f"the table row {row.name!r} has no array-API source: "
                                  f"backend {self.row.name!r} cannot write it")
        return re.sub(r"\bxp\.", self.ns + ".", row.array_api)

    def weak_dtype(self, complex_: bool = False) -> str:
        """The name of the dtype arrays made from numbers take: the inputs' precision
        (bound once in the function's head)."""
        key = "complex" if complex_ else "real"
        if key not in self.dtype_names:
            if complex_:
                self.weak_dtype()  # the complex dtype is derived from the real one
            self.dtype_names[key] = _identifier("cdtype" if complex_ else "dtype", self.taken)
        return self.dtype_names[key]

    def device(self, like: str | None = None) -> str:
        """``, device=...`` for creation functions of backends that place arrays."""
        like = like if like is not None and like not in self.scalars else (
            self.params[0] if self.params else None)
        return f", device={like}.device" if self.backend.device and like else ""

    def dtype_of(self, value: str) -> str:
        return self.weak_dtype() if value in self.scalars else f"{value}.dtype"

    def array(self, value: str) -> str:
        """``value`` as an array (a Python number becomes a 0-d array of the inputs' dtype)."""
        if value not in self.scalars:
            return value
        return self.emit(f"{self.ns}.asarray({value}, dtype={self.weak_dtype()}{self.device()})")

    def head(self) -> list[str]:
        """The lines binding the namespace, the named dimensions and the weak dtypes."""
        lines = []
        if self.backend.from_inputs and self.params:
            lines.append(f"xp = {self.params[0]}.__array_namespace__()")
        lines += [f"{ident} = {self.dim_source[d]}" for d, ident in self.dim_names.items()
                  if d in self.dim_source]
        if "real" in self.dtype_names:
            lines.append(f"{self.dtype_names['real']} = {self._dtype_source()}")
        if "complex" in self.dtype_names:
            lines.append(f"{self.dtype_names['complex']} = {self.ns}.result_type("
                         f"{self.dtype_names['real']}, {self.ns}.complex64)")
        return lines

    def _dtype_source(self) -> str:
        ns, params = self.ns, self.params
        if not self.backend.array_api:  # 0.0: integer inputs compute in float64, as evaluate
            return f"np.result_type({', '.join(params + ['0.0'])})"
        if not params:
            return f"{ns}.asarray(0.0).dtype"  # the library's default float
        if len(params) == 1:
            return f"{params[0]}.dtype"
        return f"{ns}.result_type({', '.join(params)})"

    # -- nodes -------------------------------------------------------------------------
    def run(self) -> str:
        for node in self.order:
            if node.uid in self.names:
                continue
            rule = code_rule.lookup(type(node))
            if rule is None:
                raise TensorcalcError(f"to_source cannot write a {type(node).__name__} node")
            if self.fold(node):
                continue
            args = [self.names[c.uid] for c in node.children]
            name = rule(node, args, self)
            if node.ndim == 0 and args and all(a in self.scalars for a in args) and \
                    isinstance(node, (Add, Einsum, WithDims)):
                self.scalars.add(name)  # Python arithmetic on numbers (n * 2.0): still a number
            self.names[node.uid] = name
        return self.names[self.expr.uid]

    def fold(self, node: Expr) -> bool:
        """Write a 0-d node of numbers only as one literal (a weak number, like its parts)."""
        if isinstance(node, Const) and node.ndim == 0:
            value = node.value
        elif node.ndim == 0 and node.children and all(c.uid in self.folded for c in node.children) \
                and not isinstance(node, Var):
            try:
                with np.errstate(all="ignore"):
                    value = np.asarray(node.eval_node(*(self.folded[c.uid] for c in node.children),
                                                      sizes={}))
            except (KeyError, TypeError, ValueError, ArithmeticError):
                return False  # needs a named size: written as code instead
        else:
            return False
        self.folded[node.uid] = value
        text = literal(value)
        self.scalars.add(text)
        self.names[node.uid] = text
        return True


@code_rule.register(Const)
def _node_const(node: Const, args: list[str], w: CodeWriter) -> str:
    value = node.value  # 0-d constants are literals (CodeWriter.fold)
    if not w.backend.array_api:
        return w.emit(f"np.array({value.tolist()!r}, dtype=np.{value.dtype.name})")
    # an array constant takes the inputs' precision (float32 in, float32 out)
    dtype = w.weak_dtype(complex_=value.dtype.kind == "c")
    return w.emit(f"{w.ns}.asarray({value.tolist()!r}, dtype={dtype}{w.device()})")


@code_rule.register(WithDims)
def _node_withdims(node: Expr, args: list[str], w: CodeWriter) -> str:
    return args[0]  # the other children are variables attached to bind named sizes


@code_rule.register(Add)
def _node_add(node: Add, args: list[str], w: CodeWriter) -> str:
    terms = []
    for a, c in zip(args, node.coeffs):
        negative, magnitude = sign_magnitude(c)
        terms.append((negative, a if magnitude == 1 else f"{number(magnitude)} * {a}"))
    return w.emit(signed_sum(terms))


@code_rule.register(PowArray)
def _node_powarray(node: Any, args: list[str], w: CodeWriter) -> str:
    p, x = node.exponent, w.array(args[0])
    if not w.backend.array_api:
        return w.emit(f"np.power({x}, np.array({p.tolist()!r}, dtype=np.{p.dtype.name}))")
    # the exponent in x's dtype: the standard promotes no integer array with a float one
    return w.emit(f"{x} ** {w.ns}.asarray({p.tolist()!r}, dtype={x}.dtype{w.device(x)})")


@code_rule.register(Func)
def _node_func(node: Any, args: list[str], w: CodeWriter) -> str:
    x = w.array(args[0])
    if node.name == "pow":
        p = node.param
        code = {2.0: f"{x} * {x}", -1.0: f"1.0 / {x}",
                0.5: w.template(ELEMENTWISE["sqrt"]).format(x)}.get(
            p, w.template(POW).format(x, number(p)))
        return w.emit(code)
    return w.emit(w.template(ELEMENTWISE[node.name]).format(x))


@code_rule.register(MatFunc)
def _node_matfunc(node: Any, args: list[str], w: CodeWriter) -> str:
    return w.emit(w.template(MATRIX[node.name]).format(w.array(args[0])))


@code_rule.register(AxisFunc)
def _node_axisfunc(node: Any, args: list[str], w: CodeWriter) -> str:
    """The row's template, line by line (``{peak}``: the max-shift, emitted once; the table's
    lines handle axes without entries and rows of infinities, silently)."""
    axes = tuple(node.axes)
    x = w.array(args[0])
    template = w.template(AXIS[node.name])
    texts = template.split("\n")
    fields: dict[str, Any] = {"x": x, "axis": repr(axes), "peak": "", "prev": "", "lines": []}
    if "{peak}" in template:
        for line in _peak_source(w).split("\n"):
            fields["prev"] = w.emit(line.format(**fields))
        fields["peak"] = fields["prev"]
    for line in texts:
        fields["prev"] = w.emit(line.format(**fields))
        fields["lines"].append(fields["prev"])
    return fields["prev"]


def _peak_source(w: CodeWriter) -> str:
    """The max-shift's lines from the table, in the backend's namespace."""
    if not w.backend.array_api:
        return table.NUMPY_PEAK
    return re.sub(r"\bxp\.", w.ns + ".", table.ARRAY_API_PEAK)


def _index_text(w: CodeWriter, index: tuple, shape: Sequence[Any]) -> tuple[str, list[int]]:
    """``index`` as source for the backend, and the axes of the result to flip (torch has no
    backward slices: such a slice is read forwards and flipped). The array-API standard wants
    every axis indexed: an ``...`` closes a shorter index."""
    items, flips, ax, out_ax = [], [], 0, 0
    for it in index:
        if isinstance(it, slice) and not w.backend.negative_steps and not isinstance(shape[ax], str):
            r = range(*it.indices(int(shape[ax])))
            if r.step < 0:
                it = slice(r[-1], r[0] + 1, -r.step) if len(r) else slice(0, 0)
                flips.append(out_ax)
        items.append(it)
        ax += it is not None
        out_ax += not isinstance(it, int) or isinstance(it, bool)
    text = item_text(tuple(items))
    if w.backend.array_api and ax < len(shape):
        text = "..." if not items else text + ", ..."
    return text, flips


def _flip(w: CodeWriter, value: str, axes: list[int]) -> str:
    return w.emit(f"{w.ns}.flip({value}, axis={tuple(axes)!r})") if axes else value


@code_rule.register(Index)
def _node_index(node: Any, args: list[str], w: CodeWriter) -> str:
    x = w.array(args[0])
    text, flips = _index_text(w, node.index, node.children[0].shape)
    return _flip(w, w.emit(f"{x}[{text}]"), flips)


@code_rule.register(IndexAdjoint)
def _node_indexadjoint(node: Any, args: list[str], w: CodeWriter) -> str:
    g = args[0]
    full = w.shape_text(node.full_shape)
    if not w.backend.array_api:
        g = w.array(g)
        out = w.emit(f"np.zeros({full}, dtype=np.result_type({g}))")
        w.lines.append(f"{out}[{item_text(node.index)}] = {g}")
        return out
    # written without the new axes (``None``) of the index: g loses them first
    kept = tuple(it for it in node.index if it is not None)
    if len(kept) != len(node.index) and g not in w.scalars:
        new_axes, out_ax = [], 0
        for it in node.index:
            if it is None:
                new_axes.append(out_ax)
            out_ax += not isinstance(it, int) or isinstance(it, bool)
        g = w.emit(f"{w.ns}.squeeze({g}, axis={tuple(new_axes)!r})")
    text, flips = _index_text(w, kept, node.full_shape)
    if g not in w.scalars:
        g = _flip(w, g, flips)
    zeros = f"{w.ns}.zeros({full}, dtype={w.dtype_of(g)}{w.device(g)})"
    if not w.backend.inplace:  # immutable arrays (JAX)
        return w.emit(f"{zeros}.at[{text}].set({g})")
    out = w.emit(zeros)
    w.lines.append(f"{out}[{text}] = {g}")
    return out


@code_rule.register(Stack)
def _node_stack(node: Any, args: list[str], w: CodeWriter) -> str:
    items = ", ".join(w.array(a) for a in args)
    return w.emit(f"{w.ns}.stack([{items}], axis={node.axis})")


@code_rule.register(Einsum)
def _node_einsum(node: Einsum, args: list[str], w: CodeWriter) -> str:
    return einsum_source(node, args, w)


def to_source(expr: Expr, backend: str = "numpy", name: str = "f",
              sizes: dict[str, int] | None = None) -> str:
    """Source of one self-contained function computing ``expr`` with one array library.

    ``backend``: ``"numpy"``, ``"torch"`` (the array-API namespace of ``array_api_compat``
    for functions; runs under ``torch.compile(fullgraph=True)``), ``"jax"`` (``jax.numpy``;
    no writes into arrays, runs under ``jax.jit``) or ``"array_api"`` (any library following
    the array-API standard: the namespace comes from the inputs, ``x.__array_namespace__()``,
    and einsums are lowered to ``permute_dims``/``reshape``/``@``/``sum``).

    Its parameters are the variables (sorted by name), then keyword-only the named sizes no
    variable carries. Every einsum runs as pairwise steps in the order ``tc.contract_path``
    chooses for the sizes in ``sizes`` (named dimensions without a size count as 64).
    Numbers are weak: float32 inputs give float32 results.

    >>> from tensorcalc.ir import var, einsum
    >>> A, B = var("A", ("m", "n")), var("B", ("m", "n"))
    >>> print(to_source(einsum("ij,ij->i", A, B), backend="array_api"), end="")
    def f(A, B):
        xp = A.__array_namespace__()
        t1 = A * B
        return xp.sum(t1, axis=(1,))
    >>> to_source(A, backend="cupy:0")
    Traceback (most recent call last):
    ...
    tensorcalc.errors.TensorcalcError: unknown backend 'cupy:0'; use one of ['array_api', 'cupy', 'dask', 'jax', 'numpy', 'torch']
    """
    row = source_backend(backend)
    spelling = row.source
    if not isinstance(expr, Expr):
        raise TypeError(f"to_source expects an expression, got {type(expr).__name__}")
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise TensorcalcError(f"function name {name!r} is not a Python identifier")
    writer = CodeWriter(simplified(expr), dict(sizes or {}), row)
    result = writer.run()
    body = list(writer.lines)
    extra_params = [ident for d, ident in writer.dim_names.items() if d not in writer.dim_source]
    if spelling.from_inputs and not writer.params:
        extra_params.insert(0, "xp")  # nothing to read the namespace from: the caller names it
    head = writer.head()
    if body and body[-1].startswith(f"{result} = "):
        body[-1] = "return " + body[-1][len(result) + 3:]
    else:
        body.append(f"return {result}")
    params = writer.params + (["*"] + extra_params if extra_params else [])
    lines = list(spelling.imports) + (["", ""] if spelling.imports else [])
    lines.append(f"def {name}({', '.join(params)}):")
    lines += ["    " + line for line in head + body]
    return "\n".join(lines) + "\n"


def to_numpy(expr: Expr, name: str = "f", sizes: dict[str, int] | None = None) -> str:
    """Source of one self-contained function computing ``expr`` with numpy only
    (``to_source(expr, backend="numpy")``).

    Its parameters are the variables (sorted by name). Every einsum runs as pairwise
    ``np.einsum``/``@`` steps in the order ``tc.contract_path`` chooses for the sizes in
    ``sizes`` (named dimensions without a size count as 64); extended einsums (diagonal
    embedding, broadcast) are written with ``np.zeros`` and diagonal views.

    >>> from tensorcalc.ir import var, einsum
    >>> print(to_numpy(einsum("ij,j->i", var("A", ("m", "n")), var("x", ("n",)))), end="")
    import numpy as np
    <BLANKLINE>
    <BLANKLINE>
    def f(A, x):
        return A @ x
    """
    if not isinstance(expr, Expr):
        raise TypeError(f"to_numpy expects an expression, got {type(expr).__name__}")
    return to_source(expr, "numpy", name, sizes)
