# Included by _core.pyx. The SOP kernel: C[..] (+)= A[..] * B[..] over a strided loop nest.
#
# Loops are reordered (small strides innermost), merged where strides chain, blocked when an
# operand runs along the second-innermost loop (transposes), and cut into slices for the
# thread pool (pool.h) when large enough to be worth waking a thread.

cdef enum:
    SUM_BLOCK = 4096        # a long reduction adds up runs of this many terms, then the runs


cdef inline num _sum_run(num* a, num* b, Py_ssize_t n, Py_ssize_t sa, Py_ssize_t sb,
                         bint binary) noexcept nogil:
    """The sum of a[i] (* b[i]) over one run; four accumulators let the compiler keep
    independent chains in flight."""
    cdef Py_ssize_t i = 0
    cdef num acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0
    if binary and sa == 1 and sb == 1:
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
    return (acc0 + acc1) + (acc2 + acc3)


cdef num _sum_blocked(num* a, num* b, Py_ssize_t n, Py_ssize_t sa, Py_ssize_t sb,
                      bint binary) noexcept nogil:
    """A long reduction in runs of SUM_BLOCK terms: one running total over a million terms
    loses about 1e-12 relative; adding run totals keeps the error near numpy's (its
    reductions go through buffers of 8192)."""
    cdef num total = 0
    cdef Py_ssize_t lo = 0
    while lo < n:
        total = total + _sum_run(a + lo * sa, b + lo * sb if binary else b,
                                 min(<Py_ssize_t>SUM_BLOCK, n - lo), sa, sb, binary)
        lo += SUM_BLOCK
    return total


cdef inline void _inner(num* a, num* b, num* c, Py_ssize_t n, Py_ssize_t sa, Py_ssize_t sb,
                        Py_ssize_t sc, bint binary, bint overwrite) noexcept nogil:
    cdef Py_ssize_t i
    cdef num acc0
    if sc == 0 and n > 1:
        if binary and (sa == 0 or sb == 0) and (sa == 1 or sb == 1):
            _dot_broadcast(a, b, c, n, sa, overwrite)
            return
        if n <= SUM_BLOCK:
            acc0 = _sum_run(a, b, n, sa, sb, binary)
        else:
            acc0 = _sum_blocked(a, b, n, sa, sb, binary)
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


cdef void _dot_broadcast(num* a, num* b, num* c, Py_ssize_t n, Py_ssize_t sa,
                         bint overwrite) noexcept nogil:
    """A dot product with one operand broadcast (stride 0), the other contiguous: the sum of
    the contiguous one, times the broadcast value. Kept out of _inner, which must stay small
    enough for the compiler to inline it into the loop nest."""
    cdef num total = 0
    cdef num scalar = a[0] if sa == 0 else b[0]
    _inner(b if sa == 0 else a, NULL, &total, n, 1, 0, 0, False, True)
    if overwrite:
        c[0] = scalar * total
    else:
        c[0] = c[0] + scalar * total


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
                     int par, Py_ssize_t lo, Py_ssize_t hi, bint binary, bint overwrite,
                     bint tiled) noexcept nogil:
    """Loop dims 0..nd-1 (nd-1 innermost), with dim ``par`` restricted to [lo, hi); with
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
    sz[par] = hi - lo
    a += lo * sa[par]
    c += lo * sc[par]
    if binary:
        b += lo * sb[par]
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


cdef struct SopSlices:
    const Kernel* job
    Py_ssize_t nchunks


cdef void _sop(num* tag, const Kernel* job) noexcept nogil:
    """Run a SOP kernel; with several threads, loop ``job.par`` is cut into slices the pool
    takes in turn (several per thread: a thread the OS parks on a shared machine delays only
    its slice). ``tag`` only selects the specialization."""
    cdef Py_ssize_t nchunks
    if job.nthreads <= 1 or job.nd == 0:
        _sop_slice(tag, job, 0, job.size[0] if job.nd > 0 else 1)
        return
    nchunks = min(job.size[job.par], <Py_ssize_t>job.nthreads * 8)
    if job.par == job.nd - 1:
        # slices of the innermost loop are runs within each row: keep them long enough for
        # the prefetcher (512 elements), at the price of a coarser share
        nchunks = max(min(nchunks, job.size[job.par] // 512), min(<Py_ssize_t>job.nthreads,
                                                                  job.size[job.par]))
    cdef SopSlices task
    task.job = job
    task.nchunks = nchunks
    tc_pool_run(_sop_item, &task, nchunks, job.nthreads)
    CUT_COUNTS[4] += 1


cdef void _sop_item(void* ctx, Py_ssize_t t) noexcept nogil:
    cdef const SopSlices* task = <const SopSlices*>ctx
    cdef const Kernel* job = task.job
    cdef Py_ssize_t n0 = job.size[job.par]
    cdef Py_ssize_t lo = n0 * t // task.nchunks, hi = n0 * (t + 1) // task.nchunks
    if hi <= lo:
        return
    if job.typenum == cnp.NPY_FLOAT64:
        _sop_slice(<double*>NULL, job, lo, hi)
    elif job.typenum == cnp.NPY_FLOAT32:
        _sop_slice(<float*>NULL, job, lo, hi)
    elif job.typenum == cnp.NPY_COMPLEX128:
        _sop_slice(<complex128*>NULL, job, lo, hi)
    else:
        _sop_slice(<complex64*>NULL, job, lo, hi)


cdef inline void _sop_slice(num* tag, const Kernel* job, Py_ssize_t lo,
                            Py_ssize_t hi) noexcept nogil:
    _sop_range(<num*>job.A.data, <num*>job.B.data, <num*>job.C.data, job.nd, job.size,
               job.A.s, job.B.s, job.C.s, job.par if job.nthreads > 1 else 0, lo, hi,
               job.binary, job.overwrite, job.tiled)


cdef int _order_loops(int nd, const Py_ssize_t* size, const Py_ssize_t* sa,
                      const Py_ssize_t* sb, const Py_ssize_t* sc, Py_ssize_t* osize,
                      Py_ssize_t* osa, Py_ssize_t* osb, Py_ssize_t* osc,
                      int* nthreads, int* par_out, bint* tiled) noexcept nogil:
    """Drop size-1 loops, sort the rest (small strides innermost), merge contiguous runs.

    Returns the new number of loops; picks a thread count and, when parallel, the loop the
    threads share out: the outermost one that writes distinct outputs (sliced in place, so
    the loop order and its blocking stay as they are).
    """
    cdef int perm[MAXD]
    cdef int n = 0, k, j, tmp
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
        # only "at least PARALLEL_WORK" matters; stopping there keeps the product in range
        if osize[k] >= PARALLEL_WORK or work * osize[k] >= PARALLEL_WORK:
            work = PARALLEL_WORK
            break
        work *= osize[k]
    # an operand that would rather run along the second-innermost loop: block the two (one
    # that stands still there, stride 0, is in cache already and asks for nothing)
    tiled[0] = n >= 2 and osize[n - 1] > 4 and osize[n - 2] > 4 and (
        _walks_across(osa[n - 2], osa[n - 1]) or _walks_across(osb[n - 2], osb[n - 1])
        or _walks_across(osc[n - 2], osc[n - 1]))
    nthreads[0] = 1
    par_out[0] = 0
    if work >= PARALLEL_WORK and n > 0:
        for k in range(n):
            if osc[k] != 0 and osize[k] >= 2:
                par_out[0] = k
                nthreads[0] = _threads()
                break
    return n


cdef inline Py_ssize_t _absz(Py_ssize_t x) noexcept nogil:
    return -x if x < 0 else x


cdef inline bint _walks_across(Py_ssize_t outer, Py_ssize_t inner) noexcept nogil:
    """Whether an operand with these strides runs along the outer of two loops."""
    return outer != 0 and _absz(outer) < _absz(inner)


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


cdef void run_sop(int typenum, char* a, char* b, char* c, int nd, const Py_ssize_t* size,
                  const Py_ssize_t* sa, const Py_ssize_t* sb, const Py_ssize_t* sc,
                  bint binary, bint overwrite) noexcept nogil:
    cdef Py_ssize_t osize[MAXD]
    cdef Py_ssize_t osa[MAXD]
    cdef Py_ssize_t osb[MAXD]
    cdef Py_ssize_t osc[MAXD]
    cdef Kernel job
    job.kind = SOP
    job.A.data = a
    job.B.data = b
    job.C.data = c
    job.binary = binary
    job.overwrite = overwrite
    job.nd = _order_loops(nd, size, sa, sb, sc, osize, osa, osb, osc, &job.nthreads, &job.par,
                          &job.tiled)
    job.size = osize
    job.A.s = osa
    job.B.s = osb
    job.C.s = osc
    _dispatch(typenum, &job)
