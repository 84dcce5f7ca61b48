"""The one exception class for user mistakes."""


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
