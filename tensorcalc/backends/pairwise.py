"""Planned contractions on any backend: the pairwise order of :mod:`tensorcalc.contraction`
(opt_einsum's path, the same one the compiled core runs for numpy), each step run by the
backend's own ``einsum`` or, for array-API libraries, by :func:`.lowering.pair`.

>>> import numpy as np
>>> import array_api_compat.numpy as xp
>>> a = np.arange(6.0).reshape(2, 3)
>>> contract("ij,kj->ik", [a, a], xp, BACKENDS["array_api"])
array([[ 5., 14.],
       [14., 50.]])
>>> contract("i->ii", [np.array([1.0, 2.0])], xp, BACKENDS["array_api"])
array([[1., 0.],
       [0., 2.]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..contraction.plan import find_path, remember
from ..contraction.subscripts import Spec, parse
from ..labels import LETTERS
from . import lowering
from .table import BACKENDS, Backend


@dataclass(frozen=True)
class PairwisePlan:
    """A parsed einsum and its steps: ``(positions, output labels)`` in opt_einsum's path
    form (the operands at ``positions`` leave the list, their contraction joins its end)."""

    spec: Spec
    steps: tuple[tuple[tuple[int, ...], str], ...]
    reduced: str  # the output's labels carried by an input, once each (before expanding)
    texts: tuple[str, ...]  # each step's subscripts for a library's einsum (ASCII)

    def run(self, operands: Sequence[Any], xp: Any, backend: Backend) -> Any:
        spec = self.spec
        arrays = [_squeeze(a, drop) for a, drop in zip(operands, spec.squeeze)]
        labels = list(spec.inputs)
        einsum = backend.einsum() if backend.einsum is not None else None
        for (positions, keep), text in zip(self.steps, self.texts):  # keep: the labels
            ops = [(arrays[k], labels[k]) for k in positions]       # a step's result carries
            for k in sorted(positions, reverse=True):
                del arrays[k], labels[k]
            value, out = (_einsum_step(xp, einsum, ops, keep, text) if einsum is not None
                          else _lowered_step(xp, ops, keep, spec.sizes))
            arrays.append(value)
            labels.append(out)
        result = lowering.permute(xp, arrays[0], labels[0], self.reduced)
        if self.reduced == spec.output:
            return result
        return lowering.expand_output(xp, result, self.reduced, spec.output, spec.sizes)


_PLANS: dict[tuple, PairwisePlan] = {}

#: The size planned for a dimension unknown when planning (a dynamic size under torch.compile,
#: which is never 0 or 1) whose label no other operand sizes: it only weighs the path, as
#: named dimensions weigh 64 in the planned cost of expressions.
UNKNOWN_SIZE = 64


def pairwise_plan(subscripts: str, shapes: Sequence[tuple[int | None, ...]],
                  sizes: Mapping[str, int] | None = None, optimize: Any = "auto") -> PairwisePlan:
    """The plan for ``subscripts`` over operands of ``shapes`` (cached); ``optimize`` is a
    value :func:`~tensorcalc.contraction.plan.optimize_key` returned (the path's strategy).

    A size may be None, unknown until the run: it takes the size that another operand or
    ``sizes`` gives its label, else :data:`UNKNOWN_SIZE`. Such a plan runs only by a library's
    einsum (which takes the real sizes) and with no extended output (they are built to the
    planned sizes).

    >>> pairwise_plan("ij,jk->ik", [(None, 3), (3, None)]).spec.sizes
    {'i': 64, 'j': 3, 'k': 64}
    """
    key = (subscripts, tuple(shapes), tuple(sorted(sizes.items())) if sizes else None, optimize)
    plan = _PLANS.get(key)
    if plan is None:
        spec = parse(subscripts, _known(subscripts, shapes, sizes), sizes)
        carried = set("".join(spec.inputs))
        reduced = "".join(dict.fromkeys(lab for lab in spec.output if lab in carried))
        steps = _steps(spec, reduced, optimize)
        plan = PairwisePlan(spec, steps, reduced, _einsum_texts(spec, steps))
        remember(_PLANS, key, plan)
    return plan


def _known(subscripts: str, shapes: Sequence[tuple[int | None, ...]],
           sizes: Mapping[str, int] | None) -> list[tuple[int, ...]]:
    """``shapes`` with each unknown size (None) set as :func:`pairwise_plan` says."""
    if all(d is not None for shape in shapes for d in shape):
        return list(shapes)
    # the labels of every axis: parsed over sizes 1, which nothing squeezes
    ones = parse(subscripts, [(1,) * len(shape) for shape in shapes], dict.fromkeys(sizes or (), 1))
    known = dict(sizes or {})
    for labels, shape in zip(ones.inputs, shapes):
        known.update((lab, d) for lab, d in zip(labels, shape) if d is not None and d != 1)
    return [tuple(known.get(lab, UNKNOWN_SIZE) if d is None else d for lab, d in zip(labels, shape))
            for labels, shape in zip(ones.inputs, shapes)]


# torch.compile runs the planning (parsing, opt_einsum's path, the cache and its lock, none of
# which dynamo can trace) eagerly and keeps the plan as a constant of the graph, guarded by the
# arguments (the subscripts and the operands' shapes): the one attribute that
# torch.compiler.assume_constant_result sets, set here so that no torch import is needed
# (tests/backends/test_torch_compile_front_doors.py checks it is still that one).
pairwise_plan._dynamo_marked_constant = True  # type: ignore[attr-defined]


def _steps(spec: Spec, reduced: str, optimize: Any = "auto") -> tuple:
    """The path's steps with the labels each result keeps: those a later operand or the
    output needs, in the order the operands carry them (no transposed copy where a step only
    scales rows), the output's order at the last step."""
    labels = list(spec.inputs)
    path = find_path(spec, optimize)
    steps = []
    for n, positions in enumerate(path):
        rest = [labels[k] for k in range(len(labels)) if k not in positions]
        needed = set(reduced).union(*rest)
        seen = "".join(dict.fromkeys("".join(labels[k] for k in positions)))
        keep = reduced if n == len(path) - 1 else "".join(lab for lab in seen if lab in needed)
        for k in sorted(positions, reverse=True):
            del labels[k]
        labels.append(keep)
        steps.append((tuple(positions), keep))
    return tuple(steps)


def contract(subscripts: str, operands: Sequence[Any], xp: Any, backend: Backend,
             sizes: Mapping[str, int] | None = None) -> Any:
    """``einsum(subscripts, *operands)`` (the extended einsum: ``sizes`` gives the output
    labels no input carries) on the backend's arrays, in the planned pairwise order."""
    shapes = [tuple(int(d) for d in a.shape) for a in operands]
    return pairwise_plan(subscripts, shapes, sizes).run(operands, xp, backend)


def backend_of_namespace(xp: Any) -> Backend:
    """The row whose arrays ``xp`` (an array-API namespace) makes: by the namespace's module
    name (``array_api_compat.torch``, ``jax.numpy``...); ``array_api`` for any other."""
    name = getattr(xp, "__name__", "")
    for part in name.split("."):
        if part in BACKENDS and part != "numpy":
            return BACKENDS[part]
    return BACKENDS["array_api"]


def _squeeze(a: Any, drop: tuple[int, ...]) -> Any:
    if not drop:
        return a
    return a[tuple(0 if ax in drop else slice(None) for ax in range(a.ndim))]


def _einsum_texts(spec: Spec, steps: tuple) -> tuple[str, ...]:
    """Each step's subscripts with its labels renamed to ASCII letters (torch takes only
    those), made with the plan: torch.compile cannot trace ``str.maketrans`` in a run."""
    labels = list(spec.inputs)
    texts = []
    for positions, keep in steps:
        ins = [labels[k] for k in positions]
        used = sorted(set("".join(ins)))
        rename = str.maketrans({lab: LETTERS[k] for k, lab in enumerate(used)})
        texts.append(",".join(lab.translate(rename) for lab in ins) + "->"
                     + keep.translate(rename))
        for k in sorted(positions, reverse=True):
            del labels[k]
        labels.append(keep)
    return tuple(texts)


def _einsum_step(xp: Any, einsum: Any, ops: list, out: str, text: str) -> tuple[Any, str]:
    """One step by the library's einsum on the plan's ``text``, the operands brought to one
    dtype (torch does not promote in einsum)."""
    arrays = [a for a, _ in ops]
    if len(arrays) > 1:
        dtype = xp.result_type(*arrays)
        arrays = [a if a.dtype == dtype else xp.astype(a, dtype) for a in arrays]
    return einsum(text, *arrays), out


def _lowered_step(xp: Any, ops: list, out: str, sizes: Mapping[str, int]) -> tuple[Any, str]:
    """One step in array-API functions (pairs folded left to right)."""
    (value, labels), rest = ops[0], ops[1:]
    if not rest:
        return lowering.reduce(xp, value, labels, set(out))
    for k, (other, other_labels) in enumerate(rest):
        later = set().union(*(lab for _, lab in rest[k + 1:]))
        value, labels = lowering.pair(xp, value, labels, other, other_labels,
                                      set(out) | later, sizes)
    return value, labels
