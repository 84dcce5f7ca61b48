"""Reverse mode over the DAG: push a cotangent from the output to one variable.

>>> from tensorcalc.ir import Const, var
>>> x = var("x", (2,))
>>> backprop(x * x, x, var("g", (2,))).shape
(2,)
"""

from __future__ import annotations

import weakref
from typing import Any

from ..errors import TensorcalcError
from ..ir import Add, Einsum, Expr, Var, WithDims, einsum, topological
from ..labels import LETTERS
from ..simplify import split_scale, zeros
from ..simplify.core import simplify_memo
from .rules import vjp_rule


def find_var(y: Expr, wrt: Any, order: list[Expr], allow_unused: bool = False) -> Var:
    """The variable ``wrt`` (a :class:`Var` or a name) of the expression ``y`` (``order``:
    its nodes).

    A variable the expression does not contain, or a different variable with the same name
    (another shape, or a symmetric twin), is an error unless ``allow_unused``: then the given
    variable is returned, and its derivative is zero.
    """
    variables = list({n.uid: n for n in order if isinstance(n, Var)}.values())
    if isinstance(wrt, Var):
        if allow_unused or any(v.uid == wrt.uid for v in variables) or derived_from(order, wrt):
            return wrt
        twins = [v for v in variables if v.name == wrt.name]
        if twins:
            raise TensorcalcError(
                f"cannot differentiate by {wrt.name!r} ({describe_var(wrt)}): the expression's "
                f"{wrt.name!r} is a different variable ({describe_var(twins[0])}); pass the "
                "variable the expression was built with, or allow_unused=True for zeros")
        raise TensorcalcError(
            f"the expression does not contain the variable {wrt.name!r} ({describe_var(wrt)}; "
            f"its variables: {sorted({v.name for v in variables})}); pass allow_unused=True "
            "for zeros of its shape")
    if isinstance(wrt, str):
        found = [v for v in variables if v.name == wrt]
        if len(found) > 1:
            raise TensorcalcError(
                f"the expression has {len(found)} different variables named {wrt!r} ("
                + "; ".join(describe_var(v) for v in found) + "): pass the variable itself")
        if found:
            return found[0]
        names = sorted({v.name for v in variables})
        raise TensorcalcError(f"the expression has no variable {wrt!r} (its variables: {names})")
    raise TypeError(f"wrt must be a variable or its name, got {type(wrt).__name__}")


# A derivative is a function of the variables of what was differentiated, even when its
# formula no longer shows them (the gradient of a linear function is constant): the result
# of grad/jacobian remembers them, so differentiating it again by one of them is not an
# unused variable. Keyed by the result node (weakly: the entry goes with the node).
_SOURCES: "weakref.WeakKeyDictionary[Expr, frozenset[int]]" = weakref.WeakKeyDictionary()
# The same variables by name: evaluation gives a constant derivative the precision of their
# arrays (float32 in, float32 out; ``tensorcalc.evaluation.precision``).
_SOURCE_NAMES: "weakref.WeakKeyDictionary[Expr, frozenset[str]]" = weakref.WeakKeyDictionary()


def remember_sources(result: Expr, order: list[Expr]) -> Expr:
    """Record that ``result`` derives from the expression whose nodes are ``order``."""
    uids = {n.uid for n in order if isinstance(n, Var)}
    names = {n.name for n in order if isinstance(n, Var)}
    for node in order:
        uids |= _SOURCES.get(node, frozenset())
        names |= _SOURCE_NAMES.get(node, frozenset())
    _SOURCES[result] = frozenset(uids) | _SOURCES.get(result, frozenset())
    _SOURCE_NAMES[result] = frozenset(names) | _SOURCE_NAMES.get(result, frozenset())
    return result


def source_names(e: Expr) -> frozenset[str]:
    """The names of the variables ``e`` (a result of ``grad``, ``jacobian``, ``hessian``,
    ``hvp``, ``jvp``...) was derived from, whether or not its formula still holds them.

    >>> from tensorcalc.ir import Const, var
    >>> x = var("x", (2,))
    >>> d = remember_sources(Const(2.0), [x])  # as grad(2 x . 1, x) would
    >>> sorted(source_names(d)), sorted(source_names(x))
    (['x'], [])
    """
    return _SOURCE_NAMES.get(e, frozenset())


def derived_from(order: list[Expr], v: Var) -> bool:
    """Whether a node of ``order`` is a derivative of an expression holding ``v``."""
    return any(v.uid in _SOURCES.get(node, ()) for node in order)


def describe_var(v: Var) -> str:
    """``shape (3, 'n')``, with ``symmetric`` when declared so (for messages)."""
    shape = "(" + ", ".join(repr(d) for d in v.shape) + ("," if len(v.shape) == 1 else "") + ")"
    return f"shape {shape}" + (", symmetric" if v.symmetric else "")


def backprop(y: Expr, wrt: Var, seed: Expr) -> Expr:
    """The cotangent of ``wrt`` given the cotangent ``seed`` of ``y`` (unsimplified)."""
    order = topological([y])
    depends: set[int] = set()
    for node in order:
        if node.uid == wrt.uid or any(c.uid in depends for c in node.children):
            depends.add(node.uid)
    nb = seed.ndim - y.ndim
    if y.uid not in depends:
        return zeros(seed.shape[:nb] + wrt.shape)
    cotangents: dict[int, list[Expr]] = {y.uid: [seed]}
    for node in reversed(order):
        if node.uid not in depends or node.uid == wrt.uid:
            continue
        parts = cotangents.pop(node.uid, None)
        if parts is None:  # every path from y runs through a zero derivative (sign, relu')
            continue
        g = parts[0] if len(parts) == 1 else Add(parts)
        for child, ct in zip(node.children, vjp_rule(node, g)):
            if ct is not None and child.uid in depends:
                cotangents.setdefault(child.uid, []).append(ct)
    parts = cotangents.get(wrt.uid) or [zeros(seed.shape[:nb] + wrt.shape)]
    return parts[0] if len(parts) == 1 else Add(parts)


def symmetrize(e: Expr, var_: Var) -> Expr:
    """Average over the two (trailing) axes of a symmetric variable (for directions; a
    derivative is averaged by :func:`simplified_derivative`)."""
    if not var_.symmetric:
        return e
    labels = LETTERS[: e.ndim]
    swapped = labels[:-2] + labels[-1] + labels[-2]
    return 0.5 * (e + einsum(f"{labels}->{swapped}", e))


def simplified_derivative(e: Expr, var_: Var, memo: dict[int, Expr] | None = None) -> Expr:
    """The derivative ``e`` (unsimplified, its trailing axes those of ``var_``) simplified and,
    for a symmetric ``var_``, averaged over its two trailing axes; ``memo`` is the
    simplification memo to share with later steps.

    The average is taken of the simplified form ``c t``, as ``(c/2) (t + tᵀ)`` with ``t``
    computed once: the scale the derivative carries (the 2 of a square) folds into the
    average, so ``d‖Sx‖²/dS`` is ``t + tᵀ`` with ``t = (Sx) xᵀ``, one product and one sum,
    where ``0.5 (t + tᵀ)`` with ``t = 2 (Sx) xᵀ`` would spend one more pass over the ``n²``
    result, only to scale it by 1/2.

    >>> import numpy as np
    >>> import tensorcalc as tc  # its first public name loads every layer (printing, evaluate)
    >>> from tensorcalc.ir import Const
    >>> S, x = tc.var("S", (2, 2), symmetric=True), tc.var("x", (2,))
    >>> f = einsum("i,i->", einsum("ij,j->i", S, x), einsum("ij,j->i", S, x))
    >>> g = simplified_derivative(backprop(f, S, Const(1.0)), S)
    >>> g.coeffs  # t + tᵀ: the 2 of the square and the 1/2 of the average cancel
    (1.0, 1.0)
    >>> g.evaluate(S=np.eye(2), x=np.array([1.0, 2.0]))
    array([[2., 4.],
           [4., 8.]])
    """
    memo = {} if memo is None else memo
    out = simplify_memo(e, memo)
    if not var_.symmetric:
        return out
    core = out.children[0] if isinstance(out, WithDims) else out  # the caller binds dims
    c, core = _common_scale(core)
    labels = LETTERS[: core.ndim]
    swapped = labels[:-2] + labels[-1] + labels[-2]
    sizes = dict(zip(labels, core.shape))
    average = Add([core, Einsum([labels], swapped, [core], sizes)])
    if c != 2.0:  # printed as the textbook's 0.5 (G + Gᵀ)
        average = Einsum([labels], labels, [average], sizes, c / 2)
    return simplify_memo(average, memo)


def _common_scale(e: Expr) -> tuple[float, Expr]:
    """``(c, t)`` with ``e == c t``: an einsum's scale, or a sum's one common coefficient."""
    if isinstance(e, Add) and len(set(e.coeffs)) == 1 and e.coeffs[0] != 1.0:
        return e.coeffs[0], Add(e.children)
    return split_scale(e)
