"""The table of array backends: one row per library, and how arrays find their row.

A :class:`Backend` row says how to recognise the library's arrays (the root of
``type(x).__module__``, as opt_einsum dispatches), how to make its arrays from numpy arrays
and Python numbers (the *neutral* values, which take the device of the call's arrays and keep
their dtype), how it runs one step of a planned contraction (its own ``einsum``, or
``None``: lowered by hand to ``permute_dims``/``reshape``/``matmul``, see :mod:`.lowering`),
how it writes into part of an array (JAX arrays are immutable), and how generated code
(``tc.to_source``) spells it (:class:`Source`: imports, namespace, einsum, in-place writes,
devices; None for a library with no generated code of its own). Everything else comes from
the library's array-API namespace (``array_api_compat.array_namespace``). Adding a backend is
one row of :data:`BACKENDS`.

The library of a row is imported only when one of its arrays is met or its name is asked
for, so ``import tensorcalc`` never needs torch, JAX, CuPy or dask.

>>> import numpy as np
>>> backend_of([np.ones(2), 3.0]).name
'numpy'
>>> backend_of([np.ones(2)], "array_api").name
'array_api'
>>> sorted(BACKENDS)
['array_api', 'cupy', 'dask', 'jax', 'numpy', 'torch']
>>> BACKENDS["torch"].source.imports
('import torch', 'import array_api_compat.torch as xp')
"""

from __future__ import annotations

import importlib
import numbers
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import array_api_compat
import numpy as np

from ..errors import TensorcalcError

Einsum = Callable[..., Any]
Put = Callable[[Any, tuple, Any], Any]


def _setitem(out: Any, index: tuple, value: Any) -> Any:
    out[index] = value
    return out


def _jax_put(out: Any, index: tuple, value: Any) -> Any:
    return out.at[index].set(value)


def _module_einsum(module: str) -> Callable[[], Einsum]:
    # sys.modules first: torch.compile (dynamo) cannot trace importlib.import_module, and the
    # module is always loaded once one of its arrays has been met
    return lambda: (sys.modules.get(module) or importlib.import_module(module)).einsum


def _torch_compiling() -> bool:
    # True while torch.compile (dynamo) traces the call: sizes may then be symbolic
    return sys.modules["torch"].compiler.is_compiling()


@dataclass(frozen=True)
class Source:
    """How generated code (``tc.to_source``) spells things for one library."""

    imports: tuple[str, ...]  # the import lines at the top of the source
    ns: str                   # the namespace the code calls (the table's ``xp.`` is renamed to it)
    array_api: bool           # print the ops table's ``array_api`` column (else numpy's ``code``)
    einsum: str | None        # the einsum of pairwise steps; None: lowered (no einsum)
    outer: str | None         # the outer product of two vectors; None: broadcasting
    inplace: bool             # a fresh array may be written into (``out[i] = v``)
    device: bool              # creation functions take ``device=`` (the inputs' device)
    from_inputs: bool         # the namespace is the inputs' (``x.__array_namespace__()``)
    negative_steps: bool      # slices may step backwards (torch's may not: ``flip``)
    einsum_options: str = ""  # extra arguments of every einsum call (numpy: ``optimize=True``)


_NUMPY_SOURCE = Source(("import numpy as np",), "np", array_api=False, einsum="np.einsum",
                       outer="np.outer", inplace=True, device=False, from_inputs=False,
                       negative_steps=True, einsum_options=", optimize=True")
# array_api_compat's torch namespace: the table's array-API spelling on torch tensors (it
# traces under torch.compile(fullgraph=True) without a graph break)
_TORCH_SOURCE = Source(("import torch", "import array_api_compat.torch as xp"), "xp",
                       array_api=True, einsum="torch.einsum", outer="torch.outer", inplace=True,
                       device=True, from_inputs=False, negative_steps=False)
_JAX_SOURCE = Source(("import jax.numpy as jnp",), "jnp", array_api=True, einsum="jnp.einsum",
                     outer="jnp.outer", inplace=False, device=False, from_inputs=False,
                     negative_steps=True)
_ARRAY_API_SOURCE = Source((), "xp", array_api=True, einsum=None, outer=None, inplace=True,
                           device=True, from_inputs=True, negative_steps=True)


@dataclass(frozen=True)
class Backend:
    """One array library (see the module docstring)."""

    name: str
    roots: tuple[str, ...]              # roots of ``type(x).__module__`` of its arrays
    library: str                        # the module holding ``asarray`` for neutral values
    einsum: Callable[[], Einsum] | None  # its einsum (loaded on first use); None: by hand
    put: Put = _setitem                 # ``out[index] = value``, returning the array
    source: Source | None = None        # generated code's spelling; None: no to_source for it
    tracing: Callable[[], bool] | None = None  # True while the library traces a call (sizes
                                        # may be symbolic: planned without them); None: never

    def namespace(self, arrays: Iterable[Any] = ()) -> Any:
        """The array-API namespace of ``arrays`` (of this backend), or of the library."""
        own = [a for a in arrays if not is_neutral(a)]
        if not own:
            own = [self.from_numpy(np.zeros(0))]
        return array_api_compat.array_namespace(*own)

    def from_numpy(self, value: Any, like: Any = None) -> Any:
        """A numpy array or number as this library's array, with its dtype, on the device of
        ``like`` (an array of this backend) when given."""
        value = np.asarray(value)
        module = importlib.import_module(self.library)
        if like is None:
            return module.asarray(value)
        return _on_device_of(module, value, like)


def _on_device_of(module: Any, value: np.ndarray, like: Any) -> Any:
    if isinstance(value, np.ndarray) and not value.flags.writeable:
        # a read-only array (an expression's constant): torch would share its memory and warn
        # that writing to the tensor is undefined; the library gets its own copy instead
        value = value.copy()
    try:
        device = array_api_compat.device(like)
    except Exception:  # a traced JAX value has no device: the trace places it
        return module.asarray(value)
    return array_api_compat.array_namespace(like).asarray(value, device=device)


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("numpy", ("numpy",), "numpy", None, source=_NUMPY_SOURCE),
    Backend("torch", ("torch",), "torch", _module_einsum("torch"), source=_TORCH_SOURCE,
            tracing=_torch_compiling),
    Backend("jax", ("jax", "jaxlib"), "jax.numpy", _module_einsum("jax.numpy"), _jax_put,
            source=_JAX_SOURCE),
    # CuPy and dask: generated code for them is the array_api source (it takes its namespace
    # from the inputs), so their rows spell none of their own
    Backend("cupy", ("cupy", "cupyx"), "cupy", _module_einsum("cupy")),
    Backend("dask", ("dask",), "dask.array", _module_einsum("dask.array")),
    # any library following the array API standard; numpy values run on numpy's namespace
    Backend("array_api", (), "array_api_compat.numpy", None, source=_ARRAY_API_SOURCE),
)}

_BY_ROOT = {root: b for b in BACKENDS.values() for root in b.roots}
_NEUTRAL_TYPES = (np.ndarray, numbers.Number, np.generic, list, tuple)


def is_neutral(x: Any) -> bool:
    """True for values every backend takes as they are: numpy arrays and numbers (lists of
    them too)."""
    return type(x) is np.ndarray or isinstance(x, _NEUTRAL_TYPES)


def detect(x: Any) -> Backend | None:
    """The backend of one array, or None for a neutral value."""
    if is_neutral(x):
        return None
    root = type(x).__module__.partition(".")[0]
    found = _BY_ROOT.get(root)
    if found is not None:
        return found
    if hasattr(x, "__array_namespace__"):
        return BACKENDS["array_api"]
    return None  # anything else goes through numpy.asarray, as before


def get_backend(name: str) -> Backend:
    """The row called ``name``; TensorcalcError for an unknown name (the one message for it,
    listing the valid names)."""
    try:
        return BACKENDS[name]
    except (KeyError, TypeError):
        raise TensorcalcError(f"unknown backend {name!r}; use one of {sorted(BACKENDS)}") from None


def source_backend(name: str) -> Backend:
    """The row called ``name`` for generated code: TensorcalcError for an unknown name (as
    :func:`get_backend`) or a row with no :class:`Source`.

    >>> source_backend("jax").source.ns
    'jnp'
    >>> source_backend("cupy")
    Traceback (most recent call last):
    ...
    tensorcalc.errors.TensorcalcError: backend 'cupy' has no generated source of its own; use one of ['array_api', 'jax', 'numpy', 'torch'] (backend='array_api' runs on any array-API library's arrays)
    """
    row = get_backend(name)
    if row.source is None:
        raise TensorcalcError(
            f"backend {name!r} has no generated source of its own; use one of "
            f"{sorted(n for n, b in BACKENDS.items() if b.source)} (backend='array_api' runs "
            f"on any array-API library's arrays)")
    return row


def backend_of(arrays: Iterable[Any], backend: str | None = None) -> Backend:
    """The backend that runs a call on ``arrays``: ``backend`` when given, else the library
    of the non-neutral arrays (numpy when there are none).

    Raises TensorcalcError when the arrays come from two libraries (torch and JAX in one
    call), when ``backend`` is not a known name, or when an array belongs to another library
    than ``backend``.

    >>> backend_of([1.0], "tensorflow")
    Traceback (most recent call last):
    ...
    tensorcalc.errors.TensorcalcError: unknown backend 'tensorflow'; use one of ['array_api', 'cupy', 'dask', 'jax', 'numpy', 'torch']
    """
    chosen = None if backend is None else get_backend(backend)
    found: dict[str, Any] = {}
    for a in arrays:
        b = detect(a)
        if b is not None:
            found.setdefault(b.name, a)
    if chosen is not None:
        # an array-API array may run on the array_api row of another library (e.g. numpy)
        foreign = [n for n in found if n != chosen.name and chosen.name != "array_api"]
        if foreign:
            raise TensorcalcError(f"backend={chosen.name!r} was asked for, but the arrays include "
                                  f"{_kind(found[foreign[0]])} ({foreign[0]})")
        return chosen
    if len(found) > 1:
        kinds = " and ".join(f"{_kind(a)} ({n})" for n, a in found.items())
        raise TensorcalcError(f"arrays of different libraries in one call: {kinds}; convert "
                              f"them to one library (numpy arrays and numbers mix with any)")
    return BACKENDS[next(iter(found))] if found else BACKENDS["numpy"]


def _kind(a: Any) -> str:
    t = type(a)
    return f"{t.__module__}.{t.__qualname__}"
