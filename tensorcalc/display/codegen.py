"""Write an expression as the source of one self-contained numpy function (``tc.to_numpy``).

Every node becomes one assignment (shared subexpressions are computed once). An einsum of
three or more operands is split into the pairwise steps of ``tc.contract_path``; a pairwise
step that is a matrix product is written with ``@``, others with ``np.einsum``. Extended
einsums are written in plain numpy: a repeated output label writes into a diagonal view
of ``np.zeros`` (``np.einsum("ii->i", out)[...] = v``: einsum returns a writeable view for
one operand), a broadcast label uses ``np.broadcast_to``.

>>> from tensorcalc.ir import var, einsum
>>> print(to_numpy(einsum("i->ii", var("x", ("n",)))), end="")
import numpy as np
<BLANKLINE>
<BLANKLINE>
def f(x):
    n = x.shape[0]
    t1 = np.zeros((n, n), dtype=np.result_type(x))
    np.einsum("aa->a", t1)[...] = x
    return t1
"""

from __future__ import annotations

import keyword
from typing import Any, Sequence

from ..contraction import contract_path
from ..errors import TensorcalcError
from ..ir import Add, Const, Einsum, Expr, Var, WithDims, walk
from ..ir.registry import NodeRules
from ..ops import (AXIS, ELEMENTWISE, MATRIX, POW, AxisFunc, Func, Index, IndexAdjoint, LogSumExp,
                   MatFunc, PowArray, Stack)
from ..simplify import simplified
from .format import number, sign_magnitude, signed_sum
from .matrix import matrix_chain
from .text import item_text

__all__ = ["to_numpy", "code_rule"]

DEFAULT_SIZE = 64  # planning size of a named dimension the caller gives no size for

# The source of each node type: ``rule(node, args, writer) -> name``, ``args`` the names of
# the children's values; a rule emits lines with ``writer.emit`` and returns the result's name.
code_rule = NodeRules("to_numpy")


def _identifier(name: str, taken: set[str]) -> str:
    base = name if name.isidentifier() and not keyword.iskeyword(name) else "v_" + "".join(
        c if c.isalnum() else "_" for c in name)
    out = base
    k = 1
    while out in taken or out == "np":
        out = f"{base}_{k}"
        k += 1
    taken.add(out)
    return out


class CodeWriter:
    def __init__(self, expr: Expr, sizes: dict[str, int]) -> None:
        self.expr = expr
        self.sizes = sizes
        self.taken: set[str] = set()
        self.names: dict[int, str] = {}
        self.lines: list[str] = []
        self.params: list[str] = []
        self.dim_names: dict[str, str] = {}
        self.counter = 0
        order = walk(expr)
        for v in sorted((n for n in order if isinstance(n, Var)), key=lambda v: v.name):
            self.names[v.uid] = _identifier(v.name, self.taken)
            self.params.append(self.names[v.uid])
        # Where each named dimension can be read from: the first variable axis carrying it.
        self.dim_source: dict[str, str] = {}
        for v in sorted((n for n in order if isinstance(n, Var)), key=lambda v: v.name):
            for ax, d in enumerate(v.shape):
                if isinstance(d, str) and d not in self.dim_source:
                    self.dim_source[d] = f"{self.names[v.uid]}.shape[{ax}]"
        self.order = order

    # -- helpers -----------------------------------------------------------------------
    def fresh(self) -> str:
        while True:
            self.counter += 1
            name = f"t{self.counter}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def dim(self, d: Any) -> str:
        if not isinstance(d, str):
            return str(int(d))
        if d not in self.dim_names:
            self.dim_names[d] = _identifier(d, self.taken)
        return self.dim_names[d]

    def shape_text(self, dims: Sequence[Any]) -> str:
        parts = [self.dim(d) for d in dims]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def plan_size(self, d: Any) -> int:
        return int(d) if not isinstance(d, str) else int(self.sizes.get(d, DEFAULT_SIZE))

    def emit(self, text: str) -> str:
        name = self.fresh()
        self.lines.append(f"{name} = {text}")
        return name

    # -- nodes -------------------------------------------------------------------------
    def run(self) -> str:
        for node in self.order:
            if node.uid in self.names:
                continue
            rule = code_rule.lookup(type(node))
            if rule is None:
                raise TensorcalcError(f"to_numpy cannot write a {type(node).__name__} node")
            args = [self.names[c.uid] for c in node.children]
            self.names[node.uid] = rule(node, args, self)
        return self.names[self.expr.uid]

    def embed(self, node: Einsum, core: str, value: str) -> str:
        """Write ``value`` (labels ``core``) into the extended output of ``node``."""
        carried = set("".join(node.inputs))
        output = node.output
        unique = "".join(dict.fromkeys(output))
        full = self.shape_text([node.sizes[lab] for lab in output])
        index = ", ".join(":" if lab in carried else "None" for lab in unique)
        expanded = f"{value}[{index}]" if any(lab not in carried for lab in unique) else value
        if unique == output:  # broadcast only
            return self.emit(f"np.broadcast_to({expanded}, {full})")
        out = self.emit(f"np.zeros({full}, dtype=np.result_type({value}))")
        self.lines.append(f'np.einsum("{output}->{unique}", {out})[...] = {expanded}')
        return out

    def contract(self, inputs: list[str], output: str, args: list[str], node: Einsum) -> str:
        """Pairwise steps along ``tc.contract_path`` for ``inputs -> output`` (no extension)."""
        if len(inputs) == 1:
            return self.unary(inputs[0], output, args[0])
        if len(inputs) == 2:
            return self.pair(inputs[0], inputs[1], output, args[0], args[1])
        spec = ",".join(inputs) + "->" + output
        shapes = [tuple(self.plan_size(node.sizes[lab]) for lab in labels) for labels in inputs]
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
                value = self.unary(picked[0][0], keep, picked[0][1])
            elif len(picked) == 2:
                value = self.pair(picked[0][0], picked[1][0], keep, picked[0][1], picked[1][1])
            else:
                spec_k = ",".join(l for l, _ in picked) + "->" + keep
                value = self.emit(f'np.einsum("{spec_k}", {", ".join(a for _, a in picked)}, optimize=True)')
            ops.append((keep, value))
        labels, value = ops[0]
        return value if labels == output else self.unary(labels, output, value)

    def unary(self, labels: str, output: str, arg: str) -> str:
        if labels == output:
            return arg
        if len(labels) == 2 and output == labels[::-1]:
            return self.emit(f"{arg}.T")
        return self.emit(f'np.einsum("{labels}->{output}", {arg})')

    def pair(self, a: str, b: str, out: str, x: str, y: str) -> str:
        if not a or not b:
            scalar_first = (x, y) if not a else (y, x)
            lab = b if not a else a
            value = self.emit(f"{scalar_first[0]} * {scalar_first[1]}")
            return value if lab == out else self.unary(lab, out, value)
        chain = matrix_chain([a, b], out)
        if chain is not None and all(form in ("M", "T", "col", "row") for _, form in chain):
            names = {0: x, 1: y}
            forms = [form for _, form in chain]
            if forms == ["col", "row"]:
                return self.emit(f"np.outer({names[chain[0][0]]}, {names[chain[1][0]]})")
            parts = [names[k] + (".T" if form == "T" else "") for k, form in chain]
            return self.emit(" @ ".join(parts))
        batched = self.batched_matmul(a, b, out, x, y)
        if batched is not None:
            return batched
        return self.emit(f'np.einsum("{a},{b}->{out}", {x}, {y}, optimize=True)')

    def batched_matmul(self, a: str, b: str, out: str, x: str, y: str) -> str | None:
        """``"bij,bjk->bik"``-shaped pairs as numpy's batched ``@`` (``.mT`` transposes)."""
        n = len(out) - 2
        if n < 1 or len(a) != n + 2 or len(b) != n + 2 or not (a[:n] == b[:n] == out[:n]):
            return None
        if len(set(a)) != len(a) or len(set(b)) != len(b) or len(set(out)) != len(out):
            return None
        chain = matrix_chain([a[n:], b[n:]], out[n:])
        if chain is None or any(form not in ("M", "T") for _, form in chain):
            return None
        names = {0: x, 1: y}
        return self.emit(" @ ".join(names[k] + (".mT" if form == "T" else "") for k, form in chain))


@code_rule.register(Const)
def _node_const(node: Const, args: list[str], w: CodeWriter) -> str:
    if node.value.ndim == 0:
        return w.emit(f"np.{node.value.dtype.name}({node.value.item()!r})")
    return w.emit(f"np.array({node.value.tolist()!r}, dtype=np.{node.value.dtype.name})")


@code_rule.register(WithDims)
def _node_withdims(node: Expr, args: list[str], w: CodeWriter) -> str:
    return args[0]  # the other children are variables attached to bind named sizes


@code_rule.register(Add)
def _node_add(node: Add, args: list[str], w: CodeWriter) -> str:
    terms = []
    for a, c in zip(args, node.coeffs):
        negative, magnitude = sign_magnitude(c)
        terms.append((negative, a if magnitude == 1 else f"{number(magnitude)} * {a}"))
    return w.emit(signed_sum(terms))


@code_rule.register(PowArray)
def _node_powarray(node: Any, args: list[str], w: CodeWriter) -> str:
    p = node.exponent
    return w.emit(f"np.power({args[0]}, np.array({p.tolist()!r}, dtype=np.{p.dtype.name}))")


@code_rule.register(Func)
def _node_func(node: Any, args: list[str], w: CodeWriter) -> str:
    x = args[0]
    if node.name == "pow":
        p = node.param
        code = {2.0: f"{x} * {x}", -1.0: f"1.0 / {x}", 0.5: f"np.sqrt({x})"}.get(
            p, POW.code.format(x, number(p)))
        return w.emit(code)
    return w.emit(ELEMENTWISE[node.name].code.format(x))


@code_rule.register(MatFunc)
def _node_matfunc(node: Any, args: list[str], w: CodeWriter) -> str:
    return w.emit(MATRIX[node.name].code.format(args[0]))


@code_rule.register(AxisFunc)
def _node_axisfunc(node: Any, args: list[str], w: CodeWriter) -> str:
    """The row's template, line by line (``{peak}``: the max-shift, emitted once)."""
    axes = tuple(node.axes)
    fields = {"x": args[0], "axis": repr(axes), "peak": "", "prev": ""}
    template = AXIS[node.name].code
    if "{peak}" in template:
        fields["peak"] = w.emit(f"np.max({args[0]}.real, axis={axes!r}, keepdims=True)")
    for line in template.split("\n"):
        fields["prev"] = w.emit(line.format(**fields))
    return fields["prev"]


@code_rule.register(LogSumExp)
def _node_logsumexp(node: Any, args: list[str], w: CodeWriter) -> str:
    axes = tuple(node.axes)
    peak = w.emit(f"np.max({args[0]}, axis={axes!r}, keepdims=True)")
    return w.emit(f"np.log(np.sum(np.exp({args[0]} - {peak}), axis={axes!r})) + "
                     f"np.squeeze({peak}, axis={axes!r})")


@code_rule.register(Index)
def _node_index(node: Any, args: list[str], w: CodeWriter) -> str:
    return w.emit(f"{args[0]}[{item_text(node.index)}]")


@code_rule.register(IndexAdjoint)
def _node_indexadjoint(node: Any, args: list[str], w: CodeWriter) -> str:
    out = w.emit(f"np.zeros({w.shape_text(node.full_shape)}, dtype=np.result_type({args[0]}))")
    w.lines.append(f"{out}[{item_text(node.index)}] = {args[0]}")
    return out


@code_rule.register(Stack)
def _node_stack(node: Any, args: list[str], w: CodeWriter) -> str:
    return w.emit(f"np.stack([{', '.join(args)}], axis={node.axis})")


@code_rule.register(Einsum)
def _node_einsum(node: Einsum, args: list[str], w: CodeWriter) -> str:
    carried = set("".join(node.inputs))
    core = "".join(dict.fromkeys(lab for lab in node.output if lab in carried))
    value = w.contract(list(node.inputs), core, args, node)
    factor = [] if node.scale == 1 else [number(node.scale)]
    for d in node.factor_dims:
        if isinstance(d, tuple):
            name, power = d
            factor.append(f"{w.dim(name)} ** {power}" if power != 1 else w.dim(name))
        else:
            factor.append(w.dim(d))
    if factor:
        value = w.emit(" * ".join(factor + [value]))
    if core == node.output:
        return value
    return w.embed(node, core, value)


def to_numpy(expr: Expr, name: str = "f", sizes: dict[str, int] | None = None) -> str:
    """Source of one self-contained function computing ``expr`` with numpy only.

    Its parameters are the variables (sorted by name). Every einsum runs as pairwise
    ``np.einsum``/``@`` steps in the order ``tc.contract_path`` chooses for the sizes in
    ``sizes`` (named dimensions without a size count as 64); extended einsums (diagonal
    embedding, broadcast) are written with ``np.zeros`` and diagonal views.

    >>> from tensorcalc.ir import var, einsum
    >>> print(to_numpy(einsum("ij,j->i", var("A", ("m", "n")), var("x", ("n",)))), end="")
    import numpy as np
    <BLANKLINE>
    <BLANKLINE>
    def f(A, x):
        return A @ x
    """
    if not isinstance(expr, Expr):
        raise TypeError(f"to_numpy expects an expression, got {type(expr).__name__}")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise TensorcalcError(f"function name {name!r} is not a Python identifier")
    writer = CodeWriter(simplified(expr), dict(sizes or {}))
    result = writer.run()
    body = list(writer.lines)
    # Bind the named dimensions the body uses, from the first variable axis carrying each.
    head, extra_params = [], []
    for d, ident in writer.dim_names.items():
        if d in writer.dim_source:
            head.append(f"{ident} = {writer.dim_source[d]}")
        else:
            extra_params.append(ident)
    if body and body[-1].startswith(f"{result} = "):
        body[-1] = "return " + body[-1][len(result) + 3:]
    else:
        body.append(f"return {result}")
    params = writer.params + ([("*" if writer.params else "*")] + extra_params if extra_params else [])
    lines = ["import numpy as np", "", "", f"def {name}({', '.join(params)}):"]
    lines += ["    " + line for line in head + body]
    return "\n".join(lines) + "\n"
