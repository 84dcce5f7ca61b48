"""Step-by-step derivations in index notation, as a textbook writes them.

Two entry points, used by ``tensorcalc grad --explain`` and ``tensorcalc diff --explain``:

* :func:`explain_grad_subscripts` -- the gradient spec of an einsum operand: the forward
  product in index form, the chain rule with the upstream gradient ``G``, the δ that
  ``∂A_ij/∂A_uv`` introduces, each δ eliminated by renaming a summed label, the final einsum
  and its matrix form;
* :func:`explain_diff` -- the derivative of an expression: its index form, the
  intermediates (one per argument of a nonlinear function, or per subexpression used
  twice), each local derivative with its δs introduced and eliminated, the chain rule in
  reverse order, and the simplified result of ``tc.grad``/``tc.jacobian`` as an einsum and
  in matrix form.

The derivation works on the index-notation terms of ``tensorcalc.index_terms``:
``coeff · Σ_{summed} δ... · factor · factor ...``. Differentiating a factor with respect to
``v`` replaces it by δs between its labels and fresh ones; a δ whose label is summed is
eliminated by renaming that label everywhere; a δ between two free labels stays (the result
lives on a diagonal).

>>> print(explain_grad_subscripts("ij,jk->ik", wrt=0).splitlines()[1])
  Y_ik = Σ_j A_ij B_jk
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterator, Sequence

from ..contraction.subscripts import parse as parse_spec
from ..differentiation import grad, hessian, jacobian
from ..display import index_text, matrix_text, to_latex, to_numpy, to_str
from ..errors import TensorcalcError
from ..ir import Add, Const, Einsum, Var, as_expr, einsum, var, walk
from ..labels import LABEL_POOL
from ..notation import parse as parse_notation
from .explanation import Explanation
from .terms import (Factor, Labels, Term, num_text, sigma_text, sub_text, collect, differentiate, eliminate,
                    legend_of, multiply, sum_text)

__all__ = ["explain", "explain_grad_subscripts", "explain_diff", "operand_names", "spec_matrix_text"]


# ----------------------------------------------------------------------------- grad specs

def _split_spec(subscripts: str) -> tuple[list[str], str]:
    text = "".join(subscripts.split())
    if "..." in text:
        raise TensorcalcError(f"--explain needs named labels; write the '...' axes of {subscripts!r} as letters")
    if "->" not in text:
        lhs = text
        counts: dict[str, int] = {}
        for c in lhs.replace(",", ""):
            counts[c] = counts.get(c, 0) + 1
        out = "".join(sorted(c for c, n in counts.items() if n == 1))
        return lhs.split(","), out
    lhs, out = text.split("->", 1)
    return lhs.split(","), out


def operand_names(n: int) -> list[str]:
    """Display names of ``n`` einsum operands: A, B, C, ... (G is kept for the gradient)."""
    names = [c for c in "ABCDEFHKMNPQRSTUVWXZ"][:n]
    if len(names) < n:
        names = [f"A{k}" for k in range(n)]
    return names


def explain_grad_subscripts(subscripts: str, wrt: int | None = None) -> Explanation:
    """Derive the gradient spec of each operand (or only ``wrt``) step by step.

    >>> text = explain_grad_subscripts("ij,jk->ik", wrt=1)
    >>> text.splitlines()[-2:]
    ['  einsum: "ik,ij->jk" (G, A)', '  matrix form: Aᵀ G']
    """
    inputs, output = _split_spec(subscripts)
    # Validate with the real parser (sizes 2 stand in; only the labels matter).
    parse_spec(subscripts, [(2,) * len(t) for t in inputs],
               sizes={c: 2 for c in output if c not in "".join(inputs)} or None)
    names = operand_names(len(inputs))
    which = range(len(inputs)) if wrt is None else [wrt]
    lines = ["Forward, in index form (a label not in the output is summed):"]
    used = set("".join(inputs) + output)
    summed = [c for c in dict.fromkeys("".join(inputs)) if c not in output]
    forward = Term(1.0, [Factor(n, list(l), ("op", k)) for k, (n, l) in enumerate(zip(names, inputs))],
                   [], summed)
    y_sub = sub_text(list(output))
    lines.append(f"  Y{y_sub} = {_extended_note(forward, output)}")
    for k in which:
        if not -len(inputs) <= k < len(inputs):
            raise TensorcalcError(f"wrt={k} but {subscripts!r} has {len(inputs)} operand(s)")
        lines.append("")
        lines += _explain_operand(inputs, output, names, k % len(inputs), used)
    return Explanation("\n".join(lines))


def _extended_note(forward: Term, output: str) -> str:
    text = forward.text()
    if len(set(output)) != len(output):
        text += "   (a repeated output label: the values sit on that diagonal)"
    return text


def _explain_operand(inputs: list[str], output: str, names: list[str], k: int,
                     used: set[str]) -> list[str]:
    pool = Labels(used | set(names))
    new = [pool.fresh() for _ in inputs[k]]
    name = names[k]
    out_labels = list(output)
    # Repeated output labels (diagonal embeddings) need distinct labels on G.
    g_labels, deltas = [], []
    seen: set[str] = set()
    for lab in out_labels:
        if lab in seen:
            fresh = pool.fresh()
            g_labels.append(fresh)
            deltas.append((lab, fresh))
        else:
            seen.add(lab)
            g_labels.append(lab)
    summed_all = list(dict.fromkeys(g_labels + [c for c in "".join(inputs)]))
    lhs = f"∂L/∂{name}{sub_text(new)}"
    lines = [f"Gradient of operand {k} ({name}): with G{sub_text(g_labels)} = ∂L/∂Y{sub_text(g_labels)}, "
             f"the chain rule sums over every label of Y:",
             f"  {lhs} = {sigma_text(g_labels)}G{sub_text(g_labels)} "
             f"∂Y{sub_text(g_labels)}/∂{name}{sub_text(new)}"]
    factors = [Factor("G", g_labels, "G")] + [
        Factor(n, list(l), ("op", j)) for j, (n, l) in enumerate(zip(names, inputs))]
    term = Term(1.0, factors, deltas, summed_all)
    d_text = " ".join(f"δ_{a}{b}" for a, b in zip(inputs[k], new))
    lines.append(f"  Only the factor {name}{sub_text(list(inputs[k]))} depends on {name}: "
                 f"∂{name}{sub_text(list(inputs[k]))}/∂{name}{sub_text(new)} = {d_text}")
    (term,) = differentiate(term, ("op", k), new)
    lines.append(f"  {lhs} = {term.text()}")
    term = eliminate(term, lines, lhs)
    # Labels summed that no factor carries any more contribute their size.
    carried = {l for f in term.factors for l in f.labels} | {l for d in term.deltas for l in d}
    for lab in [s for s in term.summed if s not in carried]:
        term = Term(term.coeff, term.factors, term.deltas, [s for s in term.summed if s != lab],
                    term.size_factors + [lab])
        lines.append(f"  {lab} appears in no factor any more: its sum is the size n_{lab}")
        lines.append(f"  {lhs} = {term.text()}")
    # Give the result the operand's own labels back.
    final_labels = _restore(term, new, inputs[k])
    term, back = final_labels
    if back:
        lines.append("  Rename " + ", ".join(f"{a} → {b}" for a, b in back) + " (the operand's own labels):")
        lines.append(f"  ∂L/∂{name}{sub_text(list(inputs[k]))} = {term.text()}")
    spec, operands, note = _term_spec(term, list(new) if not back else list(inputs[k]), names)
    spec = _canonical_output(spec, inputs[k])
    lines.append(f'  einsum: "{spec}" ({", ".join(operands)})' + note)
    matrix = spec_matrix_text(spec, operands)
    if matrix:
        lines.append(f"  matrix form: {matrix}")
    return lines


def _restore(term: Term, new: list[str], original: str) -> tuple[Term, list[tuple[str, str]]]:
    back: list[tuple[str, str]] = []
    if len(set(original)) != len(original):
        return term, back  # a repeated label (a diagonal): the spec step renames instead
    for n, o in zip(new, original):
        if n == o or any(b == n for _, b in back):
            continue
        if o in term.labels() and (o, o) not in back:
            continue  # the operand's label is still in use as a summed label
        term = term.rename(n, o)
        back.append((n, o))
    return term, back


def _canonical_output(spec: str, original: str) -> str:
    """Rename the output labels of ``spec`` to the operand's labels when that is a bijection."""
    ins, out = spec.split("->")
    mapping: dict[str, str] = {}
    for s, o in zip(out, original):
        if mapping.setdefault(s, o) != o:
            return spec
    if len(set(mapping.values())) != len(mapping):
        return spec
    others = [c for c in dict.fromkeys(ins.replace(",", "")) if c not in mapping]
    spare = (c for c in LABEL_POOL if c not in mapping.values() and c not in others and c not in mapping)
    for c in others:
        if c in mapping.values():
            mapping[c] = next(spare)
    return "".join(mapping.get(c, c) for c in spec)


def _term_spec(term: Term, out_labels: list[str], names: list[str]) -> tuple[str, list[str], str]:
    """The einsum of a term with its deltas on the output (extended einsum)."""
    rename = {}
    for a, b in term.deltas:
        rename[b] = a
    output = "".join(rename.get(l, l) for l in out_labels)
    ins = ["".join(f.labels) for f in term.factors]
    ops = [f.name for f in term.factors]
    note = ""
    if term.coeff != 1:
        note += f"  times {num_text(term.coeff)}"
    if term.size_factors:
        note += "  times " + " ".join(f"n_{d}" for d in term.size_factors)
    carried = set("".join(ins))
    if len(set(output)) != len(output):
        note += "  (repeated output label: diagonal embedding)"
    if any(l not in carried for l in output):
        note += "  (output label in no input: broadcast)"
    return ",".join(ins) + "->" + output, ops, note


def spec_matrix_text(spec: str, operands: list[str]) -> str | None:
    """Matrix form of an einsum over named operands (all treated as plain variables).

    >>> spec_matrix_text("ik,jk->ij", ["G", "B"])
    'G Bᵀ'
    """
    ins, out = spec.split("->")
    labels = ins.split(",") if ins else [""]
    if len(labels) != len(operands):
        labels = [""] + labels if not operands else labels
    try:
        vars_ = [var(n, tuple(l)) for n, l in zip(operands, labels)]
        sizes = {c: c for c in out}
        expr = einsum(spec, *vars_, sizes=sizes) if vars_ else None
    except Exception:  # a spec the IR refuses (should not happen): no matrix form then
        return None
    return None if expr is None else matrix_text(expr)


# ----------------------------------------------------------------------------- expressions

class _Unsupported(Exception):
    """A node the step-by-step derivation does not cover (the result is still shown)."""


class _Derivation:
    def __init__(self, f: Any, x: Any, root: str | None = None) -> None:
        self.f, self.x = f, x
        self.root = root  # the name of f in the text (default: f if scalar, else y)
        self.order = walk(f)
        self.depends = self._depends()
        self.names = self._name_intermediates()

    def _depends(self) -> set[int]:
        dep: set[int] = set()
        for node in self.order:
            if node.uid == self.x.uid or any(c.uid in dep for c in node.children):
                dep.add(node.uid)
        return dep

    def _name_intermediates(self) -> dict[int, str]:
        uses: dict[int, int] = {}
        nonlinear_args: set[int] = set()
        for node in self.order:
            for c in node.children:
                uses[c.uid] = uses.get(c.uid, 0) + 1
                if not isinstance(node, (Add, Einsum)):
                    nonlinear_args.add(c.uid)
        taken = {n.name for n in self.order if isinstance(n, Var)} | {self.root}
        pool = (c for c in "rzuvwshpqyabcdeg" if c not in taken)
        names: dict[int, str] = {}
        for node in reversed(self.order):  # top-down: the first intermediate below f is r, ...
            if node.uid == self.f.uid or isinstance(node, (Var, Const)):
                continue
            if node.uid in nonlinear_args or (uses.get(node.uid, 0) > 1 and node.uid in self.depends):
                names[node.uid] = next(pool, None) or f"u{len(names) + 1}"
        return names

    def name_of(self, node: Any) -> str:
        if isinstance(node, Var):
            return node.name
        if self.root is not None and node.uid == self.f.uid:
            return self.root
        return self.names.get(node.uid, "f" if node.ndim == 0 else "y")

    # Expand a node's definition (down to named nodes and variables) into terms.
    def terms(self, node: Any, labels: list[str], pool: Labels, top: bool = False) -> list[Term]:
        if not top and (node.uid in self.names or isinstance(node, Var)):
            return [Term(1.0, [Factor(self.name_of(node), labels, node.uid)])]
        if isinstance(node, Const):
            if node.ndim:
                return [Term(1.0, [Factor("c", labels, node.uid)])]
            return [Term(float(node.value.item()), [])]
        if type(node).__name__ == "WithDims":  # variables attached only to bind sizes
            return self.terms(node.children[0], labels, pool, top)
        if isinstance(node, Add):
            out = []
            for c, child in zip(node.coeffs, node.children):
                out += [replace(t, coeff=t.coeff * c) for t in self.terms(child, labels, pool)]
            return out
        if isinstance(node, Einsum):
            return self._einsum_terms(node, labels, pool)
        kind = type(node).__name__
        child = node.children[0] if node.children else None
        if kind == "Func" and child is not None:
            arg = self.name_of(child)
            if node.name == "pow":
                return [Term(1.0, [Factor(arg, labels, child.uid, None, node.param)])]
            return [Term(1.0, [Factor(arg, labels, child.uid, node.name)])]
        if kind == "LogSumExp" and child is not None and len(node.axes) == child.ndim:
            inner = [pool.fresh() for _ in range(child.ndim)]
            return [Term(1.0, [Factor(self.name_of(child), inner, child.uid, "logsumexp")])]
        if kind == "AxisFunc" and child is not None and node.name == "norm2":
            inner = [pool.fresh() for _ in range(child.ndim)]  # bound inside the norm
            return [Term(1.0, [Factor(self.name_of(child), inner, child.uid, "norm2")])]
        if kind == "AxisFunc" and child is not None and child.ndim == 1:  # softmax of a vector...
            return [Term(1.0, [Factor(self.name_of(child), labels, child.uid, node.name)])]
        if kind == "MatFunc" and child is not None and child.ndim == 2:
            return [Term(1.0, [Factor(self.name_of(child), labels, child.uid, node.name)])]
        raise _Unsupported(kind)

    def _einsum_terms(self, node: Any, labels: list[str], pool: Labels) -> list[Term]:
        rename: dict[str, str] = {}
        deltas = []
        for lab, given in zip(node.output, labels):
            if lab in rename:
                deltas.append((rename[lab], given))
            else:
                rename[lab] = given
        summed = []
        for lab in "".join(node.inputs):
            if lab not in rename:
                rename[lab] = pool.fresh()
                summed.append(rename[lab])
        products = [Term(node.scale, [], deltas, summed,
                         [str(d) if not isinstance(d, tuple) else f"{d[0]}^{d[1]}" for d in node.factor_dims])]
        for op, ins in zip(node.children, node.inputs):
            op_terms = self.terms(op, [rename[l] for l in ins], pool)
            products = [multiply(p, t) for p in products for t in op_terms]
        return products


KINDS = ("grad", "jacobian", "hessian")
FORMS = ("text", "latex", "numpy")


def explain_diff(f: Any, wrt: Any, kind: str | None = None, layout: str = "jax",
                 form: str = "text", notation: str = "matrix") -> Explanation:
    """Explain the derivative of ``f`` with respect to the variable ``wrt`` (or its name).

    ``kind``: ``"grad"`` (scalar ``f``), ``"jacobian"`` (``∂f_I/∂x_K``, laid out by
    ``layout`` as in :func:`tensorcalc.jacobian`) or ``"hessian"`` (the derivation of the
    gradient, then of the Hessian as the Jacobian of the gradient); by default the gradient
    of a scalar and the Jacobian of anything else. ``form``: the result is shown as einsum,
    index and matrix text, and also as LaTeX (``"latex"``, in ``notation``) or as a numpy
    function (``"numpy"``).

    The result is a ``str`` whose ``_repr_html_`` shows the steps as a table in a notebook.

    >>> from tensorcalc.notation import parse
    >>> text = explain_diff(parse("sum((A[i,j] x[j] - b[i])^2)"), "x")
    >>> text.splitlines()[-1]
    '  matrix form: 2 Aᵀ (A x - b)'
    >>> explain_diff(parse("sum((A[i,j] x[j] - b[i])^2)"), "x", "hessian").splitlines()[-1]
    '  matrix form: 2 Aᵀ A'
    """
    if kind is None:
        kind = "grad" if f.ndim == 0 else "jacobian"
    if kind not in KINDS:
        raise TensorcalcError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    if form not in FORMS:
        raise TensorcalcError(f"form must be one of {', '.join(map(repr, FORMS))}, got {form!r}")
    if kind in ("grad", "hessian") and f.ndim != 0:
        raise TensorcalcError(f"the {'gradient' if kind == 'grad' else 'Hessian'} needs a scalar "
                              f"expression, this one has shape {f.shape}")
    x = _find(f, wrt)
    lines: list[str] = []
    _derive_or_note(f, x, lines)
    lines.append("")
    if kind == "hessian":
        g = grad(f, x)
        _result_lines(g, "Gradient (tc.grad, simplified)", "text", notation, lines)
        lines.append("")
        lines.append(f"The Hessian is the Jacobian of the gradient: ∂²f/∂{x.name}∂{x.name} "
                     f"= ∂g/∂{x.name} with g = ∂f/∂{x.name} above.")
        _derive_or_note(g, x, lines, root="g")
        lines.append("")
        result, title = hessian(f, x), "Result (tc.hessian, simplified)"
    elif kind == "jacobian":
        result = jacobian(f, x, layout=layout)
        title = "Result (tc.jacobian" + (f", layout={layout!r}" if layout != "jax" else "") + ", simplified)"
    else:
        result, title = grad(f, x), "Result (tc.grad, simplified)"
    _result_lines(result, title, form, notation, lines)
    return Explanation("\n".join(lines))


def explain(what: Any, wrt: Any = None, **options: Any) -> Explanation:
    """Explain a derivative step by step: ``tc.explain``.

    * einsum subscripts (``wrt`` an operand position or None for all; an index-notation
      expression never holds ``->``): the gradient spec of each operand,
      :func:`explain_grad_subscripts`;
    * an expression, or index-notation text, and the variable ``wrt`` (or its name): the
      derivative, :func:`explain_diff` (``options``: ``kind``, ``layout``, ``form``,
      ``notation``).

    In a notebook the result shows as an HTML table of the steps; it is a ``str`` otherwise.

    >>> print(explain("ij,jk->ik", 0).splitlines()[-1])
      matrix form: G Bᵀ
    >>> explain("sum(x[i] x[i])", "x").splitlines()[-1]
    '  matrix form: 2 x'
    """
    if isinstance(what, str) and (wrt is None or isinstance(wrt, int) or "->" in what):
        if options:
            raise TypeError(f"explain of einsum subscripts takes no options, got {sorted(options)}")
        return explain_grad_subscripts(what, wrt)
    f = parse_notation(what) if isinstance(what, str) else as_expr(what)
    return explain_diff(f, wrt, **options)


def _derive_or_note(f: Any, x: Any, lines: list[str], root: str | None = None) -> None:
    try:
        _derive(_Derivation(f, x, root), f, x, lines)
    except _Unsupported as err:
        lines.append(f"(the step-by-step derivation does not cover {err} nodes yet; "
                     "the result below is exact)")


def _result_lines(result: Any, title: str, form: str, notation: str, lines: list[str]) -> None:
    lines.append(title)
    lines.append("  einsum form: " + to_str(result).replace("\n", "\n  "))
    lines.append("  index form: " + index_text(result))
    matrix = matrix_text(result)
    if matrix is not None:
        lines.append(f"  matrix form: {matrix}")
    if form == "latex":
        lines.append("  LaTeX: " + to_latex(result, notation=notation))
    elif form == "numpy":
        lines.append("  numpy:")
        lines += ["    " + line for line in to_numpy(result).splitlines()]


def _derive(d: _Derivation, f: Any, x: Any, lines: list[str]) -> None:
    """Append the derivation of ``∂f/∂x`` to ``lines``: definitions, local derivatives, chain rule."""
    _write_definitions(d, f, lines)
    lines.append("")
    _write_backward(d, f, x, lines)


def _write_definitions(d: _Derivation, f: Any, lines: list[str]) -> None:
    """``f`` in index form, then each intermediate it is written with."""
    lines.append("Index form (Σ marks every sum):")
    pool_root = Labels(_taken(d))
    f_labels = [pool_root.fresh() for _ in range(f.ndim)]
    f_name = d.name_of(f)
    lines.append(f"  {f_name}{sub_text(f_labels)} = {sum_text(d.terms(f, f_labels, pool_root, top=True))}")
    named = [n for n in reversed(d.order) if n.uid in d.names]
    if named:
        lines.append("with the intermediates")
        for node in named:
            pool = Labels(_taken(d))
            labs = [pool.fresh() for _ in range(node.ndim)]
            lines.append(f"  {d.names[node.uid]}{sub_text(labs)} = {sum_text(d.terms(node, labs, pool, top=True))}")


def _write_backward(d: _Derivation, f: Any, x: Any, lines: list[str]) -> None:
    """Reverse accumulation, from ``f`` down to ``x``: for each intermediate ``u`` (and ``x``)
    the local derivatives ``∂p/∂u`` of its parents ``p``, then the chain rule
    ``∂f/∂u = Σ_p ∂f/∂p ∂p/∂u``, every δ eliminated on the way."""
    f_name = d.name_of(f)
    pool = Labels(_taken(d))
    free_f = [pool.fresh() for _ in range(f.ndim)]
    # gbar[node]: (labels of node, ∂f/∂node as terms). For f itself the local derivatives of
    # its children are used directly, so its own entry is never multiplied.
    gbar: dict[int, tuple[list[str], list[Term]]] = {f.uid: (list(free_f), [Term(1.0, [])])}
    legends: set[str] = set()
    chain = [n for n in reversed(d.order) if n.uid in d.depends and (n.uid in d.names or n.uid == f.uid)]
    lines.append(f"Derivatives, from {f_name} down to {x.name} (chain rule, product rule, δ elimination):")
    targets = [n for n in reversed(d.order) if n.uid in d.depends and
               (n.uid in d.names or n.uid == x.uid)]
    for target in targets:
        t_labels = [pool.fresh() for _ in range(target.ndim)]
        total: list[Term] = []
        parents = [p for p in chain if p.uid in gbar and any(c.uid == target.uid for c in _leaves(d, p))]
        g_lhs = f"∂{f_name}{sub_text(free_f)}/∂{d.name_of(target)}{sub_text(t_labels)}"
        for parent in parents:
            p_labels, p_terms = gbar[parent.uid]
            # The local derivative ∂parent/∂target, in the parent's own labels.
            local_pool = Labels(_taken(d) | set(p_labels) | set(t_labels) | _used(p_terms))
            pt = d.terms(parent, p_labels, local_pool, top=True)
            pname, tname = d.name_of(parent), d.name_of(target)
            lhs = f"∂{pname}{sub_text(p_labels)}/∂{tname}{sub_text(t_labels)}"
            local: list[Term] = []
            rules: dict[str, None] = {}  # the derivative of each factor holding the target
            for term in pt:
                local += differentiate(term, target.uid, t_labels)
                for fac in term.factors:
                    if fac.key == target.uid:
                        ones = differentiate(Term(1.0, [fac]), target.uid, t_labels)
                        rules[f"∂{fac.text()}/∂{tname}{sub_text(t_labels)} = {sum_text(ones)}"] = None
                        if legend_of(fac.func):
                            legends.add(legend_of(fac.func))
            product_rule = any(sum(fac.key == target.uid for fac in t.factors) > 1 for t in pt)
            lines.append(f"  {pname}{sub_text(p_labels)} = {sum_text(pt)}, with "
                         + ("the product rule (one term per factor) and " if product_rule else "")
                         + "; ".join(rules))
            lines.append(f"  {lhs} = {sum_text(local)}")
            log = lines if len(local) == 1 else None
            local = [eliminate(t, log, lhs, "    ") for t in local]
            if log is None:
                lines.append(f"    δs eliminated: {lhs} = {sum_text(local)}")
            collected = collect(local)
            if len(collected) < len(local):
                lines.append(f"    like terms collected: {lhs} = {sum_text(collected)}")
            local = collected
            if parent.uid == f.uid:
                total += local
            else:
                total += [multiply(g_t, l_t, p_labels) for g_t in p_terms for l_t in local]
        if not total:
            continue
        if parents and (len(parents) > 1 or parents[0].uid != f.uid):
            via = " + ".join(
                f"(∂{f_name}{sub_text(free_f)}/∂{d.name_of(target)}{sub_text(t_labels)} directly)"
                if p.uid == f.uid else
                f"{sigma_text(gbar[p.uid][0])}∂{f_name}{sub_text(free_f)}/∂{d.name_of(p)}{sub_text(gbar[p.uid][0])} "
                f"∂{d.name_of(p)}{sub_text(gbar[p.uid][0])}/∂{d.name_of(target)}{sub_text(t_labels)}"
                for p in parents)
            lines.append(f"  chain rule: {g_lhs} = {via}")
            lines.append(f"    = {sum_text(total)}")
            log = lines if len(total) == 1 else None
            total = collect([eliminate(t, log, g_lhs, "    ") for t in total])
            lines.append(f"  so {g_lhs} = {sum_text(total)}")
        gbar[target.uid] = (t_labels, total)
    if legends:
        lines.append("  where " + "; ".join(sorted(legends)))


def _leaves(d: _Derivation, node: Any) -> Iterator[Any]:
    """The named nodes and variables that ``node``'s definition is written with."""
    stack = list(node.children)
    while stack:
        c = stack.pop()
        if c.uid in d.names or isinstance(c, Var):
            yield c
        else:
            stack.extend(c.children)


def _used(terms: Sequence[Term]) -> set[str]:
    out: set[str] = set()
    for t in terms:
        out |= t.labels()
    return out


def _taken(d: _Derivation) -> set[str]:
    return ({n.name for n in d.order if isinstance(n, Var)} | set(d.names.values()) | {"f", "y"}
            | ({d.root} if d.root else set()))


def _find(f: Any, wrt: Any) -> Any:
    name = wrt.name if isinstance(wrt, Var) else wrt
    if not isinstance(name, str):
        raise TypeError(f"wrt must be a variable or its name, got {wrt!r}")
    for node in walk(f):
        if isinstance(node, Var) and node.name == name:
            return node
    known = sorted({n.name for n in walk(f) if isinstance(n, Var)})
    raise TensorcalcError(f"the expression has no variable {name!r}; its variables are {known}")
