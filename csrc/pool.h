/* The compiled core's thread pool and its hold on the BLAS thread count (used by _core.pyx).
 *
 * Why not OpenMP: libgomp's threads spin after a parallel region, so on a machine whose other
 * cores are busy a second thread cost up to 5x, and its pool does not survive fork(). This
 * pool is a few pthreads that sleep on a condition variable between jobs: no spinning, and a
 * forked child simply starts new threads.
 *
 * A job is `n` numbered items; the caller and up to `nthreads - 1` workers take items from a
 * shared counter until none are left, so a thread the OS parks (shared machines) delays only
 * the item it holds. One job runs at a time; a caller that finds the pool busy (another
 * Python thread inside the core) runs its items itself.
 *
 * BLAS: every BLAS call the core makes runs with the BLAS library's own threads limited to
 * one (tc_blas_enter/tc_blas_leave, nested and shared by all threads of the process), and the
 * thread count the user gave that library (OPENBLAS_NUM_THREADS, threadpoolctl) is the
 * count this pool uses: one thread policy for the process. _core.pyx finds the library's
 * get/set functions (through threadpoolctl) and hands them over with tc_blas_bind.
 *
 * Without pthreads and GCC-style atomics (MSVC) every job runs on the calling thread.
 */
#ifndef TC_POOL_H
#define TC_POOL_H

#include <Python.h>

typedef void (*tc_item_fn)(void *ctx, Py_ssize_t item);
typedef int (*tc_get_fn)(void);
typedef void (*tc_set_fn)(int);

static tc_get_fn tc_blas_get_threads = NULL;
static tc_set_fn tc_blas_set_threads = NULL;

#if defined(__GNUC__) && !defined(_WIN32)
#define TC_POOL_THREADS 1
#include <pthread.h>
#include <signal.h>
#include <time.h>

#define TC_MAX_WORKERS 255

typedef struct {
    tc_item_fn fn;
    void *ctx;
    Py_ssize_t n;
    Py_ssize_t next;     /* next item to take (atomic) */
    int want;            /* workers that may still join (under tc_lock) */
    int inside;          /* workers running items (changed under tc_lock, read atomically) */
} tc_task;

static pthread_mutex_t tc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tc_wake = PTHREAD_COND_INITIALIZER;   /* workers wait for a task */
static pthread_cond_t tc_done = PTHREAD_COND_INITIALIZER;   /* the caller waits for workers */
static int tc_workers = 0;          /* workers alive in this process */
static int tc_busy = 0;             /* a job holds the pool */
static tc_task *tc_current = NULL;  /* the open task; NULL once its caller closed it */
static unsigned long tc_generation = 0;
static int tc_fork_hooked = 0;

static pthread_mutex_t tc_blas_lock = PTHREAD_MUTEX_INITIALIZER;
static int tc_blas_depth = 0;       /* BLAS calls in flight with the library held at 1 */
static int tc_blas_saved = 0;       /* its thread count before the first of them */
static int tc_blas_stale = 0;       /* forked while held: the library reads 1, saved is right */

/* After a job a worker polls for the next one for this long before it sleeps: the steps of
 * one plan follow each other within microseconds, and waking a sleeping thread costs tens of
 * microseconds on a virtual machine, a fifth of a 200 us step. Short enough that a busy
 * machine loses almost nothing to it (OpenBLAS's threads poll for about 0.1 s). */
static long tc_spin_ns = 30000;

static long tc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static inline void tc_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Poll (without the lock) until `ready` holds or tc_spin_ns passed; the caller re-checks
 * under the lock, so a racy read only costs a sleep. */
static void tc_poll(int (*ready)(void *), void *arg) {
    long start, spin = __atomic_load_n(&tc_spin_ns, __ATOMIC_RELAXED);
    if (spin <= 0 || ready(arg))
        return;
    start = tc_now_ns();
    while (!ready(arg) && tc_now_ns() - start < spin)
        tc_relax();
}

static int tc_new_generation(void *seen) {
    return __atomic_load_n(&tc_generation, __ATOMIC_ACQUIRE) != *(unsigned long *)seen;
}

static int tc_workers_out(void *task) {
    return __atomic_load_n(&((tc_task *)task)->inside, __ATOMIC_ACQUIRE) == 0;
}

static void tc_drain(tc_task *t) {
    Py_ssize_t i;
    while ((i = __atomic_fetch_add(&t->next, 1, __ATOMIC_RELAXED)) < t->n)
        t->fn(t->ctx, i);
}

static void *tc_worker(void *arg) {
    unsigned long seen = 0;
    tc_task *t;
    sigset_t all;
    (void)arg;
    /* signals belong to the interpreter's main thread */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&tc_lock);
    for (;;) {
        if (tc_current == NULL || tc_current->want <= 0 || tc_generation == seen) {
            pthread_mutex_unlock(&tc_lock);
            tc_poll(tc_new_generation, &seen);
            pthread_mutex_lock(&tc_lock);
        }
        while (tc_current == NULL || tc_current->want <= 0 || tc_generation == seen)
            pthread_cond_wait(&tc_wake, &tc_lock);
        t = tc_current;
        seen = tc_generation;
        t->want--;
        __atomic_add_fetch(&t->inside, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&tc_lock);
        tc_drain(t);
        pthread_mutex_lock(&tc_lock);
        if (__atomic_sub_fetch(&t->inside, 1, __ATOMIC_RELEASE) == 0)
            pthread_cond_signal(&tc_done);
    }
    return NULL;
}

/* fork(): hold the lock across it so the child inherits consistent state, then give the
 * child a fresh, empty pool (the workers did not come along). */
static void tc_before_fork(void) {
    pthread_mutex_lock(&tc_blas_lock);
    pthread_mutex_lock(&tc_lock);
}

static void tc_after_fork_parent(void) {
    pthread_mutex_unlock(&tc_lock);
    pthread_mutex_unlock(&tc_blas_lock);
}

static void tc_after_fork_child(void) {
    pthread_mutex_init(&tc_lock, NULL);
    pthread_cond_init(&tc_wake, NULL);
    pthread_cond_init(&tc_done, NULL);
    pthread_mutex_init(&tc_blas_lock, NULL);
    tc_workers = 0;
    tc_busy = 0;
    tc_current = NULL;
    /* Another thread of the parent held BLAS at one thread: the child's library is at one
     * too, and the user's count is tc_blas_saved. The next hold restores it on leaving. */
    tc_blas_stale = tc_blas_stale || tc_blas_depth > 0;
    tc_blas_depth = 0;
}

/* Start workers up to `count` (called with tc_lock held); returns how many are alive. */
static int tc_grow(int count) {
    pthread_t thread;
    pthread_attr_t attr;
    if (count > TC_MAX_WORKERS)
        count = TC_MAX_WORKERS;
    if (!tc_fork_hooked) {
        if (pthread_atfork(tc_before_fork, tc_after_fork_parent, tc_after_fork_child) != 0)
            return tc_workers;      /* without the hook a forked child could wait forever */
        tc_fork_hooked = 1;
    }
    if (tc_workers >= count || pthread_attr_init(&attr) != 0)
        return tc_workers;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1 << 20);   /* the kernels keep ~2 KiB on the stack */
    while (tc_workers < count && pthread_create(&thread, &attr, tc_worker, NULL) == 0)
        tc_workers++;
    pthread_attr_destroy(&attr);
    return tc_workers;
}

/* Run fn(ctx, 0..n-1) on up to `nthreads` threads (the caller included). */
static void tc_pool_run(tc_item_fn fn, void *ctx, Py_ssize_t n, int nthreads) {
    tc_task t;
    Py_ssize_t i;
    if (nthreads > n)
        nthreads = (int)n;
    if (nthreads > 1) {
        pthread_mutex_lock(&tc_lock);
        if (!tc_busy && tc_grow(nthreads - 1) > 0) {
            tc_busy = 1;
            t.fn = fn;
            t.ctx = ctx;
            t.n = n;
            t.next = 0;
            t.want = nthreads - 1;
            t.inside = 0;
            tc_current = &t;
            __atomic_add_fetch(&tc_generation, 1, __ATOMIC_RELEASE);
            pthread_cond_broadcast(&tc_wake);
            pthread_mutex_unlock(&tc_lock);
            tc_drain(&t);
            tc_poll(tc_workers_out, &t);  /* the last items end within microseconds */
            pthread_mutex_lock(&tc_lock);
            tc_current = NULL;          /* late workers find nothing and sleep again */
            while (t.inside > 0)
                pthread_cond_wait(&tc_done, &tc_lock);
            tc_busy = 0;
            pthread_mutex_unlock(&tc_lock);
            return;
        }
        pthread_mutex_unlock(&tc_lock);
    }
    for (i = 0; i < n; i++)
        fn(ctx, i);
}

/* The library's thread count as the user set it (also while the core holds it at one). */
static int tc_blas_threads(void) {
    int n;
    if (tc_blas_get_threads == NULL)
        return 0;
    pthread_mutex_lock(&tc_blas_lock);
    n = tc_blas_depth > 0 || tc_blas_stale ? tc_blas_saved : tc_blas_get_threads();
    pthread_mutex_unlock(&tc_blas_lock);
    return n;
}

/* Hold the library at one thread; returns whether it did (pass that to tc_blas_leave). */
static int tc_blas_enter(void) {
    if (tc_blas_set_threads == NULL)
        return 0;
    pthread_mutex_lock(&tc_blas_lock);
    if (tc_blas_depth++ == 0) {
        if (!tc_blas_stale)
            tc_blas_saved = tc_blas_get_threads();
        tc_blas_stale = 0;
        if (tc_blas_saved != 1)
            tc_blas_set_threads(1);
    }
    pthread_mutex_unlock(&tc_blas_lock);
    return 1;
}

static void tc_blas_leave(int held) {
    if (!held)
        return;
    pthread_mutex_lock(&tc_blas_lock);
    if (--tc_blas_depth == 0 && tc_blas_saved > 1)
        tc_blas_set_threads(tc_blas_saved);
    pthread_mutex_unlock(&tc_blas_lock);
}

/* The poll before sleeping, in microseconds (0: sleep at once); returns the old value. */
static long tc_pool_spin(long us) {
    long old = __atomic_exchange_n(&tc_spin_ns, us * 1000, __ATOMIC_RELAXED);
    return old / 1000;
}

static int tc_pool_workers(void) {
    int n;
    pthread_mutex_lock(&tc_lock);
    n = tc_workers;
    pthread_mutex_unlock(&tc_lock);
    return n;
}

#else  /* no pthreads: one thread, BLAS left to itself */
#define TC_POOL_THREADS 0

static void tc_pool_run(tc_item_fn fn, void *ctx, Py_ssize_t n, int nthreads) {
    Py_ssize_t i;
    (void)nthreads;
    for (i = 0; i < n; i++)
        fn(ctx, i);
}

static int tc_blas_threads(void) {
    return tc_blas_get_threads != NULL ? tc_blas_get_threads() : 0;
}

static int tc_blas_enter(void) { return 0; }
static void tc_blas_leave(int held) { (void)held; }
static int tc_pool_workers(void) { return 0; }
static long tc_pool_spin(long us) { (void)us; return 0; }
#endif

/* Hand over the BLAS library's get/set functions, once (both or neither). A hold taken
 * before them was a no-op and is released as one (tc_blas_enter returned 0). */
static void tc_blas_bind(void *get, void *set) {
    if (get == NULL || set == NULL || tc_blas_set_threads != NULL)
        return;
    tc_blas_get_threads = (tc_get_fn)get;
    tc_blas_set_threads = (tc_set_fn)set;
}

#endif
