# Included by _core.pyx. BLAS steps: batched GEMM (GEMV for vectors, DOT for scalars)
# through scipy.linalg.cython_blas, reading operands through their strides and packing an
# operand only when no leading dimension describes it.
#
# scipy's BLAS takes 32-bit ints. Sizes, strides and leading dimensions stay Py_ssize_t until
# _layout has checked them against INT_LIMIT; the only narrowing is in the typed calls at the
# bottom, on values that passed that check. A step that cannot pass it is packed or left to
# the typed loops, never handed to BLAS truncated.

cdef inline int _merge_group(int nd, const int* role, int want, const Py_ssize_t* size,
                             const Py_ssize_t* s, Py_ssize_t* total,
                             Py_ssize_t* stride) noexcept nogil:
    """View the loop dims of one role as a single axis of ``s``; 0 when impossible."""
    cdef int k
    cdef Py_ssize_t expect = -1
    total[0] = 1
    stride[0] = 0
    for k in range(nd - 1, -1, -1):
        if role[k] != want:
            continue
        total[0] = _mul_sat(total[0], size[k])
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


cdef inline bint _broadcast_in(int nd, const int* role, int want, const Py_ssize_t* size,
                               const Py_ssize_t* s) noexcept nogil:
    """Whether the operand repeats itself (stride 0) along a loop dim of this role."""
    cdef int k
    for k in range(nd):
        if role[k] == want and size[k] > 1 and s[k] == 0:
            return True
    return False


cdef inline int _layout(Mat* m) noexcept nogil:
    """Set m.layout (ROW_MAJOR, COL_MAJOR, or 0 when BLAS cannot read it) and m.ld.

    Every BLAS int a layout implies is checked here: the sizes, the leading dimension and
    each stride of an axis longer than 1, which is then 1 or the leading dimension.
    """
    cdef Py_ssize_t rows = m.rows, cols = m.cols, sr = m.s_rows, sc = m.s_cols
    m.layout = 0
    m.ld = 1
    if rows > INT_LIMIT or cols > INT_LIMIT:
        return 0
    if (cols == 1 or sc == 1) and (rows == 1 or (sr >= cols and sr <= INT_LIMIT)):
        m.ld = sr if rows > 1 else (cols if cols > 1 else 1)
        m.layout = ROW_MAJOR
    elif (rows == 1 or sr == 1) and (cols == 1 or (sc >= rows and sc <= INT_LIMIT)):
        m.ld = sc if cols > 1 else (rows if rows > 1 else 1)
        m.layout = COL_MAJOR
    return m.layout


cdef object _pack(int typenum, char* data, int nd, const Py_ssize_t* size,
                  const Py_ssize_t* s, const int* role, int first, int second,
                  Py_ssize_t* s_new):
    """Copy an operand into a fresh C-ordered buffer (batch, first-role, second-role dims).

    Batch dims the operand is broadcast along (stride 0) are not copied: the packed operand
    keeps stride 0 there and the batch loop re-reads it, so a broadcast costs no memory.
    """
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
    for k in range(nd):
        s_new[k] = 0
        zeros[k] = 0
        own[k] = 1
    for r in range(3):
        for k in range(nd):
            if role[k] == roles3[r] and not (r == 0 and s[k] == 0):
                order[n] = k
                shape[n] = size[k]
                own[k] = size[k]
                n += 1
    for r in range(n - 1, -1, -1):
        s_new[order[r]] = stride
        stride *= size[order[r]]
    buf = cnp.PyArray_EMPTY(n, shape, typenum, 0)
    cdef char* dst = <char*>cnp.PyArray_DATA(buf)
    with nogil:
        run_sop(typenum, data, NULL, dst, nd, own, s, zeros, s_new, False, True)
    return buf


cdef object _as_matrices(Step st, int typenum, Mat* m, int first, int second):
    """View an operand as a batch of (first x second) matrices that BLAS can read.

    Packs the operand once when its strides do not allow it; returns the packed buffer (keep
    it alive) or None. ``m.layout`` stays 0 when even the packed copy does not fit BLAS.
    """
    cdef Py_ssize_t snew[MAXD]
    cdef int k
    keep = None
    for attempt in range(2):
        if (_merge_group(st.nd, st.role, first, st.size, m.s, &m.rows, &m.s_rows)
                and _merge_group(st.nd, st.role, second, st.size, m.s, &m.cols, &m.s_cols)
                and _layout(m)):
            return keep
        if attempt == 0:
            keep = _pack(typenum, m.data, st.nd, st.size, m.s, st.role, first, second, snew)
            m.data = <char*>cnp.PyArray_DATA(keep)
            for k in range(st.nd):
                m.s[k] = snew[k]
    m.layout = 0
    return keep


cdef int _gemm_step(Step st, int typenum, char* pa, Py_ssize_t* sa, char* pb, Py_ssize_t* sb,
                    char* pc, Py_ssize_t* sc) except -1:
    """Batched C = A B. Returns 0 when BLAS cannot be used (the caller runs SOP)."""
    cdef Kernel job
    job.kind = GEMM
    job.nd = st.nd
    job.size = st.size
    job.role = st.role
    job.A.data, job.A.s = pa, sa
    job.B.data, job.B.s = pb, sb
    job.C.data, job.C.s = pc, sc
    # C is ours and laid out for this step: it needs no packing.
    if not (_merge_group(st.nd, st.role, ROW, st.size, sc, &job.C.rows, &job.C.s_rows)
            and _merge_group(st.nd, st.role, COL, st.size, sc, &job.C.cols, &job.C.s_cols)
            and _layout(&job.C)):
        return 0
    if job.C.rows == 1 and job.C.cols == 1 and (
            _broadcast_in(st.nd, st.role, INNER, st.size, sa)
            or _broadcast_in(st.nd, st.role, INNER, st.size, sb)):
        # A dot product with a broadcast operand: BLAS would need it packed to full length
        # (a zero increment is not valid for every BLAS), the typed loops read it in place.
        return 0
    keep_a = _as_matrices(st, typenum, &job.A, ROW, INNER)
    keep_b = _as_matrices(st, typenum, &job.B, INNER, COL)
    if job.A.layout == 0 or job.B.layout == 0:
        return 0
    with nogil:
        _dispatch(typenum, &job)
    return 1


# ---------------------------------------------------------------------------------------
# Typed: the batch loop and the BLAS calls (one specialization per dtype, see _dispatch)

cdef inline int _inc(Py_ssize_t count, Py_ssize_t stride) noexcept nogil:
    # _layout checked the stride of every axis longer than 1 against INT_LIMIT
    return <int>stride if count > 1 else 1


cdef void _gemm_t(num* a, num* b, num* c, char ta, char tb, Py_ssize_t m, Py_ssize_t n,
                  Py_ssize_t k, Py_ssize_t lda, Py_ssize_t ldb, Py_ssize_t ldc) noexcept nogil:
    cdef num one = 1, zero = 0
    cdef int im = <int>m, jn = <int>n, kk = <int>k
    cdef int la = <int>lda, lb = <int>ldb, lc = <int>ldc
    if num is double:
        dgemm(&ta, &tb, &im, &jn, &kk, &one, a, &la, b, &lb, &zero, c, &lc)
    elif num is float:
        sgemm(&ta, &tb, &im, &jn, &kk, &one, a, &la, b, &lb, &zero, c, &lc)
    elif num is complex128:
        zgemm(&ta, &tb, &im, &jn, &kk, &one, a, &la, b, &lb, &zero, c, &lc)
    else:
        cgemm(&ta, &tb, &im, &jn, &kk, &one, a, &la, b, &lb, &zero, c, &lc)


cdef void _gemv_t(num* a, char trans, Py_ssize_t m, Py_ssize_t n, Py_ssize_t lda, num* x,
                  int incx, num* y, int incy) noexcept nogil:
    cdef num one = 1, zero = 0
    cdef int im = <int>m, jn = <int>n, la = <int>lda
    if num is double:
        dgemv(&trans, &im, &jn, &one, a, &la, x, &incx, &zero, y, &incy)
    elif num is float:
        sgemv(&trans, &im, &jn, &one, a, &la, x, &incx, &zero, y, &incy)
    elif num is complex128:
        zgemv(&trans, &im, &jn, &one, a, &la, x, &incx, &zero, y, &incy)
    else:
        cgemv(&trans, &im, &jn, &one, a, &la, x, &incx, &zero, y, &incy)


cdef void _dot_t(Py_ssize_t n, num* x, int incx, num* y, int incy, num* out) noexcept nogil:
    cdef int nn = <int>n
    if num is double:
        out[0] = ddot(&nn, x, &incx, y, &incy)
    elif num is float:
        out[0] = sdot(&nn, x, &incx, y, &incy)
    elif num is complex128:
        out[0] = zdotu(&nn, x, &incx, y, &incy)
    else:
        out[0] = cdotu(&nn, x, &incx, y, &incy)


cdef void _product(num* a, num* b, num* c, const Kernel* job, Py_ssize_t M, Py_ssize_t N,
                   Py_ssize_t K) noexcept nogil:
    """One C = A B of M x N (a block of the step's product, or all of it) through BLAS:
    DOT for a scalar, GEMV for a vector, GEMM otherwise. A block keeps the strides and
    leading dimensions of the whole, so every layout _layout checked still holds."""
    cdef const Mat* A = &job.A
    cdef const Mat* B = &job.B
    cdef const Mat* C = &job.C
    cdef char ta, tb
    if N == 1 and M == 1:
        _dot_t(K, a, _inc(K, A.s_cols), b, _inc(K, B.s_rows), c)
        return
    if N == 1:
        # c = A b: A row-major is A^T (K x M) to column-major BLAS
        if A.layout == ROW_MAJOR:
            _gemv_t(a, c'T', K, M, A.ld, b, _inc(K, B.s_rows), c, _inc(M, C.s_rows))
        else:
            _gemv_t(a, c'N', M, K, A.ld, b, _inc(K, B.s_rows), c, _inc(M, C.s_rows))
        return
    if M == 1:
        # c = B^T a
        if B.layout == ROW_MAJOR:
            _gemv_t(b, c'N', N, K, B.ld, a, _inc(K, A.s_cols), c, _inc(N, C.s_cols))
        else:
            _gemv_t(b, c'T', K, N, B.ld, a, _inc(K, A.s_cols), c, _inc(N, C.s_cols))
        return
    if C.layout == ROW_MAJOR:
        # row-major C: BLAS (column-major) computes C^T = B^T A^T
        ta = c'N' if B.layout == ROW_MAJOR else c'T'
        tb = c'N' if A.layout == ROW_MAJOR else c'T'
        _gemm_t(b, a, c, ta, tb, N, M, K, B.ld, A.ld, C.ld)
    else:
        ta = c'N' if A.layout == COL_MAJOR else c'T'
        tb = c'N' if B.layout == COL_MAJOR else c'T'
        _gemm_t(a, b, c, ta, tb, M, N, K, A.ld, B.ld, C.ld)


cdef enum:
    SPLIT_NONE = 0      # items are ranges of whole products
    SPLIT_ROWS = 1      # items are (product, block of rows): each re-reads all of B
    SPLIT_COLS = 2      # items are (product, block of columns): each re-reads all of A
    SPLIT_INNER = 3     # items are (product, slab of the inner length) into scratch C's,
                        # summed afterwards in a fixed order


cdef struct GemmItems:
    # How one GEMM step is cut into items for the thread pool (see _plan_items).
    const Kernel* job
    Kernel scratch                # SPLIT_INNER: the job writing one M x N row-major partial
    int nb                        # batch loop dims longer than 1, outermost first
    int bdims[MAXD]
    Py_ssize_t nbatch             # products in the step
    Py_ssize_t nitems
    int split
    Py_ssize_t nsplit             # blocks per product
    Py_ssize_t length             # the length being cut into blocks (M, N or K)
    Py_ssize_t unit               # block edges fall on multiples of this (BLAS kernel widths)
    Py_ssize_t area               # SPLIT_INNER: M * N, the elements of one partial
    void* partial                 # SPLIT_INNER: one partial per item


cdef inline void _batch_offsets(const GemmItems* t, Py_ssize_t q, Py_ssize_t* oa,
                                Py_ssize_t* ob, Py_ssize_t* oc) noexcept nogil:
    """Element offsets of the ``q``-th product of the step (batch dims in row-major order)."""
    cdef const Kernel* job = t.job
    cdef int k, d
    cdef Py_ssize_t idx
    oa[0] = 0
    ob[0] = 0
    oc[0] = 0
    for k in range(t.nb - 1, -1, -1):
        d = t.bdims[k]
        idx = q % job.size[d]
        q = q // job.size[d]
        oa[0] += idx * job.A.s[d]
        ob[0] += idx * job.B.s[d]
        oc[0] += idx * job.C.s[d]


cdef inline Py_ssize_t _edge(const GemmItems* t, Py_ssize_t r) noexcept nogil:
    """Start of block ``r`` of ``t.nsplit`` over ``t.length`` (r = nsplit: the end)."""
    if r >= t.nsplit:
        return t.length
    return (t.length // t.unit) * r // t.nsplit * t.unit


cdef int _pick_split(const Kernel* job, Py_ssize_t* length, Py_ssize_t* edge,
                     bint inner_ok) noexcept nogil:
    """Where to cut one product, and the least block edge (0 edge: do not cut).

    A matrix-vector product or a dot reads its matrix once: cut it so that each block is a
    run of whole contiguous rows (or columns) of it. A GEMM is cut where the extra traffic is
    least: row blocks re-read B (K x N), column blocks A (M x K), inner slabs write and sum
    one M x N partial each (not with ``inner_ok`` false: their scratch would be too big).
    """
    cdef Py_ssize_t M = job.C.rows, N = job.C.cols, K = job.A.cols
    cdef Py_ssize_t rows, cols, inner
    edge[0] = 8
    if M == 1 and N == 1:
        length[0] = K
        return SPLIT_INNER if inner_ok else SPLIT_NONE
    # (a few long rows or columns: pieces of the inner length instead)
    if N == 1:
        if M >= 16 and (job.A.layout == ROW_MAJOR or not inner_ok):
            length[0] = M
            return SPLIT_ROWS
        length[0] = K
        return SPLIT_INNER if inner_ok else SPLIT_NONE
    if M == 1:
        if N >= 16 and (job.B.layout != ROW_MAJOR or not inner_ok):
            length[0] = N
            return SPLIT_COLS
        length[0] = K
        return SPLIT_INNER if inner_ok else SPLIT_NONE
    # blocks narrower than this spend too much on packing the operand they share
    edge[0] = 64
    rows = _mul_sat(K, N) if M >= 2 * edge[0] else PY_SSIZE_T_MAX
    cols = _mul_sat(M, K) if N >= 2 * edge[0] else PY_SSIZE_T_MAX
    inner = _mul_sat(2 * M, N) if K >= 2 * edge[0] and inner_ok else PY_SSIZE_T_MAX
    if rows == PY_SSIZE_T_MAX and cols == PY_SSIZE_T_MAX and inner == PY_SSIZE_T_MAX:
        edge[0] = 0
        return SPLIT_NONE
    if inner < rows and inner < cols:
        length[0] = K
        return SPLIT_INNER
    if cols < rows:
        length[0] = N
        return SPLIT_COLS
    length[0] = M
    return SPLIT_ROWS


cdef bint _plan_items(GemmItems* t, const Kernel* job, int nthreads,
                      Py_ssize_t itemsize) noexcept nogil:
    """Decide how to cut the step; False when it should run as one piece.

    Many products: ranges of whole products, ITEMS_PER_THREAD per thread. Fewer: each
    product is cut as well (_pick_split), so that one big GEMM or GEMV is shared too.
    """
    cdef Py_ssize_t M = job.C.rows, N = job.C.cols, K = job.A.cols
    cdef Py_ssize_t work, target, least, edge = 0, length = 0, want
    cdef int k
    t.job = job
    t.nb = 0
    t.nbatch = 1
    t.partial = NULL
    for k in range(job.nd):
        if job.role[k] == BATCH and job.size[k] != 1:
            t.bdims[t.nb] = k
            t.nb += 1
            t.nbatch = _mul_sat(t.nbatch, job.size[k])
    if nthreads <= 1 or t.nbatch == PY_SSIZE_T_MAX:
        return False
    work = _mul_sat(_mul_sat(_mul_sat(M, N), K), t.nbatch)
    least = PARALLEL_STREAM if (M == 1 or N == 1) else PARALLEL_GEMM
    if work < least:
        return False
    # no item smaller than a fraction of the threshold: each must pay for its hand-over
    target = min(<Py_ssize_t>nthreads * ITEMS_PER_THREAD, work // (least // 8))
    t.split = SPLIT_NONE
    t.nsplit = 1
    if t.nbatch < target:
        t.area = _mul_sat(M, N)
        t.split = _pick_split(job, &length, &edge, True)
        if t.split == SPLIT_INNER and _mul_sat(_mul_sat(t.area, t.nbatch * 2),
                                               itemsize) > SCRATCH_LIMIT:
            # even two partials per product are too big: cut rows or columns instead (a
            # step left whole would run on one thread, BLAS being held at one)
            t.split = _pick_split(job, &length, &edge, False)
        if t.split != SPLIT_NONE:
            want = (target + t.nbatch - 1) // t.nbatch
            t.nsplit = min(want, length // edge)
            if t.split == SPLIT_INNER:    # as many partials as the scratch allows
                t.nsplit = min(t.nsplit, SCRATCH_LIMIT // max(
                    _mul_sat(_mul_sat(t.area, t.nbatch), itemsize), 1))
            if t.nbatch == 1 and t.nsplit > nthreads:
                t.nsplit -= t.nsplit % nthreads   # 3 blocks on 2 threads take 2 rounds
            t.length = length
            if t.nsplit >= 2:
                t.unit = 8 if length // t.nsplit >= 64 else 1
        if t.nsplit < 2:
            t.split = SPLIT_NONE
            t.nsplit = 1
    if t.split == SPLIT_NONE:
        t.nitems = min(target, t.nbatch)
        return t.nitems >= 2
    t.nitems = t.nbatch * t.nsplit
    if t.split == SPLIT_INNER:
        # partials are row-major M x N; BLAS reads them through this copy of the job
        t.scratch = job[0]
        t.scratch.C.rows = M
        t.scratch.C.cols = N
        t.scratch.C.s_rows = N
        t.scratch.C.s_cols = 1
        t.scratch.C.ld = N if N > 1 else 1
        t.scratch.C.layout = ROW_MAJOR
    return True


cdef void _gemm_item(void* ctx, Py_ssize_t i) noexcept nogil:
    cdef const GemmItems* t = <const GemmItems*>ctx
    if t.job.typenum == cnp.NPY_FLOAT64:
        _gemm_part(<double*>NULL, t, i)
    elif t.job.typenum == cnp.NPY_FLOAT32:
        _gemm_part(<float*>NULL, t, i)
    elif t.job.typenum == cnp.NPY_COMPLEX128:
        _gemm_part(<complex128*>NULL, t, i)
    else:
        _gemm_part(<complex64*>NULL, t, i)


cdef void _gemm_part(num* tag, const GemmItems* t, Py_ssize_t i) noexcept nogil:
    """Item ``i``: a range of whole products, or one block of one product."""
    cdef const Kernel* job = t.job
    cdef num* a = <num*>job.A.data
    cdef num* b = <num*>job.B.data
    cdef num* c = <num*>job.C.data
    cdef num* p
    cdef Py_ssize_t M = job.C.rows, N = job.C.cols, K = job.A.cols
    cdef Py_ssize_t oa, ob, oc, q, lo, hi, r, k
    if t.split == SPLIT_NONE:
        lo = t.nbatch * i // t.nitems
        hi = t.nbatch * (i + 1) // t.nitems
        for q in range(lo, hi):
            _batch_offsets(t, q, &oa, &ob, &oc)
            _product(a + oa, b + ob, c + oc, job, M, N, K)
        return
    q = i // t.nsplit
    r = i % t.nsplit
    lo = _edge(t, r)
    hi = _edge(t, r + 1)
    _batch_offsets(t, q, &oa, &ob, &oc)
    a += oa
    b += ob
    c += oc
    if t.split == SPLIT_ROWS:
        _product(a + lo * job.A.s_rows, b, c + lo * job.C.s_rows, job, hi - lo, N, K)
    elif t.split == SPLIT_COLS:
        _product(a, b + lo * job.B.s_cols, c + lo * job.C.s_cols, job, M, hi - lo, K)
    else:
        p = (<num*>t.partial) + i * t.area
        _product(a + lo * job.A.s_cols, b + lo * job.B.s_rows, p, &t.scratch, M, N, hi - lo)


cdef void _gemm_batches(num* a, num* b, num* c, const Kernel* job) noexcept nogil:
    """Every product of the step; BLAS held at one thread, the pool sharing the work."""
    cdef GemmItems items
    cdef Py_ssize_t product = _mul_sat(_mul_sat(job.C.rows, job.C.cols), job.A.cols)
    if product < BLAS_SERIAL and _mul_sat(product, _batch_count(job)) < PARALLEL_STREAM:
        # too small for the pool to share or for BLAS to thread: skip holding BLAS, which
        # costs two calls into it, a good part of a tiny contraction's time
        _gemm_serial(a, b, c, job)
        return
    cdef int held = tc_blas_enter()
    cdef int nthreads = _threads()
    # a BLAS whose threads cannot be held keeps them; the step then stays on this thread
    if held and _plan_items(&items, job, nthreads, sizeof(num)):
        _gemm_shared(a, b, c, &items, nthreads)
    else:
        _gemm_serial(a, b, c, job)
    tc_blas_leave(held)


cdef Py_ssize_t _batch_count(const Kernel* job) noexcept nogil:
    cdef Py_ssize_t count = 1
    cdef int k
    for k in range(job.nd):
        if job.role[k] == BATCH:
            count = _mul_sat(count, job.size[k])
    return count


cdef void _gemm_shared(num* a, num* b, num* c, GemmItems* items, int nthreads) noexcept nogil:
    if items.split == SPLIT_INNER:
        items.partial = malloc(items.nitems * items.area * sizeof(num))
        if items.partial == NULL:
            _gemm_serial(a, b, c, items.job)
            return
    tc_pool_run(_gemm_item, items, items.nitems, nthreads)
    CUT_COUNTS[items.split] += 1
    if items.split == SPLIT_INNER:
        _sum_partials(c, items)
        free(items.partial)


cdef void _sum_partials(num* c, const GemmItems* t) noexcept nogil:
    """C of every product = the sum of its partials, in block order (the result does not
    depend on which thread ran which block)."""
    cdef const Mat* C = &t.job.C
    cdef const num* p
    cdef num* cq
    cdef Py_ssize_t q, r, m, n, oa, ob, oc
    cdef Py_ssize_t M = C.rows, N = C.cols
    for q in range(t.nbatch):
        _batch_offsets(t, q, &oa, &ob, &oc)
        cq = c + oc
        for r in range(t.nsplit):
            p = (<const num*>t.partial) + (q * t.nsplit + r) * t.area
            for m in range(M):
                if r == 0:
                    for n in range(N):
                        cq[m * C.s_rows + n * C.s_cols] = p[m * N + n]
                else:
                    for n in range(N):
                        cq[m * C.s_rows + n * C.s_cols] = cq[m * C.s_rows + n * C.s_cols] + p[m * N + n]


cdef void _gemm_serial(num* a, num* b, num* c, const Kernel* job) noexcept nogil:
    """One product per batch index on this thread; a stride of 0 re-reads the same matrix."""
    cdef int bdims[MAXD]
    cdef Py_ssize_t idx[MAXD]
    cdef int nb = 0, k, d
    cdef Py_ssize_t M = job.C.rows, N = job.C.cols, K = job.A.cols
    cdef const Py_ssize_t* sa = job.A.s
    cdef const Py_ssize_t* sb = job.B.s
    cdef const Py_ssize_t* sc = job.C.s
    for k in range(job.nd):
        if job.role[k] == BATCH and job.size[k] != 1:
            bdims[nb] = k
            idx[nb] = 0
            nb += 1
    while True:
        _product(a, b, c, job, M, N, K)
        k = nb - 1
        while k >= 0:
            d = bdims[k]
            idx[k] += 1
            a += sa[d]
            b += sb[d]
            c += sc[d]
            if idx[k] < job.size[d]:
                break
            a -= sa[d] * idx[k]
            b -= sb[d] * idx[k]
            c -= sc[d] * idx[k]
            idx[k] = 0
            k -= 1
        if k < 0:
            return
