"""Index-notation terms and the δ algebra behind ``tensorcalc.explain``.

A :class:`Term` is ``coeff · Σ_summed Π δ(a, b) Π factors``; a :class:`Factor` is a variable,
an intermediate, or an elementwise/matrix function of one, each with its labels.

* :func:`differentiate` applies the product rule: each factor holding the variable is
  replaced by δs between its labels and the new ones (``∂X_ij/∂X_kl = δ_ik δ_jl``), or by
  the function's derivative times those δs;
* :func:`eliminate` removes every δ that has a summed label by renaming that label (a δ
  between two free labels stays: the result lives on a diagonal);
* :func:`collect` adds up terms that differ only in their coefficient.

>>> t = Term(1.0, [Factor("A", ["i", "j"], "A"), Factor("x", ["j"], "x")], summed=["j"])
>>> (d,) = differentiate(t, "x", ["k"])
>>> d.text()
'Σ_j δ_jk A_ij'
>>> eliminate(d, None, "").text()
'A_ik'
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from ..display.format import number, signed_sum
from ..labels import Labels
from ..ops import AXIS, ELEMENTWISE

__all__ = ["Factor", "Term", "Labels", "differentiate", "eliminate", "collect", "multiply",
           "sum_text", "prime_of", "legend_of"]


def _row(func: str | None) -> Any:
    return None if func is None else ELEMENTWISE.get(func) or AXIS.get(func)


def prime_of(func: str) -> str:
    """How f' is written for the function ``func`` (its table row's ``prime``)."""
    row = _row(func)
    return row.prime if row is not None and row.prime else func + "'"


def legend_of(func: str) -> str:
    """The line that explains f' under a derivation ("" when f' needs none)."""
    row = _row(func)
    return row.legend if row is not None else ""


def shown_name(func: str) -> str:
    row = _row(func)
    return row.unicode if row is not None and row.unicode else func


# ----------------------------------------------------------------------------- terms

@dataclass
class Factor:
    """``name_labels``, or ``func(name_labels)``; ``power`` for ``name_labels^p``."""

    name: str
    labels: list[str]
    key: Any = None  # what this factor stands for (differentiation matches on it)
    func: str | None = None  # elementwise function applied to the leaf, or a matrix function
    power: float = 1.0

    def text(self) -> str:
        sub = sub_text(self.labels)
        if self.func == "inv":
            return f"({self.name}⁻¹){sub}"
        if self.func == "det":
            return f"det({self.name})"
        if self.func == "logdet":
            return f"log|det {self.name}|"
        if self.func == "logsumexp":  # the labels are bound inside the sum
            return f"log Σ{sub} exp({self.name}{sub})"
        if self.func in ("softmax", "log_softmax"):  # of a vector: its one label is the result's
            return f"{self.func}({self.name}){sub}"
        if self.func == "norm2":  # the labels are bound inside the norm
            return f"‖{self.name}‖" + (_superscript(self.power) if self.power != 1 else "")
        if self.func == "normalize":
            return f"({self.name}/‖{self.name}‖){sub}"
        base = f"{self.name}{sub}"
        if self.func:
            base = f"{shown_name(self.func)}({base})"
        if self.power != 1:
            base += _superscript(self.power)
        return base

    def renamed(self, old: str, new: str) -> "Factor":
        return replace(self, labels=[new if l == old else l for l in self.labels])


@dataclass
class Term:
    """``coeff · Σ_summed Π δ(a, b) Π factors``."""

    coeff: float
    factors: list[Factor]
    deltas: list[tuple[str, str]] = field(default_factory=list)
    summed: list[str] = field(default_factory=list)
    size_factors: list[str] = field(default_factory=list)

    def text(self) -> str:
        parts = []
        if abs(self.coeff) != 1 or (not self.factors and not self.deltas and not self.size_factors):
            parts.append(num_text(abs(self.coeff)))
        parts += [f"n_{d}" for d in self.size_factors]
        if self.summed:
            parts.append("Σ_" + "".join(self.summed))
        parts += [f"δ_{a}{b}" for a, b in self.deltas]
        parts += [f.text() for f in self.factors]
        return ("-" if self.coeff < 0 else "") + " ".join(parts)

    def rename(self, old: str, new: str) -> "Term":
        return Term(self.coeff, [f.renamed(old, new) for f in self.factors],
                    [(new if a == old else a, new if b == old else b) for a, b in self.deltas],
                    [s for s in self.summed if s != old], list(self.size_factors))

    def labels(self) -> set[str]:
        out = set(self.summed)
        for f in self.factors:
            out.update(f.labels)
        for a, b in self.deltas:
            out.update((a, b))
        return out


def sigma_text(labels: Sequence[str]) -> str:
    labels = list(dict.fromkeys(labels))
    return "Σ_" + "".join(labels) + " " if labels else ""


def num_text(x: float) -> str:
    return number(x)


def sub_text(labels: Sequence[str]) -> str:
    if not labels:
        return ""
    return "_" + "".join(labels) if all(len(l) == 1 for l in labels) else "_{" + ",".join(labels) + "}"


def _superscript(p: float) -> str:
    text = num_text(p)
    table = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
    return text.translate(table) if all(c in "0123456789-" for c in text) else f"^{text}"


def sum_text(terms: Sequence[Term]) -> str:
    texts = [t.text() for t in terms]
    return signed_sum((text.startswith("-"), text.removeprefix("-")) for text in texts)


def eliminate(term: Term, lines: list[str] | None, lhs: str, indent: str = "  ") -> Term:
    """Remove every δ that has a summed label by renaming; log each step into ``lines``."""
    changed = True
    while changed:
        changed = False
        for k, (a, b) in enumerate(term.deltas):
            rest = Term(term.coeff, term.factors, term.deltas[:k] + term.deltas[k + 1:],
                        term.summed, term.size_factors)
            if a == b:
                if a in term.summed:  # δ_aa summed over a: the size of a
                    rest = Term(rest.coeff, rest.factors, rest.deltas,
                                [s for s in rest.summed if s != a], rest.size_factors + [a])
                    note = f"δ_{a}{a} summed over {a} is n_{a}, the size of {a}"
                else:
                    note = f"δ_{a}{a} = 1"
            elif a in term.summed or b in term.summed:
                old, new = (a, b) if a in term.summed else (b, a)
                rest = rest.rename(old, new)
                note = f"δ_{a}{b}: {old} is summed, so rename {old} → {new} (the sum keeps only {old} = {new})"
            else:
                continue
            term = rest
            if lines is not None:
                lines.append(f"{indent}{note}:")
                lines.append(f"{indent}  {lhs} = {term.text()}")
            changed = True
            break
    return term


def _shape_key(term: Term) -> tuple:
    """A term without its coefficient, summed labels renamed in order of appearance."""
    rename: dict[str, str] = {}
    for lab in [l for a, b in term.deltas for l in (a, b)] + [l for f in term.factors for l in f.labels]:
        if lab in term.summed and lab not in rename:
            rename[lab] = f"#{len(rename)}"
    canon = term
    for old, new in rename.items():
        canon = Term(canon.coeff, [f.renamed(old, new) for f in canon.factors],
                     [(new if a == old else a, new if b == old else b) for a, b in canon.deltas],
                     canon.summed, canon.size_factors)
    return (tuple(sorted(f.text() for f in canon.factors)), tuple(sorted(canon.deltas)),
            tuple(sorted(canon.size_factors)), len(term.summed))


def collect(terms: Sequence[Term]) -> list[Term]:
    """Add up terms that differ only in their coefficient (``X_ji + X_ji = 2 X_ji``)."""
    out: list[Term] = []
    keys: list[tuple] = []
    for t in terms:
        key = _shape_key(t)
        if key in keys:
            k = keys.index(key)
            out[k] = replace(out[k], coeff=out[k].coeff + t.coeff)
        else:
            keys.append(key)
            out.append(t)
    return [t for t in out if t.coeff != 0]


def multiply(a: Term, b: Term, summed: Sequence[str] = ()) -> Term:
    return Term(a.coeff * b.coeff, a.factors + b.factors, a.deltas + b.deltas,
                a.summed + b.summed + list(summed), a.size_factors + b.size_factors)


def differentiate(term: Term, key: Any, new: Sequence[str]) -> list[Term]:
    """Product rule: one term per occurrence of ``key``, that factor replaced by δs."""
    out = []
    for k, f in enumerate(term.factors):
        others = term.factors[:k] + term.factors[k + 1:]
        deltas = list(zip(f.labels, new))
        if f.key == key and f.func is None:
            coeff = term.coeff * f.power
            repl = [] if f.power == 1 else [replace(f, power=f.power - 1)]
            out.append(Term(coeff, others + repl, term.deltas + deltas, list(term.summed),
                            list(term.size_factors)))
        elif f.key == key and f.func in ("inv", "det", "logdet"):
            out.append(_matfunc_derivative(term, f, others, new))
        elif f.key == key and f.func == "logsumexp":  # ∂/∂z_k log Σ_j exp(z_j) = softmax(z)_k
            out.append(Term(term.coeff, others + [replace(f, labels=list(new), func="softmax")],
                            list(term.deltas), list(term.summed), list(term.size_factors)))
        elif f.key == key and f.func in _AXIS_DERIVATIVES:
            for coeff, factors, deltas in _AXIS_DERIVATIVES[f.func](f, list(new)):
                out.append(Term(term.coeff * coeff, others + factors, term.deltas + deltas,
                                list(term.summed), list(term.size_factors)))
        elif f.key == key:
            prime = prime_of(f.func)
            out.append(Term(term.coeff, others + [replace(f, func=prime)], term.deltas + deltas,
                            list(term.summed), list(term.size_factors)))
    return out


def _softmax_derivative(f: Factor, new: list[str]) -> list[tuple[float, list[Factor], list]]:
    """∂softmax(z)_i/∂z_k = softmax(z)_i δ_ik - softmax(z)_i softmax(z)_k."""
    s_k = replace(f, labels=new, func="softmax")
    return [(1.0, [f], list(zip(f.labels, new))), (-1.0, [f, s_k], [])]


def _log_softmax_derivative(f: Factor, new: list[str]) -> list[tuple[float, list[Factor], list]]:
    """∂log_softmax(z)_i/∂z_k = δ_ik - softmax(z)_k."""
    return [(1.0, [], list(zip(f.labels, new))), (-1.0, [replace(f, labels=new, func="softmax")], [])]


def _norm2_derivative(f: Factor, new: list[str]) -> list[tuple[float, list[Factor], list]]:
    """∂‖z‖/∂z_k = (z/‖z‖)_k (a subgradient, 0, at z = 0); ∂‖z‖^p/∂z_k = p ‖z‖^(p-1) (z/‖z‖)_k."""
    unit = replace(f, labels=new, func="normalize", power=1.0)
    if f.power == 1:
        return [(1.0, [unit], [])]
    return [(f.power, [replace(f, power=f.power - 1), unit], [])]


def _normalize_derivative(f: Factor, new: list[str]) -> list[tuple[float, list[Factor], list]]:
    """∂(z/‖z‖)_i/∂z_k = (δ_ik - (z/‖z‖)_i (z/‖z‖)_k) / ‖z‖."""
    inv_norm = replace(f, labels=[], func="norm2", power=-1.0)
    return [(1.0, [inv_norm], list(zip(f.labels, new))),
            (-1.0, [inv_norm, f, replace(f, labels=new)], [])]


# The derivative of each function along axes (of a vector argument) as terms
# ``(coefficient, factors, deltas)`` that replace its factor; the facts are the table's rows.
_AXIS_DERIVATIVES = {"softmax": _softmax_derivative, "log_softmax": _log_softmax_derivative,
                     "norm2": _norm2_derivative, "normalize": _normalize_derivative}


def _matfunc_derivative(term: Term, f: Factor, others: list[Factor], new: Sequence[str]) -> Term:
    k, l = new
    inv = lambda labels: Factor(f.name, list(labels), ("inv", f.key), "inv")  # noqa: E731
    if f.func == "inv":  # ∂(X⁻¹)_ij/∂X_kl = -(X⁻¹)_ik (X⁻¹)_lj
        i, j = f.labels
        return Term(-term.coeff, others + [inv((i, k)), inv((l, j))], list(term.deltas),
                    list(term.summed), list(term.size_factors))
    extra = [replace(f)] if f.func == "det" else []  # ∂det X/∂X_kl = det X (X⁻¹)_lk
    return Term(term.coeff, others + extra + [inv((l, k))], list(term.deltas), list(term.summed),
                list(term.size_factors))
