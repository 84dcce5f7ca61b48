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


cdef void _product(num* a, num* b, num* c, const Kernel* job) noexcept nogil:
    """One C = A B through BLAS: DOT for a scalar, GEMV for a vector, GEMM otherwise."""
    cdef const Mat* A = &job.A
    cdef const Mat* B = &job.B
    cdef const Mat* C = &job.C
    cdef Py_ssize_t M = C.rows, N = C.cols, K = A.cols
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


cdef void _gemm_batches(num* a, num* b, num* c, const Kernel* job) noexcept nogil:
    """One product per batch index; a stride of 0 re-reads the same matrix."""
    cdef int bdims[MAXD]
    cdef Py_ssize_t idx[MAXD]
    cdef int nb = 0, k, d
    cdef const Py_ssize_t* sa = job.A.s
    cdef const Py_ssize_t* sb = job.B.s
    cdef const Py_ssize_t* sc = job.C.s
    for k in range(job.nd):
        if job.role[k] == BATCH and job.size[k] != 1:
            bdims[nb] = k
            idx[nb] = 0
            nb += 1
    while True:
        _product(a, b, c, job)
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
