# Included by _core.pyx. The SOP kernel: C[..] (+)= A[..] * B[..] over a strided loop nest.
#
# Loops are reordered (small strides innermost), merged where strides chain, blocked when an
# operand runs along the second-innermost loop (transposes), and split across threads only
# when set_threads allows it.

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
        elif binary and (sa == 0 or sb == 0) and (sa == 1 or sb == 1):
            _dot_broadcast(a, b, c, n, sa, overwrite)
            return
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
    global OMP_STARTED
    cdef Py_ssize_t t, lo, hi, n0, nchunks
    if nthreads <= 1 or nd == 0:
        # A plain call: even prange(num_threads=1) enters libgomp, whose thread pool does
        # not survive fork() (see _after_fork_in_child in _core.pyx).
        _sop_range(a, b, c, nd, size, sa, sb, sc, 0, size[0] if nd > 0 else 1, binary, overwrite,
                   tiled)
        return
    n0 = size[0]
    # several chunks per thread: a thread the OS parks (shared machines) delays only its chunk
    nchunks = min(n0, nthreads * 8)
    OMP_STARTED = True
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
        # only "at least PARALLEL_WORK" matters; stopping there keeps the product in range
        if osize[k] >= PARALLEL_WORK or work * osize[k] >= PARALLEL_WORK:
            work = PARALLEL_WORK
            break
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
    job.nd = _order_loops(nd, size, sa, sb, sc, osize, osa, osb, osc, &job.nthreads,
                          &job.tiled)
    job.size = osize
    job.A.s = osa
    job.B.s = osb
    job.C.s = osc
    _dispatch(typenum, &job)
