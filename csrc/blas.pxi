# Included by _core.pyx. BLAS steps: batched GEMM (GEMV for vectors, DOT for scalars)
# through scipy.linalg.cython_blas, reading operands through their strides and packing an
# operand only when no leading dimension describes it.

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
