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


# ---------------------------------------------------------------------------------------
# SOP kernel

cdef inline void _inner(num* a, num* b, num* c, Py_ssize_t n, Py_ssize_t sa, Py_ssize_t sb,
                        Py_ssize_t sc, bint binary, bint overwrite) noexcept nogil:
    cdef Py_ssize_t i
    cdef num acc0, acc1, acc2, acc3
    if sc == 0 and n > 1:
        acc0 = 0
        acc1 = 0
        acc2 = 0
        acc3 = 0
        i = 0
        if binary and sa == 1 and sb == 1:
            # four accumulators let the compiler keep independent chains in flight
            while i + 4 <= n:
                acc0 = acc0 + a[i] * b[i]
                acc1 = acc1 + a[i + 1] * b[i + 1]
                acc2 = acc2 + a[i + 2] * b[i + 2]
                acc3 = acc3 + a[i + 3] * b[i + 3]
                i += 4
            while i < n:
                acc0 = acc0 + a[i] * b[i]
                i += 1
        elif binary:
            while i < n:
                acc0 = acc0 + a[i * sa] * b[i * sb]
                i += 1
        elif sa == 1:
            while i + 4 <= n:
                acc0 = acc0 + a[i]
                acc1 = acc1 + a[i + 1]
                acc2 = acc2 + a[i + 2]
                acc3 = acc3 + a[i + 3]
                i += 4
            while i < n:
                acc0 = acc0 + a[i]
                i += 1
        else:
            while i < n:
                acc0 = acc0 + a[i * sa]
                i += 1
        acc0 = (acc0 + acc1) + (acc2 + acc3)
        if overwrite:
            c[0] = acc0
        else:
            c[0] = c[0] + acc0
        return
    cdef num scalar
    if binary and sc == 1 and (sa == 0 or sb == 0) and (sa == 1 or sb == 1):
        # scalar times a contiguous vector (outer products, broadcasts): vectorisable
        scalar = a[0] if sa == 0 else b[0]
        if sa == 0:
            a = b
        if overwrite:
            for i in range(n):
                c[i] = scalar * a[i]
        else:
            for i in range(n):
                c[i] = c[i] + scalar * a[i]
        return
    if binary:
        if sa == 1 and sb == 1 and sc == 1:
            if overwrite:
                for i in range(n):
                    c[i] = a[i] * b[i]
            else:
                for i in range(n):
                    c[i] = c[i] + a[i] * b[i]
        elif overwrite:
            for i in range(n):
                c[i * sc] = a[i * sa] * b[i * sb]
        else:
            for i in range(n):
                c[i * sc] = c[i * sc] + a[i * sa] * b[i * sb]
    elif sa == 1 and sc == 1:
        if overwrite:
            for i in range(n):
                c[i] = a[i]
        else:
            for i in range(n):
                c[i] = c[i] + a[i]
    elif overwrite:
        for i in range(n):
            c[i * sc] = a[i * sa]
    else:
        for i in range(n):
            c[i * sc] = c[i * sc] + a[i * sa]


cdef void _inner2(num* a, num* b, num* c, Py_ssize_t n1, Py_ssize_t n2, Py_ssize_t sa1,
                  Py_ssize_t sb1, Py_ssize_t sc1, Py_ssize_t sa2, Py_ssize_t sb2, Py_ssize_t sc2,
                  bint binary, bint overwrite) noexcept nogil:
    """Two innermost loops walked in TILE x TILE blocks, so that an operand contiguous
    along the outer of the two (a transpose) still stays in cache."""
    cdef Py_ssize_t i0 = 0, j0, i, m1, m2
    while i0 < n1:
        m1 = min(n1, i0 + TILE)
        j0 = 0
        while j0 < n2:
            m2 = min(n2 - j0, TILE)
            for i in range(i0, m1):
                _inner(a + i * sa1 + j0 * sa2, b + i * sb1 + j0 * sb2, c + i * sc1 + j0 * sc2,
                       m2, sa2, sb2, sc2, binary, overwrite)
            j0 += TILE
        i0 += TILE


cdef void _sop_range(num* a, num* b, num* c, int nd, const Py_ssize_t* size,
                     const Py_ssize_t* sa, const Py_ssize_t* sb, const Py_ssize_t* sc,
                     Py_ssize_t lo, Py_ssize_t hi, bint binary, bint overwrite,
                     bint tiled) noexcept nogil:
    """Loop dims 0..nd-1 (nd-1 innermost), with dim 0 restricted to [lo, hi); with
    ``tiled`` the two innermost dims are walked in blocks."""
    cdef Py_ssize_t idx[MAXD]
    cdef Py_ssize_t sz[MAXD]
    cdef int d, outer
    if nd == 0:
        _inner(a, b, c, 1, 0, 0, 1, binary, overwrite)
        return
    for d in range(nd):
        idx[d] = 0
        sz[d] = size[d]
    sz[0] = hi - lo
    a += lo * sa[0]
    c += lo * sc[0]
    if binary:
        b += lo * sb[0]
    outer = nd - 2 if tiled else nd - 1
    while True:
        if tiled:
            _inner2(a, b, c, sz[nd - 2], sz[nd - 1], sa[nd - 2], sb[nd - 2], sc[nd - 2],
                    sa[nd - 1], sb[nd - 1], sc[nd - 1], binary, overwrite)
        else:
            _inner(a, b, c, sz[nd - 1], sa[nd - 1], sb[nd - 1], sc[nd - 1], binary, overwrite)
        d = outer - 1
        while d >= 0:
            idx[d] += 1
            a += sa[d]
            c += sc[d]
            if binary:
                b += sb[d]
            if idx[d] < sz[d]:
                break
            a -= sa[d] * idx[d]
            c -= sc[d] * idx[d]
            if binary:
                b -= sb[d] * idx[d]
            idx[d] = 0
            d -= 1
        if d < 0:
            return


cdef void _sop(num* a, num* b, num* c, int nd, const Py_ssize_t* size, const Py_ssize_t* sa,
               const Py_ssize_t* sb, const Py_ssize_t* sc, bint binary, bint overwrite,
               int nthreads, bint tiled) noexcept nogil:
    cdef Py_ssize_t t, lo, hi, n0, nchunks
    if nthreads <= 1 or nd == 0:
        _sop_range(a, b, c, nd, size, sa, sb, sc, 0, size[0] if nd > 0 else 1, binary, overwrite,
                   tiled)
        return
    n0 = size[0]
    # several chunks per thread: a thread the OS parks (shared machines) delays only its chunk
    nchunks = min(n0, nthreads * 8)
    for t in prange(nchunks, num_threads=nthreads, schedule="dynamic"):
        lo = n0 * t // nchunks
        hi = n0 * (t + 1) // nchunks
        if hi > lo:
            _sop_range(a, b, c, nd, size, sa, sb, sc, lo, hi, binary, overwrite, tiled)


cdef int _order_loops(int nd, const Py_ssize_t* size, const Py_ssize_t* sa,
                      const Py_ssize_t* sb, const Py_ssize_t* sc, Py_ssize_t* osize,
                      Py_ssize_t* osa, Py_ssize_t* osb, Py_ssize_t* osc,
                      int* nthreads, bint* tiled) noexcept nogil:
    """Drop size-1 loops, sort the rest (small strides innermost), merge contiguous runs.

    Returns the new number of loops; picks a thread count and, when parallel, moves the
    outermost loop that writes distinct outputs to the front.
    """
    cdef int perm[MAXD]
    cdef int n = 0, k, j, tmp, par
    cdef Py_ssize_t key_j, key_k, work = 1
    for k in range(nd):
        if size[k] != 1:
            perm[n] = k
            n += 1
    # insertion sort, descending by total stride magnitude: outer loops first
    for k in range(1, n):
        tmp = perm[k]
        key_k = _absz(sa[tmp]) + _absz(sb[tmp]) + _absz(sc[tmp])
        j = k - 1
        while j >= 0:
            key_j = _absz(sa[perm[j]]) + _absz(sb[perm[j]]) + _absz(sc[perm[j]])
            if key_j >= key_k:
                break
            perm[j + 1] = perm[j]
            j -= 1
        perm[j + 1] = tmp
    for k in range(n):
        tmp = perm[k]
        osize[k] = size[tmp]
        osa[k] = sa[tmp]
        osb[k] = sb[tmp]
        osc[k] = sc[tmp]
    n = _merge_runs(n, osize, osa, osb, osc)
    for k in range(n):
        work *= osize[k]
    # an operand that would rather run along the second-innermost loop: block the two
    tiled[0] = n >= 2 and osize[n - 1] > 4 and osize[n - 2] > 4 and (
        _absz(osa[n - 2]) < _absz(osa[n - 1]) or _absz(osb[n - 2]) < _absz(osb[n - 1])
        or _absz(osc[n - 2]) < _absz(osc[n - 1]))
    nthreads[0] = 1
    if work >= PARALLEL_WORK and n > 0:
        par = -1
        for k in range(n):
            if osc[k] != 0 and osize[k] >= 2:
                par = k
                break
        if par >= 0 and MAX_THREADS > 1 and not (tiled[0] and par >= n - 2):
            nthreads[0] = MAX_THREADS
            _rotate_front(par, osize, osa, osb, osc)
    return n


cdef inline Py_ssize_t _absz(Py_ssize_t x) noexcept nogil:
    return -x if x < 0 else x


cdef int _merge_runs(int n, Py_ssize_t* size, Py_ssize_t* sa, Py_ssize_t* sb,
                     Py_ssize_t* sc) noexcept nogil:
    """Fuse an outer loop with the next inner one when all strides chain exactly."""
    cdef int k, w = 0
    if n == 0:
        return 0
    for k in range(1, n):
        if (sa[w] == sa[k] * size[k] and sb[w] == sb[k] * size[k]
                and sc[w] == sc[k] * size[k] and (sc[w] == 0) == (sc[k] == 0)):
            size[k] = size[w] * size[k]
            size[w] = size[k]
            sa[w] = sa[k]
            sb[w] = sb[k]
            sc[w] = sc[k]
        else:
            w += 1
            size[w] = size[k]
            sa[w] = sa[k]
            sb[w] = sb[k]
            sc[w] = sc[k]
    return w + 1


cdef void _rotate_front(int par, Py_ssize_t* size, Py_ssize_t* sa, Py_ssize_t* sb,
                        Py_ssize_t* sc) noexcept nogil:
    cdef Py_ssize_t s0 = size[par], a0 = sa[par], b0 = sb[par], c0 = sc[par]
    cdef int k
    for k in range(par, 0, -1):
        size[k] = size[k - 1]
        sa[k] = sa[k - 1]
        sb[k] = sb[k - 1]
        sc[k] = sc[k - 1]
    size[0] = s0
    sa[0] = a0
    sb[0] = b0
    sc[0] = c0


cdef void _sop_typed(int typenum, char* a, char* b, char* c, int nd, const Py_ssize_t* size,
                     const Py_ssize_t* sa, const Py_ssize_t* sb, const Py_ssize_t* sc,
                     bint binary, bint overwrite, int nthreads, bint tiled) noexcept nogil:
    if typenum == cnp.NPY_FLOAT64:
        _sop(<double*>a, <double*>b, <double*>c, nd, size, sa, sb, sc, binary, overwrite, nthreads, tiled)
    elif typenum == cnp.NPY_FLOAT32:
        _sop(<float*>a, <float*>b, <float*>c, nd, size, sa, sb, sc, binary, overwrite, nthreads, tiled)
    elif typenum == cnp.NPY_COMPLEX128:
        _sop(<double complex*>a, <double complex*>b, <double complex*>c, nd, size, sa, sb, sc,
             binary, overwrite, nthreads, tiled)
    else:
        _sop(<float complex*>a, <float complex*>b, <float complex*>c, nd, size, sa, sb, sc,
             binary, overwrite, nthreads, tiled)


cdef void run_sop(int typenum, char* a, char* b, char* c, int nd, const Py_ssize_t* size,
                  const Py_ssize_t* sa, const Py_ssize_t* sb, const Py_ssize_t* sc,
                  bint binary, bint overwrite) noexcept nogil:
    cdef Py_ssize_t osize[MAXD]
    cdef Py_ssize_t osa[MAXD]
    cdef Py_ssize_t osb[MAXD]
    cdef Py_ssize_t osc[MAXD]
    cdef int nthreads = 1
    cdef bint tiled = False
    cdef int n = _order_loops(nd, size, sa, sb, sc, osize, osa, osb, osc, &nthreads, &tiled)
    _sop_typed(typenum, a, b, c, n, osize, osa, osb, osc, binary, overwrite, nthreads, tiled)


# ---------------------------------------------------------------------------------------
# GEMM kernel

cdef int _merge_group(int nd, const int* role, int want, const Py_ssize_t* size,
                      const Py_ssize_t* s, Py_ssize_t* total, Py_ssize_t* stride) noexcept nogil:
    """View the loop dims of one role as a single axis of ``s``; 0 when impossible."""
    cdef int k
    cdef Py_ssize_t expect = -1
    total[0] = 1
    stride[0] = 0
    for k in range(nd - 1, -1, -1):
        if role[k] != want:
            continue
        total[0] *= size[k]
        if size[k] == 1:
            continue
        if expect == -1:
            stride[0] = s[k]
            expect = s[k] * size[k]
        elif s[k] != expect:
            return 0
        else:
            expect = s[k] * size[k]
    return 1


cdef int _layout(Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t sr, Py_ssize_t sc,
                 int* ld) noexcept nogil:
    """1: row-major with leading dim ld; 2: column-major; 0: BLAS cannot read it."""
    if (cols == 1 or sc == 1) and (rows == 1 or sr >= cols):
        ld[0] = sr if rows > 1 else (cols if cols > 1 else 1)
        if ld[0] > INT_LIMIT:
            return 0
        return 1
    if (rows == 1 or sr == 1) and (cols == 1 or sc >= rows):
        ld[0] = sc if cols > 1 else (rows if rows > 1 else 1)
        if ld[0] > INT_LIMIT:
            return 0
        return 2
    return 0


cdef void _gemm_call(int typenum, char ta, char tb, int m, int n, int k, char* a, int lda,
                     char* b, int ldb, char* c, int ldc) noexcept nogil:
    cdef float s_one = 1.0, s_zero = 0.0
    cdef double d_one = 1.0, d_zero = 0.0
    cdef float complex c_one = 1.0, c_zero = 0.0
    cdef double complex z_one = 1.0, z_zero = 0.0
    if typenum == cnp.NPY_FLOAT64:
        dgemm(&ta, &tb, &m, &n, &k, &d_one, <double*>a, &lda, <double*>b, &ldb, &d_zero,
              <double*>c, &ldc)
    elif typenum == cnp.NPY_FLOAT32:
        sgemm(&ta, &tb, &m, &n, &k, &s_one, <float*>a, &lda, <float*>b, &ldb, &s_zero,
              <float*>c, &ldc)
    elif typenum == cnp.NPY_COMPLEX128:
        zgemm(&ta, &tb, &m, &n, &k, &z_one, <double complex*>a, &lda, <double complex*>b, &ldb,
              &z_zero, <double complex*>c, &ldc)
    else:
        cgemm(&ta, &tb, &m, &n, &k, &c_one, <float complex*>a, &lda, <float complex*>b, &ldb,
              &c_zero, <float complex*>c, &ldc)


cdef void _gemv_call(int typenum, char trans, int m, int n, char* a, int lda, char* x,
                     int incx, char* y, int incy) noexcept nogil:
    cdef float s_one = 1.0, s_zero = 0.0
    cdef double d_one = 1.0, d_zero = 0.0
    cdef float complex c_one = 1.0, c_zero = 0.0
    cdef double complex z_one = 1.0, z_zero = 0.0
    if typenum == cnp.NPY_FLOAT64:
        dgemv(&trans, &m, &n, &d_one, <double*>a, &lda, <double*>x, &incx, &d_zero, <double*>y, &incy)
    elif typenum == cnp.NPY_FLOAT32:
        sgemv(&trans, &m, &n, &s_one, <float*>a, &lda, <float*>x, &incx, &s_zero, <float*>y, &incy)
    elif typenum == cnp.NPY_COMPLEX128:
        zgemv(&trans, &m, &n, &z_one, <double complex*>a, &lda, <double complex*>x, &incx,
              &z_zero, <double complex*>y, &incy)
    else:
        cgemv(&trans, &m, &n, &c_one, <float complex*>a, &lda, <float complex*>x, &incx,
              &c_zero, <float complex*>y, &incy)


cdef void _dot_call(int typenum, int n, char* x, int incx, char* y, int incy,
                    char* out) noexcept nogil:
    if typenum == cnp.NPY_FLOAT64:
        (<double*>out)[0] = ddot(&n, <double*>x, &incx, <double*>y, &incy)
    elif typenum == cnp.NPY_FLOAT32:
        (<float*>out)[0] = sdot(&n, <float*>x, &incx, <float*>y, &incy)
    elif typenum == cnp.NPY_COMPLEX128:
        (<double complex*>out)[0] = zdotu(&n, <double complex*>x, &incx, <double complex*>y, &incy)
    else:
        (<float complex*>out)[0] = cdotu(&n, <float complex*>x, &incx, <float complex*>y, &incy)


cdef inline int _inc(Py_ssize_t count, Py_ssize_t stride) noexcept nogil:
    return <int>stride if count > 1 else 1


cdef void _product(int typenum, char* pa, int la, int lda, Py_ssize_t sAm, Py_ssize_t sAk,
                   char* pb, int lb, int ldb, Py_ssize_t sBk, Py_ssize_t sBn,
                   char* pc, int lc, int ldc, Py_ssize_t sCm, Py_ssize_t sCn,
                   int M, int N, int K) noexcept nogil:
    """One C = A B through BLAS: DOT for a scalar, GEMV for a vector, GEMM otherwise."""
    cdef char ta, tb
    if N == 1 and M == 1:
        _dot_call(typenum, K, pa, _inc(K, sAk), pb, _inc(K, sBk), pc)
        return
    if N == 1:
        # c = A b: A row-major is A^T (K x M) to column-major BLAS
        if la == 1:
            _gemv_call(typenum, b'T', K, M, pa, lda, pb, _inc(K, sBk), pc, _inc(M, sCm))
        else:
            _gemv_call(typenum, b'N', M, K, pa, lda, pb, _inc(K, sBk), pc, _inc(M, sCm))
        return
    if M == 1:
        # c = B^T a
        if lb == 1:
            _gemv_call(typenum, b'N', N, K, pb, ldb, pa, _inc(K, sAk), pc, _inc(N, sCn))
        else:
            _gemv_call(typenum, b'T', K, N, pb, ldb, pa, _inc(K, sAk), pc, _inc(N, sCn))
        return
    if lc == 1:
        # row-major C: BLAS (column-major) computes C^T = B^T A^T
        ta = b'N' if lb == 1 else b'T'
        tb = b'N' if la == 1 else b'T'
        _gemm_call(typenum, ta, tb, N, M, K, pb, ldb, pa, lda, pc, ldc)
    else:
        ta = b'N' if la == 2 else b'T'
        tb = b'N' if lb == 2 else b'T'
        _gemm_call(typenum, ta, tb, M, N, K, pa, lda, pb, ldb, pc, ldc)


cdef object _pack(int typenum, Py_ssize_t itemsize, char* data, int nd, const Py_ssize_t* size,
                  const Py_ssize_t* s, const int* role, int first, int second,
                  Py_ssize_t* s_new):
    """Copy an operand into a fresh C-ordered buffer (batch, first-role, second-role dims)."""
    cdef cnp.npy_intp shape[MAXD]
    cdef int order[MAXD]
    cdef int n = 0, k, r
    cdef int roles3[3]
    cdef Py_ssize_t stride = 1
    cdef Py_ssize_t zeros[MAXD]
    cdef Py_ssize_t own[MAXD]      # loops over dims this operand lacks would sum copies
    roles3[0] = BATCH
    roles3[1] = first
    roles3[2] = second
    for r in range(3):
        for k in range(nd):
            if role[k] == roles3[r]:
                order[n] = k
                shape[n] = size[k]
                n += 1
    for k in range(nd):
        s_new[k] = 0
        zeros[k] = 0
        own[k] = size[k] if role[k] == BATCH or role[k] == first or role[k] == second else 1
    for r in range(n - 1, -1, -1):
        s_new[order[r]] = stride
        stride *= size[order[r]]
    buf = cnp.PyArray_EMPTY(n, shape, typenum, 0)
    cdef char* dst = <char*>cnp.PyArray_DATA(buf)
    with nogil:
        run_sop(typenum, data, NULL, dst, nd, own, s, zeros, s_new, False, True)
    return buf


cdef object _as_matrices(Step st, int typenum, Py_ssize_t itemsize, char** data,
                         Py_ssize_t* s, int first, int second, Py_ssize_t* rows,
                         Py_ssize_t* s_rows, Py_ssize_t* cols, Py_ssize_t* s_cols, int* ld,
                         int* layout):
    """View an operand as a batch of (first x second) matrices that BLAS can read.

    Packs the operand once when its strides do not allow it; returns the packed buffer (keep
    it alive) or None. ``layout`` is 0 when even the packed copy does not fit BLAS's ints.
    """
    cdef Py_ssize_t snew[MAXD]
    cdef int k
    keep = None
    for attempt in range(2):
        if (_merge_group(st.nd, st.role, first, st.size, s, rows, s_rows)
                and _merge_group(st.nd, st.role, second, st.size, s, cols, s_cols)):
            if rows[0] > INT_LIMIT or cols[0] > INT_LIMIT:
                break
            layout[0] = _layout(rows[0], cols[0], s_rows[0], s_cols[0], ld)
            if layout[0] != 0:
                return keep
        if attempt == 0:
            keep = _pack(typenum, itemsize, data[0], st.nd, st.size, s, st.role, first, second,
                         snew)
            data[0] = <char*>cnp.PyArray_DATA(keep)
            for k in range(st.nd):
                s[k] = snew[k]
    layout[0] = 0
    return keep


cdef int _gemm_step(Step st, int typenum, Py_ssize_t itemsize, char* pa, Py_ssize_t* sa,
                    char* pb, Py_ssize_t* sb, char* pc, Py_ssize_t* sc) except -1:
    """Batched C = A B. Returns 0 when BLAS cannot be used (the caller runs SOP)."""
    cdef Py_ssize_t M, N, K, K2, sAm, sAk, sBk, sBn, sCm, sCn
    cdef int lda, ldb, ldc, la, lb, lc
    # C is ours and laid out for this step: it needs no packing.
    if not (_merge_group(st.nd, st.role, ROW, st.size, sc, &M, &sCm)
            and _merge_group(st.nd, st.role, COL, st.size, sc, &N, &sCn)):
        return 0
    if M > INT_LIMIT or N > INT_LIMIT:
        return 0
    lc = _layout(M, N, sCm, sCn, &ldc)
    if lc == 0:
        return 0
    keep_a = _as_matrices(st, typenum, itemsize, &pa, sa, ROW, INNER, &M, &sAm, &K, &sAk,
                          &lda, &la)
    keep_b = _as_matrices(st, typenum, itemsize, &pb, sb, INNER, COL, &K2, &sBk, &N, &sBn,
                          &ldb, &lb)
    if la == 0 or lb == 0:
        return 0
    with nogil:
        _gemm_batches(st, typenum, itemsize, pa, sa, la, lda, sAm, sAk, pb, sb, lb, ldb, sBk, sBn,
                      pc, sc, lc, ldc, sCm, sCn, <int>M, <int>N, <int>K)
    return 1


cdef void _gemm_batches(Step st, int typenum, Py_ssize_t itemsize, char* pa,
                        const Py_ssize_t* sa, int la, int lda, Py_ssize_t sAm, Py_ssize_t sAk,
                        char* pb, const Py_ssize_t* sb, int lb, int ldb, Py_ssize_t sBk,
                        Py_ssize_t sBn, char* pc, const Py_ssize_t* sc, int lc, int ldc,
                        Py_ssize_t sCm, Py_ssize_t sCn, int M, int N, int K) noexcept nogil:
    cdef int bdims[MAXD]
    cdef Py_ssize_t idx[MAXD]
    cdef int nb = 0, k, d
    for k in range(st.nd):
        if st.role[k] == BATCH and st.size[k] != 1:
            bdims[nb] = k
            idx[nb] = 0
            nb += 1
    while True:
        _product(typenum, pa, la, lda, sAm, sAk, pb, lb, ldb, sBk, sBn, pc, lc, ldc, sCm, sCn,
                 M, N, K)
        k = nb - 1
        while k >= 0:
            d = bdims[k]
            idx[k] += 1
            pa += sa[d] * itemsize
            pb += sb[d] * itemsize
            pc += sc[d] * itemsize
            if idx[k] < st.size[d]:
                break
            pa -= sa[d] * itemsize * idx[k]
            pb -= sb[d] * itemsize * idx[k]
            pc -= sc[d] * itemsize * idx[k]
            idx[k] = 0
            k -= 1
        if k < 0:
            return


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
