"""``to_str`` (what ``str(expr)`` prints): one line in einsum form; a subexpression used twice
or more is named once (``t1``, ``t2``, ...) in a ``where`` block. Einsum labels are renamed for
display, deterministically: output labels are ``i, j, k, ...`` in order, summed labels
continue the alphabet. Node types join the :data:`str_rule` registry.

>>> from tensorcalc.ir import var, einsum
>>> A = var("A", ("m", "n")); x = var("x", ("n",))
>>> print(to_str(einsum("ij,j->i", A, x)))
einsum("ij,j->i", A, x)
"""

from __future__ import annotations

from typing import Any, Sequence

from ..ir import Add, Const, Einsum, Expr, Var, WithDims
from ..ir.registry import NodeRules
from ..ops import AxisFunc, Func, Index, MatFunc, PowArray, Stack
from ..simplify import simplified
from .format import (display_spec, factor_dims, is_identity, number, scalar_broadcast,
                     shared_names, sign_magnitude, signed_sum)

__all__ = ["to_str", "str_rule", "shape_text", "item_text"]

# The text of each node type: ``rule(node, printer) -> (text, precedence)``; precedences are
# 0 sum, 1 product, 2 power, 3 atom.
str_rule = NodeRules("to_str")

# ----------------------------------------------------------------------------- to_str

def to_str(expr: Expr) -> str:
    """Compact einsum text; shared subexpressions are named once in a ``where`` block.

    >>> from tensorcalc.ir import var, einsum
    >>> A = var("A", ("m", "n")); x = var("x", ("n",)); b = var("b", ("m",))
    >>> r = einsum("ij,j->i", A, x) - b
    >>> print(to_str(einsum("i,i->", r, r)))
    einsum("i,i->", t1, t1)
    where
      t1 = einsum("ij,j->i", A, x) - b
    """
    expr = simplified(expr)
    shared, names = shared_names(expr)
    lines = [StrPrinter(names).text(expr, top=True)]
    if shared:
        lines.append("where")
        fmt = StrPrinter(names)
        lines.extend(f"  {names[n.uid]} = {fmt.text(n, top=True)}" for n in shared)
    return "\n".join(lines)


class StrPrinter:
    def __init__(self, names: dict[int, str]) -> None:
        self.names = names

    def text(self, node: Expr, top: bool = False) -> str:
        return self.fmt(node, top)[0]

    def wrap(self, node: Expr, prec: int) -> str:
        text, p = self.fmt(node)
        return f"({text})" if p < prec else text

    def fmt(self, node: Expr, top: bool = False) -> tuple[str, int]:
        if not top and node.uid in self.names:
            return self.names[node.uid], 3
        rule = str_rule.lookup(type(node))
        if rule is None:
            return self.generic(node), 3
        return rule(node, self)

    def generic(self, node: Expr) -> str:
        params = [repr(p) for p in node.params()]
        args = [self.text(c) for c in node.children] + params
        return f"{type(node).__name__.lower()}({', '.join(args)})"

    def einsum_core(self, node: Einsum) -> tuple[str, int]:
        """The einsum without its scale."""
        if is_identity(node) or scalar_broadcast(node) is not None:
            return self.fmt(node.children[0])
        if len(node.children) > 1 and all(labels == node.output for labels in node.inputs) \
                and len(set(node.output)) == len(node.output):
            # scalars, or operands of one shape multiplied elementwise: numpy's a * b
            return " * ".join(self.wrap(c, 2) for c in node.children), 1
        inputs, output = display_spec(node.inputs, node.output)
        ops = ", ".join(self.text(c) for c in node.children)
        text = f'einsum("{",".join(inputs)}->{output}", {ops})'
        carried = set("".join(node.inputs))
        extra = {lab: node.sizes[lab] for lab in node.output if lab not in carried}
        if extra:
            rename = dict(zip(node.output, output))
            text = text[:-1] + ", sizes={" + ", ".join(
                f'"{rename[k]}": ' + (f'"{v}"' if isinstance(v, str) else str(v))
                for k, v in extra.items()) + "})"
        return text, 3

    def term(self, node: Expr, coeff: float) -> tuple[float, str]:
        """A term of a sum with its sign pulled out: (sign-carrying coeff, text)."""
        if isinstance(node, Einsum) and not node.factor_dims and node.uid not in self.names:
            coeff *= node.scale
            core, prec = self.einsum_core(node)
        else:
            core, prec = self.fmt(node)
        # a sum inside a sum needs no parentheses unless something multiplies or negates it
        inner = core if prec >= 1 or (coeff == 1 and not core.startswith("-")) else f"({core})"
        magnitude = sign_magnitude(coeff)[1]
        if magnitude != 1:
            inner = f"{number(magnitude)} * {inner}"
        return coeff, inner



@str_rule.register(Var)
def _fmt_var(node: Var, p: StrPrinter) -> tuple[str, int]:
    return node.name, 3


@str_rule.register(WithDims)
def _fmt_withdims(node: Expr, p: StrPrinter) -> tuple[str, int]:
    return p.fmt(node.children[0])  # the attached variables only bind sizes


@str_rule.register(Const)
def _fmt_const(node: Const, p: StrPrinter) -> tuple[str, int]:
    if node.value.ndim == 0:
        text = number(node.value.item())
        return text, 3 if not text.startswith("-") else 0
    if node.value.size <= 6:
        return f"const({node.value.tolist()})", 3
    return f"const(shape={node.value.shape})", 3


@str_rule.register(Einsum)
def _fmt_einsum(node: Einsum, p: StrPrinter) -> tuple[str, int]:
    core, prec = p.einsum_core(node)
    num, den = factor_dims(node)
    if node.scale == 1 and not num and not den:
        return core, prec
    mag = abs(node.scale)
    factors = ([number(mag)] if mag != 1 else []) + num
    body = core if prec >= 2 else f"({core})"
    text = " * ".join(factors + [body]) + "".join(f" / {d}" for d in den)
    if node.scale < 0:
        return "-" + text, 0 if factors or den else 1
    return text, 1


@str_rule.register(Add)
def _fmt_add(node: Add, p: StrPrinter) -> tuple[str, int]:
    terms = [p.term(child, c) for child, c in zip(node.children, node.coeffs)]
    return signed_sum((sign_magnitude(coeff)[0], text) for coeff, text in terms), 0


@str_rule.register(Func)
def _fmt_func(node: Any, p: StrPrinter) -> tuple[str, int]:
    if node.name == "pow":
        return f"{p.wrap(node.children[0], 3)} ** {number(node.param)}", 2
    return f"{node.name}({p.text(node.children[0])})", 3


@str_rule.register(PowArray)
def _fmt_powarray(node: Any, p: StrPrinter) -> tuple[str, int]:
    return f"{p.wrap(node.children[0], 3)} ** {node.exponent.tolist()!r}", 2


@str_rule.register(MatFunc)
def _fmt_matfunc(node: Any, p: StrPrinter) -> tuple[str, int]:
    return f"{node.name}({p.text(node.children[0])})", 3


@str_rule.register(AxisFunc)
def _fmt_axisfunc(node: Any, p: StrPrinter) -> tuple[str, int]:
    """``softmax(z)`` along the last axis (the builder's default), ``norm2(x)`` and
    ``normalize(x)`` over every axis, ``..., axis=(0,)`` otherwise; ``normalize(x)`` is
    written ``x / norm2(x)``."""
    x = node.children[0]
    if node.name == "normalize":
        return f"{p.wrap(x, 2)} / norm2({p.text(x)})", 1
    default = (x.ndim - 1,) if node.name in ("softmax", "log_softmax") and x.ndim else tuple(range(x.ndim))
    if tuple(node.axes) == default:
        return f"{node.name}({p.text(x)})", 3
    return f"{node.name}({p.text(x)}, axis={tuple(node.axes)})", 3


@str_rule.register(Index)
def _fmt_index(node: Any, p: StrPrinter) -> tuple[str, int]:
    return f"{p.wrap(node.children[0], 3)}[{item_text(node.index)}]", 3


@str_rule.register(Stack)
def _fmt_stack(node: Any, p: StrPrinter) -> tuple[str, int]:
    items = ", ".join(p.text(c) for c in node.children)
    return f"stack([{items}], axis={node.axis})", 3


def shape_text(shape: Sequence[Any]) -> str:
    parts = [f'"{d}"' if isinstance(d, str) else str(d) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def item_text(index: tuple) -> str:
    parts = []
    for it in index:
        if it is None:
            parts.append("None")
        elif isinstance(it, slice):
            start = "" if it.start is None else str(it.start)
            stop = "" if it.stop is None else str(it.stop)
            step = "" if it.step in (None, 1) else f":{it.step}"
            parts.append(f"{start}:{stop}{step}")
        else:
            parts.append(str(it))
    return ", ".join(parts) if parts else "()"
