# The compiled core of tensorcalc: runs a whole contraction plan with no Python between steps.
#
# Two kernels, four dtypes (float32, float64, complex64, complex128; _dispatch is the one
# place a dtype picks its typed specialization):
#   * SOP: a sum of products over a strided loop nest, C[..] (+)= A[..] * B[..]. It covers
#     Hadamard-and-reduce, diagonals (several axes mapped to one loop dimension), sums over
#     labels one operand has, transposes, diagonal embedding and broadcast outputs.
#   * GEMM: batched matrix products through scipy's BLAS, with strides passed as leading
#     dimensions; an operand is packed (copied) only when no leading dimension describes it.
# Geometry is checked with the GIL held; the loops then run with it released.
#
# Threads (pool.h): large steps are split into items (batches, row or column blocks of one
# product, pieces of a long dot, outer-loop slices of a typed loop) that a small pthread pool
# and the calling thread take in turn; BLAS runs on one thread inside them, as torch does.
# One thread count serves both: the one the user gave scipy's BLAS (OPENBLAS_NUM_THREADS,
# threadpoolctl), unless set_threads fixes another.

cimport numpy as cnp
from cpython.ref cimport Py_INCREF
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from scipy.linalg.cython_blas cimport (sgemm, dgemm, cgemm, zgemm, sgemv, dgemv, cgemv, zgemv,
                                       sdot, ddot, cdotu, zdotu)

import os

import numpy as np

from tensorcalc.errors import TensorcalcError

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    # steals a reference to descr
    object PyArray_NewFromDescr(type subtype, cnp.dtype descr, int nd, cnp.npy_intp* dims,
                                cnp.npy_intp* strides, void* data, int flags, object obj)

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX

cdef extern from "pool.h" nogil:
    ctypedef void (*tc_item_fn)(void* ctx, Py_ssize_t item) noexcept nogil
    const int TC_POOL_THREADS
    void tc_pool_run(tc_item_fn fn, void* ctx, Py_ssize_t n, int nthreads)
    int tc_pool_workers()
    long tc_pool_spin(long us)
    int tc_blas_threads()
    int tc_blas_enter()
    void tc_blas_leave(int held)
    void tc_blas_bind(void* get, void* set)

# The kinds and roles as module attributes too (_core.GEMM, _core.ROW), as well as through
# their enums (_core.StepKind.GEMM, _core.Role.ROW).
globals().update(StepKind.__members__)
globals().update(Role.__members__)

# Below these amounts a step stays on the calling thread: waking a worker costs some tens
# of microseconds, and each item should be worth several wake-ups.
cdef Py_ssize_t PARALLEL_WORK = 1 << 20   # typed loops: elements visited
cdef Py_ssize_t PARALLEL_GEMM = 1 << 21   # BLAS products: multiply-adds
cdef Py_ssize_t PARALLEL_STREAM = 1 << 18 # BLAS matrix-vector and dot: matrix elements read
# Products below this many multiply-adds run on one thread in OpenBLAS whatever its setting
# (its own cut-offs: 9216 for GEMV, 10000 for DOT, 262144 for GEMM)
cdef Py_ssize_t BLAS_SERIAL = 8192
cdef int ITEMS_PER_THREAD = 4             # a parked thread delays one item, not a quarter
cdef Py_ssize_t SCRATCH_LIMIT = 1 << 24   # bytes of partial results a GEMM step may add
# The thread policy: FIXED_THREADS from set_threads, else (0) the count of scipy's BLAS as
# read when a step starts; never more than the CPUs this process may run on.
cdef int FIXED_THREADS = 0
# Steps shared over the pool, by how they were cut (tests read them through _cuts()):
# SPLIT_NONE .. SPLIT_INNER for BLAS steps, then typed-loop slices. Updated racily by
# concurrent callers: a count, not an account.
cdef Py_ssize_t CUT_COUNTS[5]
cdef int CPU_COUNT = 1
cdef bint BLAS_PROBED = False
cdef Py_ssize_t INT_LIMIT = 2147483647     # scipy's BLAS takes 32-bit ints
cdef enum:
    TILE = 32                                # block edge for transposing loops
    ROW_MAJOR = 1                            # Mat.layout: how BLAS reads an operand
    COL_MAJOR = 2


cdef struct Mat:
    # One GEMM operand as a batch of (rows x cols) matrices. The sizes and strides are those
    # of the two merged role groups; _layout decides whether BLAS can read them.
    char* data
    Py_ssize_t* s                 # element strides per loop dimension (batch offsets)
    Py_ssize_t rows, cols
    Py_ssize_t s_rows, s_cols
    Py_ssize_t ld
    int layout                    # ROW_MAJOR, COL_MAJOR, or 0: BLAS cannot read it


cdef struct Kernel:
    # Everything one typed run needs, filled with the GIL held and run by _dispatch without.
    int kind                      # SOP or GEMM
    int typenum                   # set by _dispatch: thread items re-dispatch on it
    int nd
    const Py_ssize_t* size
    Mat A, B, C                   # SOP uses data and s only
    const int* role               # GEMM
    bint binary, overwrite, tiled # SOP
    int nthreads                  # SOP
    int par                       # SOP: the loop threads slice (with nthreads > 1)

DTYPES = (np.dtype(np.float32), np.dtype(np.float64),
          np.dtype(np.complex64), np.dtype(np.complex128))


cdef class Step:
    """One step of a plan: read slots ``a`` (and ``b``), write slot ``out``.

    ``sizes`` are the loop dimensions; ``dims_a[k]`` is the loop dimension of axis ``k`` of
    operand A (-1 for a size-1 axis that broadcasts), likewise ``dims_b`` and ``dims_c``
    (several axes on one loop dimension make a diagonal). ``roles`` (GEMM only) says which
    loop dimensions are batch, row (M), column (N) or inner (K) ones; within a group, loop
    order is dimension order.
    """

    def __init__(self, int kind, int slot_a, int slot_b, int slot_out, sizes, dims_a,
                 dims_b, dims_c, shape_c, roles, bint zero_init, release=()):
        if len(sizes) > MAXD or len(dims_a) > MAXD or len(dims_b) > MAXD or len(dims_c) > MAXD:
            raise ValueError(f"a step may have at most {MAXD} dimensions")
        if len(shape_c) != len(dims_c):
            raise ValueError("shape_c and dims_c differ in length")
        self.kind = kind
        self.slot_a = slot_a
        self.slot_b = slot_b
        self.slot_out = slot_out
        self.nd = len(sizes)
        for k, s in enumerate(sizes):
            if s < 0:
                raise ValueError("negative size")
            self.size[k] = s
        self.nax_a = _fill_dims(self.dim_a, dims_a, self.nd)
        self.nax_b = _fill_dims(self.dim_b, dims_b, self.nd)
        self.nax_c = _fill_dims(self.dim_c, dims_c, self.nd)
        for k, s in enumerate(shape_c):
            self.shape_c[k] = s
        for k in range(self.nd):
            self.role[k] = roles[k] if k < len(roles) else BATCH
        self.zero_init = zero_init
        self.release = tuple(release)

    @classmethod
    def sop(cls, *, int a, int b=-1, int out, sizes, dims_a, dims_b=(), dims_c,
            shape_c=None, zero_init=None, release=()):
        """A sum-of-products step: out[dims_c] (+)= a[dims_a] * b[dims_b] (``b=-1``: a alone).

        ``shape_c`` defaults to the loop sizes of ``dims_c``; ``zero_init`` defaults to what
        the geometry needs: a zeroed output when a loop is summed or a diagonal is embedded.
        """
        if shape_c is None:
            shape_c = _shape_of(sizes, dims_c)
        if zero_init is None:
            zero_init = (len(set(dims_c)) != len(dims_c)
                         or any(s != 1 and d not in dims_c for d, s in enumerate(sizes)))
        return cls(SOP, a, b, out, sizes, dims_a, dims_b if b >= 0 else (), dims_c, shape_c,
                   (), zero_init, release)

    @classmethod
    def gemm(cls, *, int a, int b, int out, sizes, roles, dims_a, dims_b, dims_c,
             shape_c=None, release=()):
        """A batched matrix product; ``roles[d]`` is the Role of loop dimension ``d``."""
        if len(roles) != len(sizes):
            raise ValueError("a GEMM step needs one role per loop dimension")
        if shape_c is None:
            shape_c = _shape_of(sizes, dims_c)
        return cls(GEMM, a, b, out, sizes, dims_a, dims_b, dims_c, shape_c, roles, False,
                   release)

    def __repr__(self):
        kind = "GEMM" if self.kind == GEMM else "SOP"
        return (f"Step({kind}, a={self.slot_a}, b={self.slot_b}, out={self.slot_out}, "
                f"sizes={[self.size[k] for k in range(self.nd)]})")


def _shape_of(sizes, dims):
    return [sizes[d] if d >= 0 else 1 for d in dims]


cdef int _fill_dims(int* target, dims, int nd) except -1:
    for k, d in enumerate(dims):
        if d < -1 or d >= nd:
            raise ValueError(f"axis {k} refers to loop dimension {d} of {nd}")
        target[k] = d
    return len(dims)


cdef inline Py_ssize_t _mul_sat(Py_ssize_t x, Py_ssize_t y) noexcept nogil:
    """x * y for non-negative sizes, stuck at PY_SSIZE_T_MAX instead of wrapping."""
    if x < INT_LIMIT and y < INT_LIMIT:
        return x * y        # cannot overflow 64 bits; spares the division on every step
    if y != 0 and x > PY_SSIZE_T_MAX // y:
        return PY_SSIZE_T_MAX
    return x * y


include "sop.pxi"
include "blas.pxi"


cdef void _dispatch(int typenum, Kernel* job) noexcept nogil:
    """Run ``job`` with the typed specialization of ``typenum`` (run_plan admits only these
    four): the one place a dtype picks one."""
    job.typenum = typenum
    if typenum == cnp.NPY_FLOAT64:
        _run_typed(<double*>NULL, job)
    elif typenum == cnp.NPY_FLOAT32:
        _run_typed(<float*>NULL, job)
    elif typenum == cnp.NPY_COMPLEX128:
        _run_typed(<complex128*>NULL, job)
    else:
        _run_typed(<complex64*>NULL, job)


cdef void _run_typed(num* tag, Kernel* job) noexcept nogil:
    # ``tag`` only selects the specialization
    if job.kind == GEMM:
        _gemm_batches(<num*>job.A.data, <num*>job.B.data, <num*>job.C.data, job)
    else:
        _sop(<num*>job.A.data, job)


# ---------------------------------------------------------------------------------------
# Running a plan

cdef int _strides(object obj, int slot, int nax, const int* dims, int nd,
                  const Py_ssize_t* size, Py_ssize_t itemsize, Py_ssize_t* out) except -1:
    """Element strides per loop dimension; checks the array's shape against the plan."""
    cdef int k
    cdef Py_ssize_t want
    if not cnp.PyArray_Check(obj):
        raise TypeError(f"slot {slot} holds {type(obj).__name__}, not an array")
    cdef cnp.ndarray arr = obj
    cdef cnp.npy_intp* st = cnp.PyArray_STRIDES(arr)
    cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(arr)
    if cnp.PyArray_NDIM(arr) != nax:
        raise TensorcalcError(
            f"operand {slot} has {cnp.PyArray_NDIM(arr)} axes but the plan expects {nax}")
    for k in range(nd):
        out[k] = 0
    for k in range(nax):
        want = size[dims[k]] if dims[k] >= 0 else 1
        if shape[k] != want:
            raise TensorcalcError(
                f"operand {slot} axis {k} has size {shape[k]} but the plan expects {want}")
        if dims[k] >= 0:
            out[dims[k]] += st[k] // itemsize
    return 0


cdef object _run_step(Step st, list slots, int typenum, Py_ssize_t itemsize):
    cdef Py_ssize_t sa[MAXD]
    cdef Py_ssize_t sb[MAXD]
    cdef Py_ssize_t sc[MAXD]
    cdef cnp.npy_intp shape[MAXD]
    cdef cnp.ndarray a, b = None, c
    cdef bint binary = st.slot_b >= 0
    cdef bint empty = False
    cdef int k
    cdef char* pb = NULL
    _strides(slots[st.slot_a], st.slot_a, st.nax_a, st.dim_a, st.nd, st.size, itemsize, sa)
    a = slots[st.slot_a]
    if binary:
        _strides(slots[st.slot_b], st.slot_b, st.nax_b, st.dim_b, st.nd, st.size, itemsize, sb)
        b = slots[st.slot_b]
        pb = <char*>cnp.PyArray_DATA(b)
    else:
        for k in range(st.nd):
            sb[k] = 0
    for k in range(st.nax_c):
        shape[k] = st.shape_c[k]
    if st.zero_init:
        c = cnp.PyArray_ZEROS(st.nax_c, shape, typenum, 0)
    else:
        c = cnp.PyArray_EMPTY(st.nax_c, shape, typenum, 0)
    _strides(c, st.slot_out, st.nax_c, st.dim_c, st.nd, st.size, itemsize, sc)
    for k in range(st.nd):
        empty = empty or st.size[k] == 0
    if empty:
        if not st.zero_init:
            memset(cnp.PyArray_DATA(c), 0, cnp.PyArray_NBYTES(c))
        return c
    if st.kind == GEMM and binary:
        if _gemm_step(st, typenum, <char*>cnp.PyArray_DATA(a), sa, pb, sb,
                      <char*>cnp.PyArray_DATA(c), sc):
            return c
        if not st.zero_init:
            memset(cnp.PyArray_DATA(c), 0, cnp.PyArray_NBYTES(c))
        # strides may have been rewritten by a pack that was then abandoned
        _strides(a, st.slot_a, st.nax_a, st.dim_a, st.nd, st.size, itemsize, sa)
        _strides(b, st.slot_b, st.nax_b, st.dim_b, st.nd, st.size, itemsize, sb)
        with nogil:
            run_sop(typenum, <char*>cnp.PyArray_DATA(a), pb, <char*>cnp.PyArray_DATA(c), st.nd,
                    st.size, sa, sb, sc, binary, False)
        return c
    with nogil:
        run_sop(typenum, <char*>cnp.PyArray_DATA(a), pb, <char*>cnp.PyArray_DATA(c), st.nd,
                st.size, sa, sb, sc, binary, not st.zero_init)
    return c


cdef bint _usable(object arr, int typenum, Py_ssize_t itemsize):
    if not cnp.PyArray_Check(arr):
        return False
    cdef cnp.ndarray a = arr
    cdef int k
    if cnp.PyArray_TYPE(a) != typenum or not cnp.PyArray_ISALIGNED(a) \
            or not cnp.PyArray_ISNOTSWAPPED(a):
        return False
    for k in range(cnp.PyArray_NDIM(a)):
        if cnp.PyArray_STRIDES(a)[k] % itemsize != 0:
            return False
    return True


def relabel_view(cnp.ndarray arr, tuple dims, tuple shape):
    """A view of ``arr`` whose axis ``dims[k]`` walks axis ``k`` of ``arr`` (-1: a size-1
    axis dropped); several axes on one output axis give a diagonal, as numpy.einsum does."""
    cdef int nd = len(shape), nax = cnp.PyArray_NDIM(arr), k, d
    cdef cnp.npy_intp dims_out[MAXD]
    cdef cnp.npy_intp strides_out[MAXD]
    cdef cnp.npy_intp* st = cnp.PyArray_STRIDES(arr)
    if len(dims) != nax:
        raise TensorcalcError(f"operand 0 has {nax} axes but the plan expects {len(dims)}")
    if nd > MAXD:
        raise ValueError(f"relabel_view: at most {MAXD} axes")
    for k in range(nd):
        dims_out[k] = shape[k]
        strides_out[k] = 0
    for k in range(nax):
        d = dims[k]
        if d >= nd:
            raise ValueError("relabel_view: axis out of range")
        if cnp.PyArray_DIMS(arr)[k] != (dims_out[d] if d >= 0 else 1):
            raise TensorcalcError(f"operand 0 axis {k} has size {cnp.PyArray_DIMS(arr)[k]} "
                                  f"but the plan expects {dims_out[d] if d >= 0 else 1}")
        if d >= 0:
            strides_out[d] += st[k]
    cdef cnp.dtype descr = arr.dtype
    Py_INCREF(descr)                     # PyArray_NewFromDescr steals it
    flags = cnp.NPY_ARRAY_WRITEABLE if cnp.PyArray_ISWRITEABLE(arr) else 0
    view = PyArray_NewFromDescr(np.ndarray, descr, nd, dims_out, strides_out,
                                    cnp.PyArray_DATA(arr), flags, None)
    cnp.set_array_base(view, arr)
    return view


def set_threads(n=None):
    """Use at most ``n`` threads per step (typed loops and BLAS products alike); returns the
    previous setting.

    ``None`` (the default) follows scipy's BLAS: the count OPENBLAS_NUM_THREADS or
    ``threadpoolctl.threadpool_limits`` gave it, at most the CPUs this process may use.
    ``n = 1`` keeps every step on the calling thread. BLAS itself always runs on one thread
    inside the core's steps, so the two never compete for cores; a forked child keeps the
    setting and starts its own threads.
    """
    global FIXED_THREADS
    if n is not None and n < 1:
        raise ValueError(f"thread count must be at least 1 (or None), got {n}")
    old = FIXED_THREADS or None
    FIXED_THREADS = 0 if n is None else n
    return old


def threads():
    """The number of threads a large step would use now (see :func:`set_threads`)."""
    _probe_blas()
    return _threads()


_CUT_NAMES = ("batches", "rows", "columns", "inner", "slices")


def _cuts():
    """How many steps were shared over threads, by kind of cut, since the last call."""
    counts = {name: CUT_COUNTS[k] for k, name in enumerate(_CUT_NAMES)}
    for k in range(5):
        CUT_COUNTS[k] = 0
    return counts


def _pool_spin(us):
    """Set how long (microseconds) an idle worker polls for the next job before it sleeps;
    returns the previous value (tests and benchmarks compare 0 with the default)."""
    if us < 0:
        raise ValueError(f"spin must be at least 0 microseconds, got {us}")
    return tc_pool_spin(us)


def _pool_workers():
    """Worker threads alive in this process's pool (tests: they start lazily, after fork too)."""
    return tc_pool_workers()


cdef int _threads() noexcept nogil:
    if not TC_POOL_THREADS:     # built without pthreads: every step on the calling thread
        return 1
    if FIXED_THREADS > 0:
        return FIXED_THREADS
    cdef int n = tc_blas_threads()
    if n <= 0:                  # a BLAS whose threads we cannot read: our own count
        n = CPU_COUNT
    return min(n, CPU_COUNT)


# How to read and set the thread count of each BLAS that threadpoolctl recognises, by its
# internal_api: symbol names tried in order (scipy-openblas prefixes its symbols). Each
# function takes or returns a plain C int.
_BLAS_THREAD_CALLS = {
    "openblas": (("openblas_get_num_threads", "scipy_openblas_get_num_threads",
                  "openblas_get_num_threads64_", "scipy_openblas_get_num_threads64_"),
                 ("openblas_set_num_threads", "scipy_openblas_set_num_threads",
                  "openblas_set_num_threads64_", "scipy_openblas_set_num_threads64_")),
    "mkl": (("MKL_Get_Max_Threads",), ("MKL_Set_Num_Threads",)),
}
# the double GEMM as scipy's cython_blas links it, to tell its BLAS from numpy's
_GEMM_SYMBOLS = ("scipy_dgemm_", "dgemm_", "dgemm")


def _probe_blas():
    """Find the thread controls of the BLAS the core calls (once per process).

    threadpoolctl lists the BLAS libraries loaded (numpy's and scipy's OpenBLAS are two, with
    two pools); the one whose dgemm is the one scipy.linalg.cython_blas resolves is ours.
    Without threadpoolctl or a known library, BLAS products stay on the calling thread and
    BLAS keeps its own threads.
    """
    global BLAS_PROBED
    if BLAS_PROBED:
        return
    BLAS_PROBED = True
    try:
        _bind_blas()
    except Exception:  # any failure to introspect leaves BLAS to itself, never breaks a call
        pass


def _bind_blas():
    try:
        import ctypes
        import scipy.linalg.cython_blas as cython_blas
        import threadpoolctl
    except ImportError:
        return
    address = _symbol_address(ctypes, ctypes.CDLL(cython_blas.__file__), _GEMM_SYMBOLS)
    if address is None:
        return
    for ctl in threadpoolctl.ThreadpoolController().lib_controllers:
        calls = _BLAS_THREAD_CALLS.get(ctl.internal_api)
        if calls is None or ctl.filepath is None:
            continue
        lib = ctypes.CDLL(ctl.filepath)
        if _symbol_address(ctypes, lib, _GEMM_SYMBOLS) != address:
            continue
        get = _symbol_address(ctypes, lib, calls[0])
        put = _symbol_address(ctypes, lib, calls[1])
        if get is not None and put is not None:
            tc_blas_bind(<void*><size_t>get, <void*><size_t>put)
        return


def _symbol_address(ctypes, lib, names):
    for name in names:
        try:
            return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        except AttributeError:
            continue
    return None


def _cpu_count():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


CPU_COUNT = _cpu_count()


def run_plan(tuple steps, list operands, object dtype, int n_inputs=-1):
    """Run ``steps`` on ``operands``; returns the array left in the last step's slot.

    Operands are converted to ``dtype`` (one of float32, float64, complex64, complex128)
    when needed. Slots 0..n-1 hold the operands; each step fills its ``out`` slot.
    """
    cdef cnp.dtype dt = np.dtype(dtype)
    cdef int typenum = dt.num
    cdef Py_ssize_t itemsize = dt.itemsize
    cdef Step st
    cdef list slots
    cdef int k
    if dt not in DTYPES:
        raise TypeError(f"the compiled core does not handle dtype {dt}")
    if n_inputs >= 0 and len(operands) != n_inputs:
        raise TensorcalcError(f"the plan takes {n_inputs} operands, got {len(operands)}")
    if not BLAS_PROBED:
        _probe_blas()
    slots = list(operands)
    for k in range(len(slots)):
        if not _usable(slots[k], typenum, itemsize):
            slots[k] = np.array(slots[k], dtype=dt, copy=True)
    result = None
    for st in steps:
        while len(slots) <= st.slot_out:
            slots.append(None)
        result = _run_step(st, slots, typenum, itemsize)
        slots[st.slot_out] = result
        for k in st.release:
            slots[k] = None
    return result
