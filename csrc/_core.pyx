# The compiled core of tensorcalc: runs a whole contraction plan with no Python between steps.
#
# Two kernels, four dtypes (float32, float64, complex64, complex128):
#   * SOP: a sum of products over a strided loop nest, C[..] (+)= A[..] * B[..]. It covers
#     Hadamard-and-reduce, diagonals (several axes mapped to one loop dimension), sums over
#     labels one operand has, transposes, diagonal embedding and broadcast outputs.
#   * GEMM: batched matrix products through scipy's BLAS, with strides passed as leading
#     dimensions; an operand is packed (copied) only when no leading dimension describes it.
# Geometry is checked with the GIL held; the loops then run with it released.

cimport numpy as cnp
from cpython.ref cimport Py_INCREF
from cython.parallel cimport prange
from libc.string cimport memset
from scipy.linalg.cython_blas cimport (sgemm, dgemm, cgemm, zgemm, sgemv, dgemv, cgemv, zgemv,
                                       sdot, ddot, cdotu, zdotu)

import numpy as np

from tensorcalc.errors import TensorcalcError

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    # steals a reference to descr
    object PyArray_NewFromDescr(type subtype, cnp.dtype descr, int nd, cnp.npy_intp* dims,
                                cnp.npy_intp* strides, void* data, int flags, object obj)

cdef Py_ssize_t PARALLEL_WORK = 1 << 21   # SOP loops larger than this use several threads
# Typed loops are memory-bound: on the 2-core shared machines this library is tuned on, a
# second thread bought nothing and cost up to 5x whenever the other core was busy (libgomp
# threads spin after a region). So one thread by default; set_threads(n) opts in.
cdef int MAX_THREADS = 1
cdef Py_ssize_t INT_LIMIT = 2147483647     # scipy's BLAS takes 32-bit ints
cdef enum:
    TILE = 32                                # block edge for transposing loops

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

    def __repr__(self):
        kind = "GEMM" if self.kind == GEMM else "SOP"
        return (f"Step({kind}, a={self.slot_a}, b={self.slot_b}, out={self.slot_out}, "
                f"sizes={[self.size[k] for k in range(self.nd)]})")


cdef int _fill_dims(int* target, dims, int nd) except -1:
    for k, d in enumerate(dims):
        if d < -1 or d >= nd:
            raise ValueError(f"axis {k} refers to loop dimension {d} of {nd}")
        target[k] = d
    return len(dims)


include "sop.pxi"
include "blas.pxi"


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
    cdef Py_ssize_t work = 1
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
        work *= st.size[k]
    if work == 0:
        if not st.zero_init:
            memset(cnp.PyArray_DATA(c), 0, cnp.PyArray_NBYTES(c))
        return c
    if st.kind == GEMM and binary:
        if _gemm_step(st, typenum, itemsize, <char*>cnp.PyArray_DATA(a), sa, pb, sb,
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


def set_threads(int n):
    """Use at most ``n`` threads in the typed loops (BLAS keeps its own setting).

    Returns the previous value. ``n = 1`` keeps every loop on the calling thread.
    """
    global MAX_THREADS
    if n < 1:
        raise ValueError(f"thread count must be at least 1, got {n}")
    old = MAX_THREADS
    MAX_THREADS = n
    return old


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
