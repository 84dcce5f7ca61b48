"""One row per primitive: everything every layer needs to know about a function.

A row holds the numpy implementation, the derivative (an IR builder), the numpy source
template of generated code, the LaTeX and Unicode symbols, what an explanation prints for
the derivative, and the names index-notation text may use. The builders (``tc.exp``...), the
VJP rule, the code generator, the printers, the explanations and the parser all read these
rows; adding an elementwise function is one row here plus its tests (``tests/ops`` checks
every row against finite differences and against the code it generates).

The ``array_api`` column is the same function for any array library (torch, JAX, CuPy,
dask, array-API libraries), as *source*: a template with ``code``'s placeholders in which
``xp`` names the library's array-API namespace (``array_api_compat.array_namespace``) and
only array-API functions are called (no ``np.``, no methods but ``.dtype``; numbers are
spelled ``xp.zeros_like(x)`` where the standard wants arrays). Elementwise and ``MATRIX``
rows: ``"{}"`` or ``"{0}"`` (repeatable) is the argument; ``POW``: ``"{} ** {}"`` (argument,
exponent). ``AXIS`` rows: one expression per line, with ``{x}`` the argument, ``{axis}`` the
tuple of axes, ``{prev}`` the value of the line before, ``{lines[i]}`` the value of line ``i``
and ``{peak}`` the max-shift, whose own lines are :data:`ARRAY_API_PEAK` (numpy:
:data:`NUMPY_PEAK`; 0 where the maximum is not finite or the axes have no entries). The
templates run without warnings on empty axes and on rows of infinities or NaN, and give
what the numpy functions give there.
The evaluator builds its callables from this column once (:func:`array_api_function`,
:func:`array_api_axis_function`), and generated code prints it, so both share one spelling.

>>> ELEMENTWISE["exp"].array_api.format("x")
'xp.exp(x)'
>>> ARRAY_API_PEAK.splitlines()[2].format(prev="m")
'xp.where(xp.isfinite(m), m, xp.zeros_like(m))'

``derivative(f, node, x, y)`` returns ``f'(x)`` as an expression, given the builders ``f``
(:mod:`tensorcalc.ops.functions`, passed in because they are made from these rows), the
node, its input ``x`` and its value ``y``; ``None`` is a derivative that is zero almost
everywhere.

>>> ELEMENTWISE["sigmoid"].unicode
'σ'
>>> ELEMENTWISE["sigmoid"].code.format("x")  # stable for real input, and takes complex
'np.exp(-np.logaddexp(0.0, -x)) if not np.iscomplexobj(x) else 1.0 / (1.0 + np.exp(-x))'
>>> sorted(name for name, row in ELEMENTWISE.items() if "log" in name)
['log', 'log1p']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

Derivative = Callable[[Any, Any, Any, Any], Any]


@dataclass(frozen=True)
class Primitive:
    """The facts of one function (see the module docstring)."""

    name: str                        # builder, node and default parser name
    numpy: Callable[..., Any]        # numpy implementation
    derivative: Derivative | None    # f'(x) from (builders, node, x, y); None: zero a.e.
    code: str                        # numpy source, "{}" (or "{0}", repeatable) is the argument
    latex: str = ""                  # LaTeX head; "" writes \operatorname{name}
    unicode: str = ""                # Unicode head; "" writes the name
    prime: str = ""                  # f' in explanations ("σ'"); "" writes name'
    legend: str = ""                 # the line explaining f' under a derivation
    parser: tuple[str, ...] = ()     # extra names accepted in index notation
    reduces: bool = False            # (``AXIS`` rows) the result drops the axes acted on
    array_api: str = ""              # array-API source: ``code``'s placeholders, ``xp.`` names

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.parser)


def _real_or_complex(real: Callable[[np.ndarray], np.ndarray],
                     complex_: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    # logaddexp, the stable form, has no complex loop
    return lambda x: complex_(x) if np.iscomplexobj(x) else real(x)


# the array-API test for complex input, "{0}" the argument (see the module docstring)
_COMPLEX = "xp.isdtype({0}.dtype, 'complex floating')"


def _rows(*rows: Primitive) -> dict[str, Primitive]:
    return {row.name: row for row in rows}


ELEMENTWISE: dict[str, Primitive] = _rows(
    Primitive("exp", np.exp, lambda f, n, x, y: y, "np.exp({})", r"\exp", prime="exp",
              array_api="xp.exp({})"),
    Primitive("log", np.log, lambda f, n, x, y: f.power(x, -1.0), "np.log({})", r"\log",
              legend="log'(z) = 1/z", array_api="xp.log({})"),
    Primitive("log1p", np.log1p, lambda f, n, x, y: f.power(1.0 + x, -1.0), "np.log1p({})",
              legend="log1p'(z) = 1 / (1 + z)", array_api="xp.log1p({})"),
    Primitive("sin", np.sin, lambda f, n, x, y: f.cos(x), "np.sin({})", r"\sin", prime="cos",
              array_api="xp.sin({})"),
    Primitive("cos", np.cos, lambda f, n, x, y: -f.sin(x), "np.cos({})", r"\cos",
              legend="cos'(z) = -sin(z)", array_api="xp.cos({})"),
    Primitive("tan", np.tan, lambda f, n, x, y: 1.0 + f.power(y, 2.0), "np.tan({})", r"\tan",
              legend="tan'(z) = 1 + tan²(z)", array_api="xp.tan({})"),
    Primitive("tanh", np.tanh, lambda f, n, x, y: 1.0 - f.power(y, 2.0), "np.tanh({})", r"\tanh",
              legend="tanh'(z) = 1 - tanh²(z)", array_api="xp.tanh({})"),
    # exp(-log(1 + exp(-x))): no overflow for large |x|, and the same formulas (real and
    # complex) in generated code
    Primitive("sigmoid",
              _real_or_complex(lambda x: np.exp(-np.logaddexp(0.0, -x)),
                               lambda x: 1.0 / (1.0 + np.exp(-x))),
              lambda f, n, x, y: y * (1.0 - y),
              "np.exp(-np.logaddexp(0.0, -{0})) if not np.iscomplexobj({0}) "
              "else 1.0 / (1.0 + np.exp(-{0}))", r"\sigma",
              "σ", "σ'", "σ'(z) = σ(z) (1 - σ(z))",
              array_api="xp.exp(-xp.logaddexp(xp.zeros_like({0}), -{0})) if not "
                        f"{_COMPLEX} else 1.0 / (1.0 + xp.exp(-{{0}}))"),
    Primitive("relu", lambda x: np.maximum(x, 0), lambda f, n, x, y: f.heaviside(x),
              "np.maximum({}, 0.0)", legend="relu'(z) = 1 if z > 0 else 0",
              array_api="xp.maximum({0}, xp.zeros_like({0}))"),
    Primitive("softplus",
              _real_or_complex(lambda x: np.logaddexp(0.0, x), lambda x: np.log1p(np.exp(x))),
              lambda f, n, x, y: f.sigmoid(x),
              "np.logaddexp(0.0, {0}) if not np.iscomplexobj({0}) else np.log1p(np.exp({0}))",
              prime="σ",
              legend="softplus' = σ (the logistic sigmoid)",
              array_api="xp.logaddexp(xp.zeros_like({0}), {0}) if not "
                        f"{_COMPLEX} else xp.log1p(xp.exp({{0}}))"),
    Primitive("sqrt", np.sqrt, lambda f, n, x, y: 0.5 * f.power(y, -1.0), "np.sqrt({})",
              legend="sqrt'(z) = 1 / (2 sqrt(z))", array_api="xp.sqrt({})"),
    Primitive("abs", np.abs, lambda f, n, x, y: f.sign(x), "np.abs({})", prime="sign",
              array_api="xp.abs({})"),
    Primitive("sign", np.sign, None, "np.sign({})", array_api="xp.sign({})"),
    Primitive("heaviside", lambda x: (x > 0).astype(x.dtype), None, "np.heaviside({}, 0.0)",
              array_api="xp.astype({0} > 0, {0}.dtype)"),
)

# ``x ** p`` for a number ``p`` (the node's ``param``); its code is written by the generator
# (x * x, 1.0 / x, np.sqrt(x) for the common exponents).
POW = Primitive("pow", np.power, lambda f, n, x, y: n.param * f.power(x, n.param - 1.0),
                "{} ** {}", array_api="{} ** {}")


def power_numpy(x: np.ndarray, p: float) -> np.ndarray:
    """``x ** p`` the way generated code writes it (exact for the common exponents): numpy's
    case of :func:`power_array_api`."""
    return power_array_api(np, x, p)


# Matrix functions of the last two axes (leading axes batch); derivatives in the VJP rules.
MATRIX: dict[str, Primitive] = _rows(
    Primitive("inv", np.linalg.inv, None, "np.linalg.inv({})", array_api="xp.linalg.inv({})"),
    Primitive("det", lambda x: np.asarray(np.linalg.det(x)), None, "np.linalg.det({})", r"\det",
              array_api="xp.linalg.det({})"),
    Primitive("logdet", lambda x: np.asarray(np.linalg.slogdet(x)[1]), None,
              "np.linalg.slogdet({})[1]", array_api="xp.linalg.slogdet({})[1]"),
)


# ---------------------------------------------------------------------------------------
# Functions along axes: ``numpy(x, axes)`` acts on the axes ``axes`` (a tuple of ints) of
# ``x``, the other axes batch; ``norm2`` and ``normalize`` act on every axis. Their nodes are
# ``AxisFunc`` (``LogSumExp`` for logsumexp) and their VJPs are in the derivative rules.
# ``code`` is one or more lines of numpy source: ``{x}`` is the argument, ``{axis}`` the
# axes, ``{peak}`` the max-shift (:data:`NUMPY_PEAK`: the largest real part, 0 where it is not
# finite), ``{prev}`` the value of the line before and ``{lines[i]}`` that of line ``i``.
# The numpy functions and the templates give NaN silently where the value is 0 / 0 or
# inf / inf (softmax of a row of -inf, an entry +inf); logsumexp of a row of -inf is -inf.


def _peak(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    peak = np.max(x.real, axis=axes, keepdims=True)
    return np.where(np.isfinite(peak), peak, 0.0).astype(x.real.dtype)


def _float(x: Any) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float64) if x.dtype.kind in "biu" else x


def _axes_of(x: np.ndarray, axis: Any) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(x.ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(sorted(int(a) % max(x.ndim, 1) for a in items))


def logsumexp_numpy(x: Any, axis: Any = None) -> Any:
    """``log(sum(exp(x), axis))`` computed stably (the largest real part factored out)."""
    x = _float(x)
    if x.size == 0:
        with np.errstate(divide="ignore"):
            return np.log(np.sum(np.exp(x), axis=axis))
    axes = _axes_of(x, axis)
    peak = _peak(x, axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(np.sum(np.exp(x - peak), axis=axes, keepdims=True)) + peak
    return out.reshape(())[()] if axis is None else np.squeeze(out, axis=axes)


def softmax_numpy(x: Any, axis: Any = -1) -> np.ndarray:
    """``exp(x - logsumexp(x, axis))`` along ``axis`` (the largest real part factored out)."""
    x = _float(x)
    if x.size == 0:
        return np.exp(x)
    axes = _axes_of(x, axis)
    e = np.exp(x - _peak(x, axes))
    with np.errstate(invalid="ignore"):  # 0 / 0 (a row of -inf), inf / inf (+inf): NaN
        return e / np.sum(e, axis=axes, keepdims=True)


def log_softmax_numpy(x: Any, axis: Any = -1) -> np.ndarray:
    """``x - logsumexp(x, axis)`` along ``axis``: finite wherever ``x`` is, even where the
    softmax underflows to 0 (``log(softmax(x))`` would be ``-inf`` there)."""
    x = _float(x)
    if x.size == 0:
        return x.copy()
    axes = _axes_of(x, axis)
    shifted = x - _peak(x, axes)
    with np.errstate(divide="ignore", invalid="ignore"):  # -inf - -inf, inf - inf: NaN
        return shifted - np.log(np.sum(np.exp(shifted), axis=axes, keepdims=True))


def norm2_numpy(x: Any, axis: Any = None) -> np.ndarray:
    """``sqrt(sum(x * x))`` over every entry (for complex ``x`` the holomorphic
    ``sqrt(sum(x²))`` of expressions, not ``|x|``)."""
    x = _float(x)
    return np.asarray(np.sqrt(np.sum(x * x)))


def normalize_numpy(x: Any, axis: Any = None) -> np.ndarray:
    """``x / norm2(x)``, and 0 where ``x`` is 0 (the subgradient of the norm there)."""
    x = _float(x)
    n = norm2_numpy(x)
    with np.errstate(invalid="ignore"):  # inf / inf: NaN
        return x / (n if n != 0 else np.ones((), n.dtype))


AXIS: dict[str, Primitive] = _rows(
    # Each template is silent and exact on rows of infinities: a row of -inf has a sum of 0
    # (its log is taken of 1 and replaced, 0 / 0 and -inf - -inf are spelled as NaN), a row
    # holding +inf has an infinite sum (its +inf entries are NaN, as inf / inf and inf - inf
    # give, the others 0 or -inf). Numpy-backed libraries would warn on each of these, and
    # dask runs the template lazily, outside any errstate.
    Primitive("softmax", softmax_numpy, None,
              "np.exp({x} - {peak})\nnp.sum({prev}, axis={axis}, keepdims=True)\n"
              "np.where(np.isinf({lines[0]}), np.nan, {lines[0]}) / np.where({prev} == 0, np.nan, {prev})",
              r"\operatorname{softmax}", "softmax",
              legend="∂softmax(z)_i/∂z_k = softmax(z)_i (δ_ik - softmax(z)_k)",
              array_api="xp.exp({x} - {peak})\nxp.sum({prev}, axis={axis}, keepdims=True)\n"
                        "xp.where(xp.isinf({lines[0]}), xp.full_like({prev}, xp.nan), {lines[0]}) / "
                        "xp.where({prev} == 0, xp.full_like({prev}, xp.nan), {prev})"),
    Primitive("log_softmax", log_softmax_numpy, None,
              "{x} - {peak}\nnp.sum(np.exp({prev}), axis={axis}, keepdims=True)\n"
              "np.where({lines[0]} == np.inf, np.nan, {lines[0]}) - "
              "np.log(np.where({prev} == 0, np.nan, {prev}))",
              r"\log\operatorname{softmax}",
              legend="∂log_softmax(z)_i/∂z_k = δ_ik - softmax(z)_k",
              parser=("logsoftmax",),
              array_api="{x} - {peak}\nxp.sum(xp.exp({prev}), axis={axis}, keepdims=True)\n"
                        "xp.where({lines[0]} == xp.inf, xp.full_like({prev}, xp.nan), {lines[0]}) - "
                        "xp.log(xp.where({prev} == 0, xp.full_like({prev}, xp.nan), {prev}))"),
    Primitive("logsumexp", logsumexp_numpy, None,
              "np.sum(np.exp({x} - {peak}), axis={axis})\n"
              "np.where({prev} == 0, -np.inf, np.log(np.where({prev} == 0, 1, {prev})) + "
              "np.squeeze({peak}, axis={axis}))",
              prime="softmax", legend="∂logsumexp(z)/∂z_k = softmax(z)_k", reduces=True,
              array_api="xp.sum(xp.exp({x} - {peak}), axis={axis})\n"
                        "xp.where({prev} == 0, xp.full_like({prev}, -xp.inf), "
                        "xp.log(xp.where({prev} == 0, xp.ones_like({prev}), {prev})) + "
                        "xp.squeeze({peak}, axis={axis}))"),
    Primitive("norm2", norm2_numpy, None, "np.sqrt(np.sum({x} * {x}))", r"\lVert", "‖",
              legend="∂‖z‖/∂z_k = z_k / ‖z‖ (0 at z = 0)", reduces=True,
              array_api="xp.sqrt(xp.sum({x} * {x}))"),
    Primitive("normalize", normalize_numpy, None,
              "np.sqrt(np.sum({x} * {x}))\n"
              "np.where(np.isinf({x}), np.nan, {x}) / np.where({prev} == 0, 1, {prev})",
              legend="∂(z/‖z‖)_i/∂z_k = (δ_ik - z_i z_k / ‖z‖²) / ‖z‖",
              array_api="xp.sqrt(xp.sum({x} * {x}))\n"
                        "xp.where(xp.isinf({x}), xp.full_like({prev}, xp.nan), {x}) / "
                        "xp.where({prev} == 0, xp.ones_like({prev}), {prev})"),
)


# The max-shift ``{peak}`` of the ``array_api`` templates of ``AXIS`` rows, one expression per
# line (``{prev}`` the line before): the largest real part, 0 where it is not finite or where
# the axes have no entries (the standard's ``max`` has no ``initial``: it fails there).
ARRAY_API_PEAK = (
    f"xp.real({{x}}) if {_COMPLEX.format('{x}')} else {{x}}\n"
    "xp.max({prev}, axis={axis}, keepdims=True) if all({x}.shape[a] for a in {axis}) "
    "else xp.sum({prev}, axis={axis}, keepdims=True)\n"
    "xp.where(xp.isfinite({prev}), {prev}, xp.zeros_like({prev}))")

# The same for the numpy ``code`` templates (``initial``: no entries give -inf, then 0).
NUMPY_PEAK = ("np.max({x}.real, axis={axis}, keepdims=True, initial=-np.inf)\n"
              "np.where(np.isfinite({prev}), {prev}, 0.0)")


def _source_function(params: str, body: str) -> Callable[..., Any]:
    # the template is the function: evaluation runs exactly what generated code prints
    return eval(f"lambda {params}: {body}", {})  # noqa: S307 - source from this table only


def array_api_function(row: Primitive) -> Callable[[Any, Any], Any]:
    """``f(xp, x)`` from an elementwise or ``MATRIX`` row's ``array_api`` template.

    >>> import array_api_compat.numpy as xp, numpy as np
    >>> array_api_function(ELEMENTWISE["sigmoid"])(xp, np.array([-800.0, 0.0]))
    array([0. , 0.5])
    """
    return _source_function("xp, x", row.array_api.format("x"))


def power_array_api(xp: Any, x: Any, p: float) -> Any:
    """``x ** p`` the way generated code writes it, for any array-API namespace (numpy
    included): ``x * x``, ``1 / x`` and ``sqrt`` for the common exponents, exact and fast.

    >>> import numpy as np
    >>> power_array_api(np, np.array([4.0, 9.0], np.float32), 0.5)
    array([2., 3.], dtype=float32)
    """
    if p == 2:
        return x * x
    if p == -1:
        return 1.0 / x
    if p == 0.5:
        return xp.sqrt(x)
    return x ** p


def _over_no_entries(row: Primitive) -> float | complex:
    """A reducing row's value over no entries, from its numpy function (logsumexp: -inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = complex(row.numpy(np.zeros(0), (0,)))
    return value.real if value.imag == 0 else value


def array_api_axis_function(row: Primitive) -> Callable[[Any, Any, tuple[int, ...]], Any]:
    """``f(xp, x, axes)`` from an ``AXIS`` row's ``array_api`` template (its lines run in
    order, ``{peak}`` from :data:`ARRAY_API_PEAK`).

    A zero-size ``x`` never reaches the template: the result is empty, or for a row that
    ``reduces`` over a zero-size axis its numpy function's value over no entries
    (logsumexp: -inf), written directly. The template would take ``log(0)`` there, which
    warns on numpy-backed namespaces, and dask runs it lazily, outside the caller's errstate
    (dask's max of a zero-size array even comes out with a wrong shape).

    >>> import array_api_compat.numpy as xp, numpy as np
    >>> array_api_axis_function(AXIS["logsumexp"])(xp, np.array([[1000.0, 1000.0]]), (1,))
    array([1000.69314718])
    >>> array_api_axis_function(AXIS["logsumexp"])(xp, np.zeros((0, 2)), (0,))
    array([-inf, -inf])
    """
    params = "xp, x, axis, peak, prev, lines"
    texts = row.array_api.split("\n")
    names = dict(x="x", axis="axis", peak="peak", prev="prev",
                 lines=[f"lines[{i}]" for i in range(len(texts))])
    lines = [_source_function(params, line.format(**names)) for line in texts]
    peak_lines = [_source_function(params, line.format(**names))
                  for line in ARRAY_API_PEAK.split("\n")] if "{peak}" in row.array_api else []
    empty = _over_no_entries(row) if row.reduces else None

    def run(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
        axes = tuple(axes)
        if xp.isdtype(x.dtype, ("integral", "bool")):
            x = xp.astype(x, xp.float64)
        if any(n == 0 for n in x.shape):  # no entries: no max to shift by, no log to take
            if empty is None:
                return xp.zeros_like(x)
            return xp.full_like(xp.sum(x, axis=axes), empty)  # the sum: shape, dtype, device
        peak = prev = None
        for line in peak_lines:
            peak = prev = line(xp, x, axes, None, prev, [])
        values: list[Any] = []
        for line in lines:
            prev = line(xp, x, axes, peak, prev, values)
            values.append(prev)
        return prev

    return run


# Index-notation names of the other builders, by what they do to their argument's labels.
REDUCE_TO_SCALAR = ("sum", "mean", "norm2", "logsumexp")
SQUARE_TO_SCALAR = {"tr": "trace", "trace": "trace", "det": "det", "logdet": "logdet"}
SQUARE_TO_SQUARE = ("inv",)
SQUARE_TO_VECTOR = ("diag",)
KEEP_LABELS = ("softmax", "log_softmax", "normalize")


def parser_names() -> dict[str, str]:
    """Every function name index-notation text may call, mapped to its builder's name."""
    names = {alias: row.name for row in ELEMENTWISE.values() for alias in row.names}
    names.update({n: n for n in REDUCE_TO_SCALAR + SQUARE_TO_SQUARE + SQUARE_TO_VECTOR + KEEP_LABELS})
    names.update({alias: row.name for row in AXIS.values() for alias in row.parser})
    names.update(SQUARE_TO_SCALAR)
    return names
