"""The one exception class for user mistakes (and its one refinement, for invalid paths)."""


class TensorcalcError(ValueError):
    """Invalid input: malformed subscripts, mismatched shapes, unknown names.

    The message quotes the input and names the offending label, operand or position.

    >>> import tensorcalc as tc
    >>> try:
    ...     tc.einsum("ij,jk->ik", [[1.0, 2.0]], [[1.0], [2.0], [3.0]])
    ... except tc.TensorcalcError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    label 'j' has size 2 in operand 0 but 3 in operand 1 ...
    """


class PathError(TensorcalcError, RuntimeError):
    """An ``optimize=`` path that is not a valid contraction order for the operands.

    Also a ``RuntimeError``, the class ``numpy.einsum`` raises for an invalid ``einsum_path``,
    so code written against numpy catches it too.

    >>> import numpy as np, tensorcalc as tc
    >>> x = np.ones(3)
    >>> try:
    ...     tc.einsum("i,i,i", x, x, x, optimize=["einsum_path", (0, 1)])
    ... except RuntimeError as err:
    ...     print(err)
    the path ['einsum_path', (0, 1)] leaves 2 operands instead of one
    """
