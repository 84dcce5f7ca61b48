"""to_source: one self-contained function per backend (numpy, torch, JAX, array API), which
computes what ``evaluate`` computes on numpy.

Every case runs on every backend in float64 and float32 (JAX under ``jax.jit``, float32 only
in the bulk cases: each is a compilation): the same shape, the inputs' precision (float32 in,
float32 out: numbers are weak) and the same values. The cases are the to_numpy
cases (tests/display/test_codegen.py), derivatives of the seed examples (gradients, Hessians,
HVPs, Jacobians of least squares, logistic regression, softmax cross-entropy, a tanh layer,
norms), and every row of the primitives' table (complex too where the row takes complex).
The array-API backend runs on ``array_api_strict`` arrays, so a call outside the standard
fails. A backend whose library is missing is skipped with the reason.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Callable

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.ir import variables
from tensorcalc.ops.table import AXIS, ELEMENTWISE, MATRIX
from tests.display.test_codegen import CASES as TO_NUMPY_CASES
from tests.ops.test_table import COMPLEX_POINTS, COMPLEX_ROWS, DOMAINS, EXPONENTS, MATRICES

BACKENDS = ("numpy", "torch", "jax", "array_api")
# the libraries each backend's source (or its test) needs
NEEDS = {"numpy": ("numpy",), "torch": ("torch", "array_api_compat"), "jax": ("jax",),
         "array_api": ("array_api_strict",)}


def library(backend: str) -> None:
    for module in NEEDS[backend]:
        pytest.importorskip(module, reason=f"backend {backend!r} needs {module}")
    if backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 cases stay float64


def to_backend(a: np.ndarray, backend: str) -> Any:
    if backend == "torch":
        return importlib.import_module("torch").from_numpy(np.array(a, order="C"))  # 0-d stays 0-d
    if backend == "jax":
        return importlib.import_module("jax.numpy").asarray(a)
    if backend == "array_api":
        return importlib.import_module("array_api_strict").asarray(a)
    return a


def to_numpy(value: Any, backend: str) -> np.ndarray:
    return value.numpy() if backend == "torch" else np.asarray(value)


def load(source: str, name: str = "f") -> Callable[..., Any]:
    namespace: dict = {}
    exec(compile(source, "<to_source>", "exec"), namespace)
    return namespace[name]


def run(expr: tc.Expr, backend: str, arrays: dict[str, np.ndarray], **dims: int) -> np.ndarray:
    """Generate, check self-contained, execute on the backend's arrays, return as numpy."""
    library(backend)
    source = tc.to_source(expr, backend=backend)
    assert "tensorcalc" not in source
    imports = [line for line in source.splitlines() if "import" in line and "__array_namespace__" not in line]
    assert imports == list(tc.backends.BACKENDS[backend].source.imports), source
    params = [v.name for v in variables(expr)]
    if "xp" in keyword_params(source):  # no input to read the namespace from
        dims = dict(dims, xp=importlib.import_module("array_api_strict"))
    fn = load(source)
    if backend == "jax":  # jitted: one compilation instead of one per operation, and it must trace
        import jax

        fn = jax.jit(fn, static_argnames=tuple(dims))
    out = fn(*[to_backend(arrays[p], backend) for p in params], **dims)
    return to_numpy(out, backend)


def keyword_params(source: str) -> list[str]:
    """The keyword-only parameters of the generated function (named sizes no input has)."""
    params = re.search(r"def f\((.*)\):", source).group(1).split(", ")
    return params[params.index("*") + 1:] if "*" in params else []


def expected_dtype(arrays: dict[str, np.ndarray], result: np.ndarray, backend: str) -> np.dtype:
    """float32 in, float32 out (complex64 for a complex result); without inputs, the
    library's default float (torch's is float32)."""
    if not arrays:
        default = importlib.import_module("torch").get_default_dtype() if backend == "torch" else None
        return np.dtype(str(default).removeprefix("torch.")) if default else np.dtype(np.float64)
    real = np.finfo(np.result_type(*arrays.values())).dtype  # the inputs' precision
    return np.result_type(real, np.complex64) if result.dtype.kind == "c" else real


def check(expr: tc.Expr, backend: str, arrays: dict[str, np.ndarray], **dims: int) -> None:
    used = {v.name: arrays[v.name] for v in variables(expr)}
    expected = np.asarray(tc.evaluate(expr, used))
    got = run(expr, backend, used, **dims)
    assert got.shape == expected.shape
    assert got.dtype == expected_dtype(used, expected, backend)
    single = any(a.dtype in (np.float32, np.complex64) for a in used.values())
    tol = dict(rtol=2e-4, atol=2e-4) if single else dict(rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(got, expected, **tol)


def with_dtype(arrays: dict[str, np.ndarray], dtype: Any) -> dict[str, np.ndarray]:
    return {k: np.asarray(v).astype(dtype) for k, v in arrays.items()}


# ------------------------------------------------------------------------ the to_numpy cases

@pytest.fixture
def codegen_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    m, n, p = 5, 4, 3
    return {"A": rng.normal(size=(m, n)), "B": rng.normal(size=(n, p)), "x": rng.normal(size=n),
            "b": rng.normal(size=m), "X": rng.normal(size=(n, n)) + 4 * np.eye(n),
            "W": rng.normal(size=(m, n)), "T": rng.normal(size=(2, 3, 4))}


# (backend, dtype): JAX compiles each function (~0.15 s): float32 only in the bulk cases, its
# float64 runs in the table rows and in tests/display/test_to_source_compile.py
BACKEND_DTYPES = [(b, d) for b in BACKENDS for d in (np.float64, np.float32)
                  if not (b == "jax" and d == np.float64)]
BACKEND_DTYPE_IDS = [f"{b}-{np.dtype(d).name}" for b, d in BACKEND_DTYPES]


@pytest.mark.parametrize("backend,dtype", BACKEND_DTYPES, ids=BACKEND_DTYPE_IDS)
@pytest.mark.parametrize("name", sorted(TO_NUMPY_CASES))
def test_to_numpy_cases_on_every_backend(name: str, backend: str, dtype: Any, codegen_arrays) -> None:
    arrays = dict(codegen_arrays)
    if name == "tensor3":
        arrays["B"] = np.random.default_rng(1).normal(size=(4, 2))
    if name == "pow":
        arrays["x"] = np.abs(arrays["x"]) + 0.5
    if name == "sqrt-abs":
        arrays["x"] = arrays["x"] + 0.1
    expr = TO_NUMPY_CASES[name]()
    dims = {d: {"m": 5, "n": 4}[d] for d in keyword_params(tc.to_source(expr))}
    check(expr, backend, with_dtype(arrays, dtype), **dims)


# ------------------------------------------------------------------------ derivatives

def _seed_cases() -> dict[str, Callable[[], tc.Expr]]:
    X, w, y, v = tc.var("X", ("n", "d")), tc.var("w", ("d",)), tc.var("y", ("n",)), tc.var("v", ("d",))
    W, Y = tc.var("W", ("k", "d")), tc.var("Y", ("n", "k"))
    A, x, S = tc.var("A", ("m", "d")), tc.var("x", ("d",)), tc.var("S", ("d", "d"))
    z = X @ w
    least_squares = tc.sum((z - y) ** 2)
    logistic = tc.sum(tc.softplus(z) - y * z)
    xent = -tc.sum(Y * tc.log_softmax(X @ W.T, axis=1))
    return {
        "least-squares-grad": lambda: tc.grad(least_squares, w),
        "least-squares-hessian": lambda: tc.hessian(least_squares, w),
        "logistic-grad": lambda: tc.grad(logistic, w),
        "logistic-hessian": lambda: tc.hessian(logistic, w),
        "logistic-hvp": lambda: tc.hvp(logistic, w, v),
        "logistic-hvp-forward": lambda: tc.hvp(logistic, w, v, mode="forward"),
        "softmax-xent-grad": lambda: tc.grad(xent, W),
        "tanh-layer-jacobian": lambda: tc.jacobian(tc.tanh(A @ x), x),
        "tanh-layer-jacfwd": lambda: tc.jacfwd(tc.tanh(A @ x), x),
        "sigmoid-hessian": lambda: tc.hessian(tc.sum(tc.sigmoid(A @ x)), x),
        "norm-hessian": lambda: tc.hessian(tc.norm2(x), x),
        "normalize-jacobian": lambda: tc.jacobian(tc.normalize(x), x),
        "logsumexp-hessian": lambda: tc.hessian(tc.logsumexp(x), x),
        "logdet-grad": lambda: tc.grad(tc.logdet(S), S),
        "inv-quadratic-grad": lambda: tc.grad(x @ tc.inv(S) @ x, S),
        "identity-jacobian": lambda: tc.jacobian(2.0 * x, x),     # numbers only: weak dtype
        "plus-one": lambda: x + 1.0,                              # a broadcast number
        "trace-grad": lambda: tc.grad(tc.trace(S), S),
        "slice-grad": lambda: tc.grad(tc.sum(tc.var("u", (5,))[::-2] * tc.var("u", (5,))[:3]), "u"),
        "stack-jacobian": lambda: tc.jacobian(tc.stack([x[0] * x[1], tc.exp(x[2]), 1.0 + 0 * x[0]]), x),
    }


SEED_CASES = _seed_cases()


@pytest.fixture
def seed_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    n, d, k, m = 7, 3, 4, 5
    S = rng.normal(size=(d, d))
    return {"X": rng.normal(size=(n, d)), "w": rng.normal(size=d), "y": (rng.random(n) > 0.5) * 1.0,
            "v": rng.normal(size=d), "W": rng.normal(size=(k, d)),
            "Y": np.eye(k)[rng.integers(0, k, n)], "A": rng.normal(size=(m, d)),
            "x": rng.normal(size=d), "S": S @ S.T + d * np.eye(d), "u": rng.normal(size=5)}


@pytest.mark.parametrize("backend,dtype", BACKEND_DTYPES, ids=BACKEND_DTYPE_IDS)
@pytest.mark.parametrize("name", sorted(SEED_CASES))
def test_derivatives_on_every_backend(name: str, backend: str, dtype: Any, seed_arrays) -> None:
    check(SEED_CASES[name](), backend, with_dtype(seed_arrays, dtype))


# ------------------------------------------------------------------------ the table's rows

ROW_CASES = ([("elementwise", name) for name in sorted(ELEMENTWISE)]
             + [("pow", p) for p in EXPONENTS]
             + [("matrix", name) for name in sorted(MATRIX)]
             + [("axis", name) for name in sorted(AXIS)])


def row_expr(kind: str, which: Any, x: tc.Expr) -> tc.Expr:
    if kind == "elementwise":
        return getattr(tc, which)(x)
    if kind == "pow":
        return x ** which
    if kind == "matrix":
        return getattr(tc, which)(x)
    if which in ("norm2", "normalize"):
        return getattr(tc, which)(x)
    return getattr(tc, which)(x, axis=1)


def row_point(kind: str, which: Any) -> np.ndarray:
    if kind == "elementwise":
        return np.array(DOMAINS[which])
    if kind == "pow":
        return np.array([0.2, 0.7, 1.0, 1.6, 3.1])
    if kind == "matrix":
        return MATRICES["batched"]
    return np.array([[0.3, -1.2, 2.0, 0.0], [4.0, 4.0, -3.0, 0.5], [-700.0, 1.0, 2.0, 3.0]])


# complex128 where the row's numpy implementation takes complex
ROW_DTYPES = [(kind, which, dtype) for kind, which in ROW_CASES
              for dtype in ((np.float64, np.float32) + (np.complex128,) * (which in COMPLEX_ROWS))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind,which,dtype", ROW_DTYPES,
                         ids=[f"{k}-{w}-{np.dtype(d).name}" for k, w, d in ROW_DTYPES])
def test_every_table_row_on_every_backend(kind: str, which: Any, dtype: Any, backend: str) -> None:
    point = COMPLEX_POINTS if np.dtype(dtype).kind == "c" else row_point(kind, which)
    x = tc.var("x", point.shape)
    check(row_expr(kind, which, x), backend, {"x": point.astype(dtype)})
    # and its derivative (the rows' derivatives are built from other rows)
    if kind != "matrix" and np.dtype(dtype).kind == "f" and which not in ("sign", "heaviside"):
        f = row_expr(kind, which, x)
        check(tc.grad(tc.sum(f * f) if f.ndim else f, x), backend, {"x": point.astype(dtype)})


# ------------------------------------------------------------------------ every einsum

@pytest.mark.parametrize("backend", ["torch", "array_api"])
def test_every_einsum_on_backends(backend: str) -> None:
    """Random einsums (diagonals, sums, scalars, broadcast and diagonal outputs) through the
    pairwise steps: torch.einsum for torch, the lowering to permute_dims/reshape/@/sum for
    the array API."""
    from hypothesis import given
    from hypothesis import strategies as st

    from tensorcalc.contraction import einsum as tc_einsum
    from tests.display.test_codegen import SIZES, einsum_specs
    from tests.helpers import examples

    library(backend)

    @examples(40)
    @given(spec=einsum_specs(), seed=st.integers(0, 2**16))
    def one(spec, seed):
        inputs, output = spec
        rng = np.random.default_rng(seed)
        arrays = {f"v{k}": rng.normal(size=[SIZES[c] for c in labels]) for k, labels in enumerate(inputs)}
        ops = [tc.var(f"v{k}", tuple(SIZES[c] for c in labels)) for k, labels in enumerate(inputs)]
        subscripts = ",".join(inputs) + "->" + output
        sizes = {c: SIZES[c] for c in output if c not in "".join(inputs)} or None
        expected = tc_einsum(subscripts, *arrays.values(), sizes=sizes)
        got = run(tc.einsum(subscripts, *ops, sizes=sizes), backend, arrays)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)

    one()
