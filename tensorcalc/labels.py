"""Index labels: the one einsum alphabet and the one pool of fresh display labels.

Every layer names axes with these: the contraction layer checks user subscripts against
:data:`LETTERS` (exactly the labels numpy.einsum accepts), the IR gives each operand axis one
of them, and printers draw readable names from :data:`LABEL_POOL` (``i, j, k`` first).

>>> pool = Labels({"i"}, pool="ij")
>>> pool.fresh(), pool.fresh()
('j', 'i1')
"""

from __future__ import annotations

from typing import Iterable, Iterator

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# numpy's sublist numbering: 0-25 are A-Z, 26-51 are a-z.
SUBLIST_LETTERS = LETTERS[26:] + LETTERS[:26]
# Labels as printed: the textbook's i, j, k... first; x, y, z late (they read like variables).
LABEL_POOL = "ijklmnpqrstuvwabcdefghxyzo" + LETTERS[26:]


class Labels:
    """Fresh index labels that avoid the taken ones (``i1``, ``i2``, ... once the pool is used)."""

    def __init__(self, taken: Iterable[str] = frozenset(), pool: str = LABEL_POOL) -> None:
        self.taken = set(taken)
        self.pool = pool

    def fresh(self) -> str:
        for c in self.pool:
            if c not in self.taken:
                self.taken.add(c)
                return c
        k = 1
        while f"i{k}" in self.taken:
            k += 1
        self.taken.add(f"i{k}")
        return f"i{k}"


def fresh_names(bases: Iterable[str], taken: Iterable[str]) -> Iterator[str]:
    """Names from ``bases`` not in ``taken``, then ``base1``, ``base2``... (variables, dims).

    >>> from itertools import islice
    >>> list(islice(fresh_names("nm", {"n"}), 3))
    ['m', 'n1', 'm1']
    """
    bases, taken = list(bases), set(taken)
    k = 0
    while True:
        for base in bases:
            name = base if k == 0 else f"{base}{k}"
            if name not in taken:
                taken.add(name)
                yield name
        k += 1
