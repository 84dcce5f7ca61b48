"""Index notation text into a syntax tree (``tc.parse`` then lowers it to the IR).

The text is read by a small tokenizer and a hand-written Pratt parser into a syntax tree,
which :mod:`tensorcalc.notation.lowering` then turns into the expression IR through the
public builders (``var``, ``einsum``, arithmetic operators, ``sum``, ``exp``, ...). User
text is never evaluated.

Grammar (``^`` and ``**`` are the same operator; ``·``, ``×`` and ``−`` are accepted for
``*``, ``*`` and ``-``)::

    expression := term (("+" | "-") term)*
    term       := unary (["*" | "/"] unary)*       # juxtaposition multiplies: A[i,j] x[j]
    unary      := "-" unary | "+" unary | power
    power      := atom [("^" | "**") unary]        # right-associative: x^-1, a^b^c = a^(b^c)
    atom       := NUMBER
                | NAME "[" NAME ("," NAME)* "]"    # indexed tensor: A[i,j]
                | NAME "(" expression ")"          # function: exp log sin cos tan tanh sigmoid
                                                   #   relu softplus sqrt abs sign log1p
                                                   #   heaviside sum mean tr (trace) det
                                                   #   logdet inv diag norm2 softmax logsumexp
                                                   #   (a call when NAME is one of these or
                                                   #   touches "(": "x (y+1)" is a product)
                | NAME                             # bare variable (scalar, or whole tensor)
                | "(" expression ")" ["[" NAME ("," NAME)* "]"]   # kept labels, see below
    NUMBER     := digits ["." digits] [("e" | "E") ["+" | "-"] digits]
    NAME       := a letter or "_", then letters, digits, "_"

Meaning:

* **Einstein convention.** In a product (juxtaposition, ``*`` or ``/``) a label that occurs
  two or more times is summed; labels that occur once are *free* and become the axes of the
  result, **in order of first appearance** (``A[j,i]`` is ``A`` itself; ``B[j,k] A[i,j]`` has
  axes ``(k, i)``). A label repeated inside one factor is summed too: ``X[i,i]`` is the trace.
  ``a / b`` multiplies by the elementwise reciprocal of ``b``, so ``x[i] / y[i]`` is
  ``Σᵢ xᵢ/yᵢ`` under the same convention.
* **Kept labels**: ``(product)[i, ...]`` gives the product exactly these axes, in this order,
  like the output of an einsum: ``(y[i] X[i,j] w[j])[i]`` keeps ``i`` (``yᵢ Σⱼ Xᵢⱼ wⱼ``) where
  Einstein's rule would sum it. On a sum or a function, ``[...]`` lists its free labels in
  a new order (a transpose): ``(A[i,j] + B[i,j])[j,i]``.
* **Sums** (``+``, ``-``) need the same free labels on both sides (in any order: the right
  side is transposed to the left's order), or one side's labels a subset of the other's: that
  side broadcasts, and the sum has the larger side's labels in its order (the affine layer
  ``X[n,d] W[d,m] + b[m]``); a scalar broadcasts against anything.
* **Function names** are not variable names: ``sum x[i]`` or ``exp[i]`` is an error.
* **Powers and elementwise functions** keep the labels of their argument: ``(x[i] - b[i])^2``
  has the free label ``i``. Exponents must be scalars.
* **Reductions and matrix functions**: ``sum``, ``mean``, ``norm2``, ``logsumexp``, ``det``,
  ``logdet`` and ``tr`` return scalars (``tr`` needs two free labels); ``inv`` keeps its two
  labels; ``diag`` of a matrix is the vector of its diagonal, labelled by the first label
  (``diag(A[i,j] B[j,k])`` has axis ``i``; for the diagonal *matrix* of a vector write a
  product, ``x[i] A[i,j]`` is ``diag(x) A``); ``softmax`` keeps its labels (it normalises
  over the last one).
* **Shapes** are named dimensions inferred from the labels: every label names one dimension
  throughout the text, so ``A[i,j] x[j]`` creates ``A`` with shape ``("i", "j")`` and ``x``
  with shape ``("j",)``. A variable must be indexed with the same number of labels at every
  use; labels that meet on the same axis name the same dimension (``X[i,j] X[j,k]`` makes
  ``X`` square, shape ``("i", "i")``). A bare name is the whole variable: a scalar unless an
  indexed use gives its rank or it is the argument of ``tr``, ``det``, ``logdet`` or ``inv``
  (a square matrix). A bare tensor cannot be a factor of a product with other tensors:
  index it.

>>> tree = parse_tree("sum((A[i,j] x[j] - b[i])^2)")
>>> type(tree).__name__, tree.func
('Call', 'sum')
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import TensorcalcError
from ..ops.table import parser_names

__all__ = ["parse_tree", "tokenize", "Node", "Num", "Indexed", "Name", "Call", "BinOp",
           "Neg", "Keep", "FUNCTIONS"]


# ----------------------------------------------------------------------------- tokens

@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "op", "end"
    text: str
    col: int


_SINGLE = {"+", "-", "*", "/", "^", "(", ")", "[", "]", ","}
# Typographic forms people paste from papers; mapped to their ASCII operator.
_ALIASES = {"−": "-", "·": "*", "×": "*", "⋅": "*"}


def _point(text: str, col: int, message: str) -> str:
    return f"{message}\n  {text}\n  {' ' * col}^"


def point_error(text: str, col: int, message: str) -> TensorcalcError:
    return TensorcalcError(_point(text, col, f"{message} (column {col + 1})"))


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; the last one has kind ``"end"``.

    >>> [t.text for t in tokenize("2.5e-1 A[i,j]^2")]
    ['2.5e-1', 'A', '[', 'i', ',', 'j', ']', '^', '2', '']
    """
    tokens: list[Token] = []
    k, n = 0, len(text)
    while k < n:
        ch = text[k]
        if ch.isspace():
            k += 1
        elif ch.isdigit() or (ch == "." and k + 1 < n and text[k + 1].isdigit()):
            end = _scan_number(text, k)
            tokens.append(Token("num", text[k:end], k))
            k = end
        elif ch.isalpha() or ch == "_":
            end = k + 1
            while end < n and (text[end].isalnum() or text[end] == "_"):
                end += 1
            tokens.append(Token("name", text[k:end], k))
            k = end
        elif text.startswith("**", k):
            tokens.append(Token("op", "^", k))
            k += 2
        elif ch in _SINGLE or ch in _ALIASES:
            tokens.append(Token("op", _ALIASES.get(ch, ch), k))
            k += 1
        else:
            raise point_error(text, k, f"unexpected character {ch!r}")
    tokens.append(Token("end", "", n))
    return tokens


def _scan_number(text: str, k: int) -> int:
    n = len(text)
    while k < n and text[k].isdigit():
        k += 1
    if k < n and text[k] == ".":
        k += 1
        while k < n and text[k].isdigit():
            k += 1
    # An exponent only when digits follow: "2e" is 2 times a variable e.
    if k < n and text[k] in "eE":
        j = k + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and text[j].isdigit():
            k = j
            while k < n and text[k].isdigit():
                k += 1
    return k


# ----------------------------------------------------------------------------- syntax tree

@dataclass(frozen=True)
class Node:
    col: int


@dataclass(frozen=True)
class Num(Node):
    value: float


@dataclass(frozen=True)
class Indexed(Node):
    name: str
    labels: tuple[str, ...]
    label_cols: tuple[int, ...] = field(compare=False, default=())


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Call(Node):
    func: str
    arg: Node


@dataclass(frozen=True)
class BinOp(Node):
    op: str  # "+", "-", "*", "/", "^"
    left: Node
    right: Node


@dataclass(frozen=True)
class Neg(Node):
    operand: Node


@dataclass(frozen=True)
class Keep(Node):
    """``(expression)[labels]``: the result has exactly these axes (an einsum output)."""

    inner: Node
    labels: tuple[str, ...]
    label_cols: tuple[int, ...] = field(compare=False, default=())


# Function names (a name followed by '(' is a call when it is one of these), from the
# primitives' table: name -> builder.
FUNCTIONS = parser_names()


# Deepest nesting of parentheses, signs and powers the parser follows (each level is a few
# Python frames; far beyond any formula, far below the interpreter's recursion limit).
MAX_DEPTH = 200

# Binding powers: a higher number binds tighter.
_INFIX = {"+": 10, "-": 10, "*": 20, "/": 20, "^": 40}
_PREFIX_BP = 30  # -x^2 is -(x^2); -a b is (-a) b, which is the same value


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    def enter(self) -> None:
        """One level deeper (a parenthesis, a sign, an exponent); refused past MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TensorcalcError(
                f"the expression nests parentheses, signs or powers more than {MAX_DEPTH} "
                f"levels deep (at column {self.tok.col + 1})")

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, op: str, what: str) -> Token:
        tok = self.tok
        if tok.kind != "op" or tok.text != op:
            found = "end of input" if tok.kind == "end" else repr(tok.text)
            raise point_error(self.text, tok.col, f"expected {op!r} {what}, found {found}")
        return self.advance()

    def starts_atom(self, tok: Token) -> bool:
        return tok.kind in ("num", "name") or (tok.kind == "op" and tok.text == "(")

    def expression(self, min_bp: int = 0) -> Node:
        self.enter()
        try:
            return self._expression(min_bp)
        finally:
            self.depth -= 1

    def _expression(self, min_bp: int) -> Node:
        left = self.prefix()
        while True:
            tok = self.tok
            explicit = tok.kind == "op" and tok.text in _INFIX
            if explicit:
                op, col = tok.text, tok.col
            elif self.starts_atom(tok):
                op, col = "*", tok.col  # juxtaposition
            else:
                break
            bp = _INFIX[op]
            if bp <= min_bp:
                break
            if explicit:
                self.advance()
            # '^' is right-associative and takes a signed exponent: parse it as a unary.
            right = self.prefix_power() if op == "^" else self.expression(bp)
            left = BinOp(col, op, left, right)
        return left

    def prefix_power(self) -> Node:
        self.enter()
        try:
            return self._prefix_power()
        finally:
            self.depth -= 1

    def _prefix_power(self) -> Node:
        tok = self.tok
        if tok.kind == "op" and tok.text in "+-":
            self.advance()
            operand = self.prefix_power()
            return operand if tok.text == "+" else Neg(tok.col, operand)
        base = self.atom()
        if self.tok.kind == "op" and self.tok.text == "^":
            col = self.advance().col
            return BinOp(col, "^", base, self.prefix_power())
        return base

    def prefix(self) -> Node:
        tok = self.tok
        if tok.kind == "op" and tok.text in "+-":
            self.advance()
            operand = self.expression(_PREFIX_BP)
            return operand if tok.text == "+" else Neg(tok.col, operand)
        return self.atom()

    def atom(self) -> Node:
        tok = self.advance()
        if tok.kind == "num":
            return Num(tok.col, float(tok.text))
        if tok.kind == "name":
            nxt = self.tok
            is_call = nxt.kind == "op" and nxt.text == "("
            if tok.text in FUNCTIONS and not is_call:
                raise point_error(self.text, tok.col,
                                  f"{tok.text!r} is a function: call it as {tok.text}(...); a "
                                  "variable needs another name")
            if nxt.kind == "op" and nxt.text == "[":
                return self.indexed(tok)
            # A call when the name is a known function or touches its '(':
            # "x (y + 1)" is a product, "foo(x)" an unknown function.
            if is_call and (tok.text in FUNCTIONS or nxt.col == tok.col + len(tok.text)):
                self.advance()
                arg = self.expression()
                self.expect(")", f"to close the call of {tok.text}")
                return Call(tok.col, tok.text, arg)
            return Name(tok.col, tok.text)
        if tok.kind == "op" and tok.text == "(":
            inner = self.expression()
            self.expect(")", "to close '('")
            if self.tok.kind == "op" and self.tok.text == "[":
                labels, cols = self.labels("(...)")
                return Keep(tok.col, inner, labels, cols)
            return inner
        found = "end of input" if tok.kind == "end" else repr(tok.text)
        raise point_error(self.text, tok.col, f"expected a number, a name or '(', found {found}")

    def indexed(self, name: Token) -> Indexed:
        labels, cols = self.labels(name.text)
        return Indexed(name.col, name.text, labels, cols)

    def labels(self, owner: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """``[a, b, ...]`` after ``owner``: the labels and their columns."""
        self.advance()  # '['
        labels, cols = [], []
        while True:
            tok = self.advance()
            if tok.kind != "name":
                found = "end of input" if tok.kind == "end" else repr(tok.text)
                raise point_error(self.text, tok.col, f"expected an index label in {owner}[...], found {found}")
            labels.append(tok.text)
            cols.append(tok.col)
            if self.tok.kind == "op" and self.tok.text == ",":
                self.advance()
                continue
            self.expect("]", f"to close {owner}[...]")
            return tuple(labels), tuple(cols)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise point_error(self.text, 0, "empty expression")
        node = self.expression()
        if self.tok.kind != "end":
            raise point_error(self.text, self.tok.col, f"unexpected {self.tok.text!r}")
        return node


def parse_tree(text: str) -> Node:
    """Parse ``text`` into a syntax tree (no expression is built).

    >>> parse_tree("2 x^2")
    BinOp(col=2, op='*', left=Num(col=0, value=2.0), right=BinOp(col=3, op='^', left=Name(col=2, name='x'), right=Num(col=4, value=2.0)))
    """
    if not isinstance(text, str):
        raise TypeError(f"parse expects a str, got {type(text).__name__}")
    return _Parser(text).parse()
