# The typed interface of the compiled core (tensorcalc._core).
#
# A plan is a tuple of Step objects; each step reads one or two arrays from numbered slots
# and writes a new array into another slot. All loop geometry is fixed at plan time except
# the strides of user inputs, which are read from the arrays when a step runs.

# cpdef: the planner (tensorcalc.contraction.plan) reads these same values from the module
# (_core.MAXD, _core.StepKind.GEMM or _core.GEMM, _core.Role.ROW or _core.ROW) instead of
# keeping copies that could drift.
cpdef enum:
    MAXD = 64          # loop dimensions of one step (numpy allows at most 64 axes)

cpdef enum StepKind:
    SOP = 0            # sum of products: one or two inputs, strided typed loops
    GEMM = 1           # (batched) matrix product through BLAS

cpdef enum Role:
    BATCH = 0          # in A, B and C
    ROW = 1            # in A and C   (M)
    COL = 2            # in B and C   (N)
    INNER = 3          # in A and B   (K, summed)

ctypedef float complex complex64
ctypedef double complex complex128

ctypedef fused num:
    float
    double
    complex64
    complex128

cdef class Step:
    cdef public int kind
    cdef public int slot_a, slot_b, slot_out
    cdef int nd
    cdef Py_ssize_t size[MAXD]
    cdef int nax_a, nax_b, nax_c
    cdef int dim_a[MAXD]
    cdef int dim_b[MAXD]
    cdef int dim_c[MAXD]
    cdef Py_ssize_t shape_c[MAXD]
    cdef int role[MAXD]
    cdef public bint zero_init      # output must start at zero (sums, diagonal embedding)
    cdef public object release      # slots no later step reads
