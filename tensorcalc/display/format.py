"""What every printer shares: numbers, signed sums, einsum facts, display labels, and the
names of subexpressions used more than once.

>>> sign_magnitude(-2.0)
(True, 2.0)
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Sequence

import numpy as np

from ..ir import Const, Einsum, Expr, Var, topological, use_counts
from ..labels import LABEL_POOL
from ..ops import Index


def is_identity(node: Einsum) -> bool:
    return len(node.inputs) == 1 and node.inputs[0] == node.output and \
        len(set(node.output)) == len(node.output)


def scalar_broadcast(node: Expr) -> Const | None:
    """The 0-d constant that ``node`` merely broadcasts (``einsum("->ij", 1)``), if any."""
    if isinstance(node, Einsum) and len(node.children) == 1 and node.inputs == ("",) \
            and isinstance(node.children[0], Const) and len(set(node.output)) == len(node.output) \
            and not node.factor_dims:
        return node.children[0]
    return None


def leading_minus(node: Expr, text: str) -> bool:
    """Whether ``text`` is ``-`` applied to the whole of ``node`` (not a sum's first term)."""
    if not text.startswith("-"):
        return False
    if isinstance(node, Einsum):
        return node.scale < 0
    return isinstance(node, Const) and node.value.ndim == 0


def sign_magnitude(value: Any) -> tuple[bool, Any]:
    """``(negative, magnitude)`` of a coefficient; a complex one keeps its phase whole, its
    sign pulled out when its first nonzero part is negative (``-2-3j`` is ``-(2+3j)``).

    >>> sign_magnitude(-2.0), sign_magnitude(2j), sign_magnitude(-2 - 3j)
    ((True, 2.0), (False, 2j), (True, (2+3j)))
    """
    if isinstance(value, complex) or np.iscomplexobj(value):
        value = complex(value)
        if value.imag != 0:
            negative = value.real < 0 or value.real == 0 and value.imag < 0
            return negative, -value if negative else value
        value = value.real
    return value < 0, abs(value)


def number(value: Any) -> str:
    """The one way numbers are written: integers whole, others to 12 significant digits.

    >>> number(2.0), number(0.1 + 0.2), number(1e20), number(2j)
    ('2', '0.3', '1e+20', '2j')
    """
    if isinstance(value, complex):
        return repr(value)
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.12g}"


def factor_dims(node: Einsum) -> tuple[list[str], list[str]]:
    """Named sizes that multiply (``n``) and divide (``(n, -1)`` entries) the einsum."""
    num, den = [], []
    for d in node.factor_dims:
        if isinstance(d, tuple):
            name, power = d
            (num if power > 0 else den).extend([str(name)] * int(abs(power)))
        else:
            num.append(str(d))
    return num, den




def signed_sum(terms: Iterable[tuple[bool, str]]) -> str:
    """Join ``(negative, text)`` terms into ``a - b + c``, a positive term first as a textbook
    writes it (``s - y``, not ``-y + s``); when every term is negative the first keeps a
    leading minus.

    >>> signed_sum([(True, "a"), (True, "b"), (False, "c")])
    'c - a - b'
    >>> signed_sum([(True, "a"), (True, "b")])
    '-a - b'
    """
    terms = list(terms)
    first = next((k for k, (negative, _) in enumerate(terms) if not negative), 0)
    terms = [terms[first]] + terms[:first] + terms[first + 1:]
    out = ""
    for k, (negative, text) in enumerate(terms):
        if k == 0:
            out = ("-" if negative else "") + text
        else:
            out += (" - " if negative else " + ") + text
    return out or "0"


def is_leaf(node: Expr) -> bool:
    """Short enough to repeat rather than name: variables, constants (broadcast numbers
    too), ``x[0]``."""
    if isinstance(node, Index):
        return isinstance(node.children[0], Var)
    return isinstance(node, (Var, Const)) or scalar_broadcast(node) is not None


def shared_names(expr: Expr) -> tuple[list[Expr], dict[int, str]]:
    """Nodes used twice or more (leaves excepted) and their display names t1, t2, ..."""
    order = topological([expr])
    counts = use_counts(order)
    taken = {v.name for v in order if isinstance(v, Var)}
    names: dict[int, str] = {}
    shared: list[Expr] = []
    fresh = (f"t{k}" for k in itertools.count(1))
    for node in order:
        if node is not expr and counts.get(node.uid, 0) >= 2 and not is_leaf(node):
            name = next(fresh)
            while name in taken:
                name = next(fresh)
            names[node.uid] = name
            shared.append(node)
    return shared, names


def display_spec(inputs: Sequence[str], output: str) -> tuple[list[str], str]:
    """Rename einsum labels for display: output labels ``i, j, k...``, then summed labels.

    >>> display_spec(["ab", "a"], "b")
    (['ji', 'j'], 'i')
    """
    rename: dict[str, str] = {}
    letters = iter(LABEL_POOL)
    for lab in list(output) + [lab for labels in inputs for lab in labels]:
        if lab not in rename:
            rename[lab] = next(letters)
    return ["".join(rename[c] for c in labels) for labels in inputs], "".join(rename[c] for c in output)
