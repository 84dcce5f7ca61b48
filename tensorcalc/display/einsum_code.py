"""Einsum nodes as source: the pairwise steps of ``tc.contract_path``, each a matrix product
(``@``, ``.T``, ``.mT``) where it is one and otherwise the backend's einsum, or, for the
array-API standard, which has no einsum, lowered to ``permute_dims``/``reshape``/``@``/``sum``
(:func:`lower_pair`: a diagonal is a reshape to ``n*n`` and a slice of stride ``n+1``).
Extended outputs: numpy writes into a diagonal view of ``np.zeros``; the others select the
diagonal with ``eye`` masks and ``where`` (JAX arrays cannot be written into).

>>> from tensorcalc.ir import var, einsum
>>> from tensorcalc.display import to_source
>>> print(to_source(einsum("ii->i", var("X", (3, 3))), backend="array_api"), end="")
def f(X):
    xp = X.__array_namespace__()
    t1 = xp.reshape(X, (9,))
    return t1[..., ::3 + 1]
"""

from __future__ import annotations

import cmath
import math
from typing import TYPE_CHECKING, Any, Sequence

from ..contraction import contract_path
from ..ir import Einsum
from .format import number
from .matrix import matrix_chain

if TYPE_CHECKING:  # the writer passes itself
    from .codegen import CodeWriter

__all__ = ["einsum_source", "lower_unary", "lower_pair"]


def einsum_source(node: Einsum, args: list[str], w: CodeWriter) -> str:
    """The source of an einsum node: its pairwise steps, scale and extended output."""
    carried = set("".join(node.inputs))
    core = "".join(dict.fromkeys(lab for lab in node.output if lab in carried))
    value = contract(w, list(node.inputs), core, args, node)
    factor = [] if node.scale == 1 else [
        number(node.scale) if cmath.isfinite(node.scale) else f'float("{node.scale}")']
    for d in node.factor_dims:
        if isinstance(d, tuple):
            name, power = d
            size = w.dim(name)
            if power < 0:  # a mean over no entries is NaN, as evaluate gives (ir.size_power)
                factor.append(f'({size} ** {power} if {size} else float("nan"))')
            else:
                factor.append(f"{size} ** {power}" if power != 1 else size)
        else:
            factor.append(w.dim(d))
    if factor:
        value = w.emit_product(factor, [value])
    if core == node.output:
        return value
    return embed(w, node, core, value)


def embed(w: CodeWriter, node: Einsum, core: str, value: str) -> str:
    """Write ``value`` (labels ``core``) into the extended output of ``node``."""
    carried = set("".join(node.inputs))
    output = node.output
    unique = "".join(dict.fromkeys(output))
    full = w.shape_text([node.sizes[lab] for lab in output])
    if value in w.scalars and unique == output:
        return w.emit(f"{w.ns}.full({full}, {value}, dtype={w.weak_dtype()}{w.device()})")
    number_ = w.number_of(value) if value in w.scalars else None
    if isinstance(number_, (int, float)) and math.isfinite(number_) and len(output) == 2 \
            and len(unique) == 1:  # a number times I (inf * 0 would not be 0)
        eye = f"{w.ns}.eye({w.dim(node.sizes[unique])}, dtype={w.weak_dtype()}{w.device()})"
        return w.emit(eye if number_ == 1 else f"{value} * {eye}")
    if w.backend.array_api:
        return embed_masked(w, node, value, full)
    value = w.array(value)
    index = ", ".join(":" if lab in carried else "None" for lab in unique)
    expanded = f"{value}[{index}]" if any(lab not in carried for lab in unique) else value
    if unique == output:  # broadcast only
        return w.emit(f"np.broadcast_to({expanded}, {full})")
    out = w.emit(f"np.zeros({full}, dtype=np.result_type({value}))")
    w.lines.append(f'np.einsum("{output}->{unique}", {out})[...] = {expanded}')
    return out


def embed_masked(w: CodeWriter, node: Einsum, value: str, full: str) -> str:
    """The extended output without writing into an array: ``value`` laid out along the
    output's axes (size 1 where a label repeats or is new), kept where every repeated
    label agrees (``eye`` masks), zero elsewhere, then broadcast."""
    ns, carried, output = w.ns, set("".join(node.inputs)), node.output
    value = w.array(value)
    seen: set[str] = set()
    index = []
    for lab in output:
        index.append(":" if lab in carried and lab not in seen else "None")
        seen.add(lab)
    expanded = f"{value}[{', '.join(index)}]" if "None" in index else value
    masks = []
    for lab in dict.fromkeys(output):
        where = [k for k, c in enumerate(output) if c == lab]
        eye = f"{ns}.eye({w.dim(node.sizes[lab])}, dtype={ns}.bool{w.device(value)})"
        for q in where[1:]:
            picks = ", ".join(":" if k in (where[0], q) else "None" for k in range(len(output)))
            masks.append(eye if len(output) == 2 else f"{eye}[{picks}]")
    if not masks:  # broadcast only
        return w.emit(f"{ns}.broadcast_to({expanded}, {full})")
    mask = w.emit(" & ".join(masks))
    out = w.emit(f"{ns}.where({mask}, {expanded}, "
                 f"{ns}.zeros((), dtype={value}.dtype{w.device(value)}))")
    if any(lab not in carried and output.count(lab) == 1 for lab in output):
        out = w.emit(f"{ns}.broadcast_to({out}, {full})")
    return out


def contract(w: CodeWriter, inputs: list[str], output: str, args: list[str], node: Einsum) -> str:
    """Pairwise steps along ``tc.contract_path`` for ``inputs -> output`` (no extension)."""
    if len(inputs) == 1:
        return unary(w, inputs[0], output, args[0], node)
    if len(inputs) == 2:
        return pair(w, inputs[0], inputs[1], output, args[0], args[1], node)
    spec = ",".join(inputs) + "->" + output
    shapes = [tuple(w.plan_size(node.sizes[lab]) for lab in labels) for labels in inputs]
    path, _ = contract_path(spec, *shapes)
    ops = list(zip(inputs, args))
    for step in path:
        picked = [ops[k] for k in step]
        for k in sorted(step, reverse=True):
            del ops[k]
        rest = "".join(labels for labels, _ in ops) + output
        if len(ops) == 0:
            keep = output
        else:
            seen = "".join(labels for labels, _ in picked)
            keep = "".join(dict.fromkeys(lab for lab in seen if lab in rest))
        if len(picked) == 1:
            value = unary(w, picked[0][0], keep, picked[0][1], node)
        elif len(picked) == 2:
            value = pair(w, picked[0][0], picked[1][0], keep, picked[0][1], picked[1][1], node)
        elif w.backend.einsum is None:
            value = fold_pairs(w, picked, keep, node)
        else:
            spec_k = ",".join(l for l, _ in picked) + "->" + keep
            value = w.emit(f'{w.backend.einsum}("{spec_k}", {", ".join(a for _, a in picked)}'
                           f'{einsum_options(w)})')
        ops.append((keep, value))
    labels, value = ops[0]
    return value if labels == output else unary(w, labels, output, value, node)


def fold_pairs(w: CodeWriter, picked: list[tuple[str, str]], keep: str, node: Einsum) -> str:
    """Several operands in one step, for a backend without einsum: left to right."""
    labels, value = picked[0]
    for k in range(1, len(picked)):
        later = "".join(l for l, _ in picked[k + 1:]) + keep
        both = labels + picked[k][0]
        out = "".join(dict.fromkeys(lab for lab in both if lab in later)) if k + 1 < len(picked) else keep
        value = pair(w, labels, picked[k][0], out, value, picked[k][1], node)
        labels = out
    return value


def einsum_options(w: CodeWriter) -> str:
    return w.backend.einsum_options


def unary(w: CodeWriter, labels: str, output: str, arg: str, node: Einsum) -> str:
    if labels == output:
        return arg
    if len(labels) == 2 and output == labels[::-1]:
        return w.emit(f"{arg}.T")
    if w.backend.einsum is None:
        return lower_unary(w, labels, output, arg, node.sizes)
    return w.emit(f'{w.backend.einsum}("{labels}->{output}", {arg})')


def pair(w: CodeWriter, a: str, b: str, out: str, x: str, y: str, node: Einsum) -> str:
    if not a or not b:
        scalar_first = (x, y) if not a else (y, x)
        lab = b if not a else a
        value = w.emit_product([], list(scalar_first))
        return value if lab == out else unary(w, lab, out, value, node)
    chain = matrix_chain([a, b], out)
    if chain is not None and all(form in ("M", "T", "col", "row") for _, form in chain):
        names = {0: x, 1: y}
        forms = [form for _, form in chain]
        if forms == ["col", "row"]:
            first, second = names[chain[0][0]], names[chain[1][0]]
            if w.backend.outer is None:
                return w.emit(f"{first}[:, None] * {second}[None, :]")
            return w.emit(f"{w.backend.outer}({first}, {second})")
        parts = [names[k] + (".T" if form == "T" else "") for k, form in chain]
        return w.emit(" @ ".join(parts))
    batched = batched_matmul(w, a, b, out, x, y)
    if batched is not None:
        return batched
    if w.backend.array_api and set(a) | set(b) == set(out) and len(set(a)) == len(a) \
            and len(set(b)) == len(b):  # nothing summed: a product by broadcasting
        return w.emit(f"{align(w, x, a, out)} * {align(w, y, b, out)}")
    if w.backend.einsum is None:
        return lower_pair(w, a, b, out, x, y, node.sizes)
    return w.emit(f'{w.backend.einsum}("{a},{b}->{out}", {x}, {y}{einsum_options(w)})')


def batched_matmul(w: CodeWriter, a: str, b: str, out: str, x: str, y: str) -> str | None:
    """``"bij,bjk->bik"``-shaped pairs as a batched ``@`` (``.mT`` transposes)."""
    n = len(out) - 2
    if n < 1 or len(a) != n + 2 or len(b) != n + 2 or not (a[:n] == b[:n] == out[:n]):
        return None
    if len(set(a)) != len(a) or len(set(b)) != len(b) or len(set(out)) != len(out):
        return None
    chain = matrix_chain([a[n:], b[n:]], out[n:])
    if chain is None or any(form not in ("M", "T") for _, form in chain):
        return None
    names = {0: x, 1: y}
    return w.emit(" @ ".join(names[k] + (".mT" if form == "T" else "") for k, form in chain))


# ---------------------------------------------------------------------------------------
# Einsum steps in the array-API standard (no einsum): every step is at most a diagonal
# (reshape to n*n and a stride n+1 slice), a sum, a permutation, a product by broadcasting
# and one matmul over the flattened free and contracted labels.


def lower_unary(w: CodeWriter, labels: str, output: str, x: str, sizes: dict[str, Any]) -> str:
    """``einsum(labels -> output)`` of one operand (``output`` has no new labels)."""
    ns = w.backend.ns
    while len(set(labels)) != len(labels):
        lab = next(c for c in labels if labels.count(c) > 1)
        p = labels.index(lab)
        q = labels.index(lab, p + 1)
        others = [k for k in range(len(labels)) if k not in (p, q)]
        x = permute(w, x, others + [p, q])
        n = w.dim(sizes[lab])
        square = w.product([sizes[lab], sizes[lab]])
        flat = w.emit(f"{ns}.reshape({x}, {w.tuple_text([w.dim(sizes[labels[k]]) for k in others] + [square])})")
        x = w.emit(f"{flat}[..., ::{n} + 1]")  # the diagonal of the last two axes
        labels = "".join(labels[k] for k in others) + lab
    gone = tuple(k for k, lab in enumerate(labels) if lab not in output)
    if gone:
        x = w.emit(f"{ns}.sum({x}, axis={gone!r})")
        labels = "".join(lab for lab in labels if lab in output)
    return permute(w, x, [labels.index(lab) for lab in output])


def lower_pair(w: CodeWriter, a: str, b: str, out: str, x: str, y: str,
               sizes: dict[str, Any]) -> str:
    """``einsum(a,b -> out)`` with one matmul (or a product and a sum when nothing stays
    free on either side, or a broadcast product when nothing is contracted)."""
    ns = w.backend.ns
    ka = "".join(lab for lab in dict.fromkeys(a) if lab in b or lab in out)
    kb = "".join(lab for lab in dict.fromkeys(b) if lab in a or lab in out)
    x, y = lower_unary(w, a, ka, x, sizes), lower_unary(w, b, kb, y, sizes)
    batch = [lab for lab in out if lab in ka and lab in kb]
    summed = [lab for lab in ka if lab in kb and lab not in out]
    left = [lab for lab in out if lab in ka and lab not in kb]
    right = [lab for lab in out if lab in kb and lab not in ka]
    if not summed:
        return w.emit(f"{align(w, x, ka, out)} * {align(w, y, kb, out)}")
    if not left and not right:
        order = "".join(batch + summed)
        t = w.emit(f"{align(w, x, ka, order)} * {align(w, y, kb, order)}")
        return w.emit(f"{ns}.sum({t}, axis={tuple(range(len(batch), len(order)))!r})")
    xm = matrix_of(w, x, ka, batch, left, summed, sizes)
    ym = matrix_of(w, y, kb, batch, summed, right, sizes)
    t = w.emit(f"{xm} @ {ym}")
    if len(left) != 1 or len(right) != 1:
        dims = [w.dim(sizes[lab]) for lab in batch + left + right]
        t = w.emit(f"{ns}.reshape({t}, {w.tuple_text(dims)})")
    now = batch + left + right
    return permute(w, t, [now.index(lab) for lab in out])


def matrix_of(w: CodeWriter, x: str, labels: str, batch: Sequence[str], rows: Sequence[str],
              cols: Sequence[str], sizes: dict[str, Any]) -> str:
    """``x`` as a stack (over ``batch``) of matrices: ``rows`` flattened, then ``cols``."""
    order = list(batch) + list(rows) + list(cols)
    x = permute(w, x, [labels.index(lab) for lab in order])
    if len(rows) == 1 and len(cols) == 1:
        return x
    dims = [w.dim(sizes[lab]) for lab in batch]
    dims += [w.product([sizes[lab] for lab in rows]), w.product([sizes[lab] for lab in cols])]
    return w.emit(f"{w.backend.ns}.reshape({x}, {w.tuple_text(dims)})")


def permute(w: CodeWriter, x: str, perm: Sequence[int]) -> str:
    if list(perm) == sorted(perm):
        return x
    if len(perm) == 2:
        return w.emit(f"{x}.T")
    return w.emit(f"{w.backend.ns}.permute_dims({x}, {tuple(perm)!r})")


def align(w: CodeWriter, x: str, labels: str, target: str) -> str:
    """``x`` (unique ``labels``, all in ``target``) permuted to ``target``'s order, with new
    axes of size 1 where ``target`` has labels ``x`` does not: ready to broadcast."""
    mine = [lab for lab in target if lab in labels]
    x = permute(w, x, [labels.index(lab) for lab in mine])
    if len(mine) == len(target):
        return x
    return f"{x}[{', '.join(':' if lab in labels else 'None' for lab in target)}]"
