"""Parse einsum subscripts into one normal form.

Everything numpy.einsum accepts (explicit and implicit output, ``...`` with broadcasting,
repeated labels, scalars, spaces, the interleaved operand/sublist form) plus the two
extensions of tensorcalc's extended einsum:

* a repeated output label (``"i->ii"``) embeds the values on that diagonal;
* an output label no input carries (``"i->ij"``) broadcasts along it, sized by ``sizes``.

The normal form (:class:`Spec`) names every axis by one character, ellipsis axes included,
and lists the size-1 axes that broadcast (they are dropped, which is what broadcasting means
for a sum of products).

>>> spec = parse("...ij,...jk", [(5, 2, 3), (3, 4)])
>>> spec.inputs, spec.output, spec.squeeze
(('\\xc0ij', 'jk'), '\\xc0ik', ((), ()))
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import TensorcalcError
from ..labels import LETTERS, SUBLIST_LETTERS
from .paths import symbol
_MAX_ELEMENTS = 2**59   # 2**63 bytes at 16 bytes per element


@dataclass(frozen=True)
class Spec:
    """A parsed einsum: one label per axis of every operand (after squeezing) and output.

    ``squeeze[k]`` holds the axes of operand ``k`` (in its original numbering) that are
    size-1 broadcasts; they are indexed away before the labels in ``inputs[k]`` apply.
    ``ellipsis`` holds the labels that stand for ``...`` (left to right).
    """

    inputs: tuple[str, ...]
    output: str
    sizes: Mapping[str, int]
    squeeze: tuple[tuple[int, ...], ...]
    ellipsis: str = ""

    @property
    def is_extended(self) -> bool:
        """True when the output repeats a label or holds one no input carries."""
        carried = set("".join(self.inputs))
        return len(set(self.output)) != len(self.output) or not set(self.output) <= carried

    def __str__(self) -> str:
        return ",".join(self.inputs) + "->" + self.output


def sublists_to_subscripts(args: Sequence[Any]) -> tuple[str, list[Any]]:
    """Convert numpy's interleaved form ``(op0, sub0, op1, sub1, ..., [out])``.

    Sublist entries are ints in ``[0, 52)`` (numpy's numbering: 0-25 are ``A``-``Z``,
    26-51 are ``a``-``z``) or ``Ellipsis``.

    >>> sublists_to_subscripts(["A", [0, 1], "B", [1, 2], [0, 2]])
    ('AB,BC->AC', ['A', 'B'])
    """
    operands = list(args[0::2])
    sublists = list(args[1::2])
    has_output = len(args) % 2 == 1
    if has_output:
        output = args[-1]
        operands = list(args[0:-1:2])
        sublists = list(args[1:-1:2])

    def convert(sub: Any, where: str) -> str:
        try:
            items = list(sub)
        except TypeError:
            raise TypeError(f"{where} must be a list of ints or Ellipsis, got {sub!r}") from None
        text = []
        for item in items:
            if item is Ellipsis:
                text.append("...")
                continue
            try:
                label = operator.index(item) if not isinstance(item, bool) else -1
            except TypeError:
                label = -1
            if not 0 <= label < 52:
                raise TensorcalcError(
                    f"{where}: sublist entries must be ints in [0, 52) or Ellipsis, got {item!r}"
                )
            text.append(SUBLIST_LETTERS[label])
        return "".join(text)

    terms = [convert(s, f"sublist of operand {k}") for k, s in enumerate(sublists)]
    text = ",".join(terms)
    if has_output:
        text += "->" + convert(output, "output sublist")
    return text, operands


def _split_term(term: str, where: str, column: int, full: str) -> list[str]:
    """Labels of one term, with '...' kept as one item."""
    items: list[str] = []
    k = 0
    while k < len(term):
        ch = term[k]
        if ch == ".":
            if term[k : k + 3] != "...":
                raise TensorcalcError(_point(full, column + k, f"{where}: '.' must be part of '...'"))
            if "..." in items:
                raise TensorcalcError(_point(full, column + k, f"{where}: '...' appears twice"))
            items.append("...")
            k += 3
            continue
        if ch not in LETTERS:
            raise TensorcalcError(
                _point(full, column + k, f"{where}: invalid label {ch!r} (labels are a-z, A-Z)")
            )
        items.append(ch)
        k += 1
    return items


def _split_token_column(text: str, token: str) -> int:
    """Column where ``token`` starts with spaces inside it."""
    for k, ch in enumerate(text):
        if ch == token[0] and text[k : k + len(token)] != token:
            rest = text[k:].replace(" ", "")
            if rest.startswith(token):
                return k
    return 0


def _point(text: str, column: int, message: str) -> str:
    if not text.isprintable():  # a tab or newline would misplace the caret
        return message
    return f"{message}\n  {text}\n  {' ' * column}^"


def parse(
    subscripts: str,
    shapes: Sequence[Sequence[int]],
    sizes: Mapping[str, int] | None = None,
) -> Spec:
    """Parse ``subscripts`` for operands of the given shapes into a :class:`Spec`.

    ``sizes`` gives the size of output labels that no input carries (and may confirm others).

    >>> str(parse("ij,jk", [(2, 3), (3, 4)]))
    'ij,jk->ik'
    >>> str(parse("i->ij", [(2,)], sizes={"j": 5}))
    'i->ij'
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"subscripts must be a str, got {type(subscripts).__name__}")
    full = subscripts
    # numpy allows spaces anywhere but inside '->' and '...'; any other whitespace (tab,
    # newline) is an invalid label there, and here
    text = subscripts.replace(" ", "")
    for token in ("->", "..."):
        if text.count(token) != subscripts.count(token):
            col = _split_token_column(subscripts, token)
            raise TensorcalcError(_point(full, col, f"subscripts {full!r}: {token!r} must not contain spaces"))
    if text.count("->") > 1:
        raise TensorcalcError(_point(full, full.rfind("->"), f"subscripts {full!r}: '->' appears twice"))
    if "->" in text:
        lhs, rhs = text.split("->")
    else:
        if "-" in text or ">" in text:
            col = max(full.find("-"), full.find(">"))
            raise TensorcalcError(_point(full, col, f"subscripts {full!r}: stray '-' or '>'"))
        lhs, rhs = text, None

    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise TensorcalcError(
            f"subscripts {full!r} have {len(terms)} operand term(s) but {len(shapes)} operand(s) were given"
        )

    # Columns are reported in the whitespace-free text; close enough to point at the fault.
    parsed: list[list[str]] = []
    column = 0
    for k, term in enumerate(terms):
        parsed.append(_split_term(term, f"operand {k} term {term!r}", column, text))
        column += len(term) + 1

    # Expand '...' right-aligned, as numpy broadcasts.
    used = set(lhs) | set(rhs or "")
    ell_ranks = []
    for k, (items, shape) in enumerate(zip(parsed, shapes)):
        named = len(items) - ("..." in items)
        ndim = len(shape)
        if "..." in items:
            if named > ndim:
                raise TensorcalcError(
                    f"operand {k} has {ndim} dimension(s) but term {terms[k]!r} names {named} "
                    f"in subscripts {full!r}"
                )
            ell_ranks.append(ndim - named)
        else:
            if named != ndim:
                raise TensorcalcError(
                    f"operand {k} has {ndim} dimension(s) but term {terms[k]!r} names {named} "
                    f"in subscripts {full!r}"
                )
            ell_ranks.append(0)
    n_ell = max(ell_ranks, default=0)
    ell_labels = _fresh_labels(n_ell, used)

    inputs: list[str] = []
    for items, rank in zip(parsed, ell_ranks):
        expanded = "".join(ell_labels[n_ell - rank :] if it == "..." else it for it in items)
        inputs.append(expanded)

    # Sizes: equal, or 1 (broadcast). Repeated labels in one operand must agree exactly.
    label_size: dict[str, int] = {}
    for k, (labels, shape) in enumerate(zip(inputs, shapes)):
        seen: dict[str, int] = {}
        for axis, (lab, dim) in enumerate(zip(labels, shape)):
            dim = _as_dim(dim, k, axis)
            if lab in seen and seen[lab] != dim:
                raise TensorcalcError(
                    f"label {_show(lab, ell_labels)} is repeated in operand {k} with sizes "
                    f"{seen[lab]} and {dim}; a diagonal needs equal sizes (subscripts {full!r})"
                )
            seen[lab] = dim
            old = label_size.get(lab)
            if old is None or old == 1:
                label_size[lab] = dim
            elif dim != 1 and dim != old:
                first = next(j for j, (ls, sh) in enumerate(zip(inputs, shapes))
                             for l2, d2 in zip(ls, sh) if l2 == lab and int(d2) == old)
                raise TensorcalcError(
                    f"label {_show(lab, ell_labels)} has size {old} in operand {first} but {dim} in "
                    f"operand {k} (subscripts {full!r}, shapes {[tuple(s) for s in shapes]})"
                )

    if sizes is not None and not isinstance(sizes, Mapping):
        raise TypeError(f"sizes must be a mapping from label to int, got {type(sizes).__name__}")
    if sizes:
        for lab, dim in sizes.items():
            if not isinstance(lab, str) or len(lab) != 1 or lab not in LETTERS:
                raise TensorcalcError(f"sizes key {lab!r} is not a label (one of a-z, A-Z)")
            dim = _as_dim(dim, None, lab)
            if lab in label_size and label_size[lab] != dim and label_size[lab] != 1:
                raise TensorcalcError(
                    f"sizes gives label {lab!r} size {dim} but the operands give {label_size[lab]}"
                )
            if lab not in label_size or label_size[lab] == 1:
                label_size[lab] = dim

    # Output.
    counts: dict[str, int] = {}
    for labels in inputs:
        for lab in labels:
            counts[lab] = counts.get(lab, 0) + 1
    if rhs is None:
        output = "".join(ell_labels) + "".join(
            sorted(lab for lab, c in counts.items() if c == 1 and lab not in ell_labels)
        )
    else:
        out_items = _split_term(rhs, f"output term {rhs!r}", len(lhs) + 2, text)
        if "..." not in out_items and n_ell:
            # numpy refuses to sum broadcast dimensions away implicitly.
            raise TensorcalcError(
                f"subscripts {full!r}: the inputs have '...' dimensions but the output has no '...'"
            )
        output = "".join("".join(ell_labels) if it == "..." else it for it in out_items)
        for lab in output:
            if lab not in label_size:
                raise TensorcalcError(
                    f"output label {lab!r} appears in no input and has no size; pass "
                    f"sizes={{{lab!r}: n}} to broadcast along it (subscripts {full!r})"
                )

    squeeze = []
    kept_inputs = []
    for labels, shape in zip(inputs, shapes):
        drop = tuple(ax for ax, (lab, dim) in enumerate(zip(labels, shape))
                     if int(dim) == 1 and label_size[lab] != 1)
        squeeze.append(drop)
        kept_inputs.append("".join(lab for ax, lab in enumerate(labels) if ax not in drop))

    _check_volume(output, label_size, full)
    return Spec(tuple(kept_inputs), output, dict(label_size), tuple(squeeze), "".join(ell_labels))


def _fresh_labels(n: int, used: set[str]) -> str:
    """``n`` labels for ellipsis axes that clash with no user label."""
    out = []
    k = 52
    while len(out) < n:
        sym = symbol(k)
        if sym not in used:
            out.append(sym)
        k += 1
    return "".join(out)


def _show(label: str, ell_labels: str) -> str:
    if label in ell_labels:
        return f"'...' axis {ell_labels.index(label)}"
    return repr(label)


def _as_dim(dim: Any, operand: int | None, axis: Any) -> int:
    try:
        value = operator.index(dim)
    except TypeError:
        where = f"label {axis!r}" if operand is None else f"operand {operand} axis {axis}"
        raise TypeError(f"size {dim!r} of {where} is not an int") from None
    if value < 0:
        where = f"label {axis!r}" if operand is None else f"operand {operand} axis {axis}"
        raise TensorcalcError(f"size {value} of {where} is negative")
    return value


def _check_volume(labels: str, sizes: Mapping[str, int], full: str) -> None:
    """Refuse outputs no machine can allocate (numpy's own limit is 2**63 bytes)."""
    total = 1
    for lab in labels:
        total *= sizes[lab]
    if total > _MAX_ELEMENTS:
        shape = tuple(sizes[lab] for lab in labels)
        raise TensorcalcError(
            f"subscripts {full!r}: the output would have shape {shape}, {total} elements, "
            f"more than any array can hold"
        )
