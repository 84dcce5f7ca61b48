"""The ``tensorcalc`` command.

::

    tensorcalc grad "ij,jk->ik" [--wrt K] [--explain]
    tensorcalc diff "<expression>" --wrt x [--jacobian | --hessian]
                    [--layout jax|numerator|denominator]
                    [--latex [--notation index] | --numpy | --backend torch|jax|array_api]
                    [--explain] [--at X=[[0,1],[2,3]] ...]
    tensorcalc demo
    tensorcalc bench [contract|derivatives|rearrange ...] [--quick]

Expressions are index notation (see ``tensorcalc.notation``): ``"sum((A[i,j] x[j] - b[i])^2)"``.
An expression may start with ``-`` (``tensorcalc diff "-sum(x[i])" --wrt x``); ``--`` is
accepted and ignored, and the options are recognised wherever they stand. Bad input prints
one message (with a ``^`` under the column for parse errors) to stderr and exits with
status 2; output cut short by a closed pipe (``tensorcalc demo | head -3``) ends quietly.

>>> main(["grad", "ij,jk->ik"])
ij,jk->ik
  operand 0 (A): ik,jk->ij    G Bᵀ
  operand 1 (B): ik,ij->jk    Aᵀ G
0
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from .errors import TensorcalcError
from .version import __version__

# "all" is the first three; scaling and distributed (a dask cluster, minutes) are asked for by name
BENCH_SUITES = ("contract", "derivatives", "rearrange", "scaling", "distributed")
DEFAULT_SUITES = BENCH_SUITES[:3]


class _UsageError(Exception):
    """A command-line mistake argparse found (reported as one line, status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print the usage and exit
        raise _UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tensorcalc", description="Tensor calculus in einsum notation.")
    parser.add_argument("--version", action="version", version=f"tensorcalc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{grad,diff,demo,bench}", parser_class=_Parser)

    g = sub.add_parser("grad", help="gradient einsum of every operand of an einsum",
                       description="Print the gradient spec of each operand: the upstream "
                                   "gradient G first, then the other operands.")
    g.add_argument("subscripts", help='einsum subscripts, e.g. "ij,jk->ik"')
    g.add_argument("--wrt", type=int, default=None, help="only this operand (position)")
    g.add_argument("--explain", action="store_true", help="derive it step by step")

    d = sub.add_parser("diff", help="differentiate an index-notation expression",
                       description='Differentiate an expression such as "sum((A[i,j] x[j] - b[i])^2)". '
                                   'It may start with "-": tensorcalc diff "-sum(x[i])" --wrt x.')
    d.add_argument("expression", help="index notation (Einstein convention)")
    d.add_argument("--wrt", required=True, help="the variable to differentiate by")
    kind = d.add_mutually_exclusive_group()
    kind.add_argument("--jacobian", action="store_true", help="the Jacobian (default when not scalar)")
    kind.add_argument("--hessian", action="store_true", help="the Hessian (scalar expressions)")
    d.add_argument("--layout", choices=("jax", "numerator", "denominator"), default="jax",
                   help="Jacobian layout: jax (default) = output axes then input axes; "
                        "numerator = output axes then input axes reversed (a scalar by a p×q "
                        "matrix is q×p); denominator = the transpose of numerator")
    form = d.add_mutually_exclusive_group()
    form.add_argument("--latex", action="store_true", help="print LaTeX")
    form.add_argument("--numpy", action="store_true", help="print a numpy function")
    form.add_argument("--backend", choices=("numpy", "torch", "jax", "array_api"),
                      help="print a function for this array library (--numpy is --backend numpy)")
    d.add_argument("--notation", choices=("matrix", "index"), default="matrix",
                   help="LaTeX notation (default: matrix when possible)")
    d.add_argument("--explain", action="store_true", help="derive it step by step")
    d.add_argument("--at", action="append", default=[], metavar="NAME=VALUE",
                   help="evaluate the expression and the derivative with NAME bound to VALUE, "
                        "a number or nested list (repeat for each variable): --at X=[[0,1],[2,3]]")

    sub.add_parser("demo", help="a short tour on built-in examples")

    b = sub.add_parser("bench", help="run the benchmark suites (source checkout)")
    b.add_argument("suites", nargs="*", metavar="{" + ",".join(BENCH_SUITES) + "}", help="default: " + ",".join(DEFAULT_SUITES))
    b.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    parser.set_defaults(_commands=dict(sub.choices))
    return parser


def normalize_argv(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """The arguments with every option of the command before its positionals.

    An expression may start with ``-`` (``-sum(x[i])``): a token that is not an option of the
    command (exactly, or a unique abbreviation of a long one) is positional wherever it
    stands, and ``--`` is only a separator, so the options after it still count. The
    positionals go last, after ``--``, where argparse takes them as they are.

    >>> normalize_argv(build_parser(), ["diff", "-sum(x[i])", "--wrt", "x"])
    ['diff', '--wrt', 'x', '--', '-sum(x[i])']
    >>> normalize_argv(build_parser(), ["diff", "--", "-x[i]", "--wrt", "x", "--hessian"])
    ['diff', '--wrt', 'x', '--hessian', '--', '-x[i]']
    """
    argv = list(argv)
    commands = parser.get_default("_commands") or {}
    at = next((k for k, t in enumerate(argv) if t in commands), None)
    if at is None:
        return argv
    takes_value = {opt: action.nargs != 0 for action in commands[argv[at]]._actions
                   for opt in action.option_strings}
    options: list[str] = []
    positionals: list[str] = []
    rest = argv[at + 1:]
    k = 0
    while k < len(rest):
        token = rest[k]
        k += 1
        if token == "--":
            continue
        key = token.split("=", 1)[0] if token.startswith("--") else token
        if key.startswith("--") and key not in takes_value:
            matches = [opt for opt in takes_value if opt.startswith(key)]
            key = matches[0] if len(matches) == 1 else key
        if key in takes_value:
            options.append(token)
            if takes_value[key] and "=" not in token and k < len(rest):
                options.append(rest[k])
                k += 1
        elif token.startswith("--") and len(token) > 2:
            options.append(token)  # an unknown option: argparse names it
        else:
            positionals.append(token)
    return argv[: at + 1] + options + (["--", *positionals] if positionals else [])


# ----------------------------------------------------------------------------- commands

def cmd_grad(args: argparse.Namespace) -> int:
    from .contraction import grad_subscripts
    from .explain import explain_grad_subscripts, operand_names, spec_matrix_text

    if not args.subscripts.strip():
        raise _UsageError('tensorcalc grad: the subscripts are empty; give an einsum such as "ij,jk->ik"')
    if args.explain:
        print(explain_grad_subscripts(args.subscripts, args.wrt))
        return 0
    n_operands = len("".join(args.subscripts.split()).split("->")[0].split(","))
    names = operand_names(n_operands)
    which = range(n_operands) if args.wrt is None else [args.wrt]
    rows = []
    for k in which:
        spec = grad_subscripts(args.subscripts, k)  # validates the subscripts and wrt
        k = k % n_operands
        operands = ["G"] + [n for j, n in enumerate(names) if j != k]
        matrix = spec_matrix_text(spec, operands) if "..." not in spec else None
        rows.append((f"operand {k} ({names[k]}):", spec, matrix or ""))
    print(args.subscripts)
    width = max(len(r[1]) for r in rows)
    for head, spec, matrix in rows:
        print(f"  {head} {spec.ljust(width)}    {matrix}".rstrip())
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from .differentiation import grad, hessian, jacobian
    from .display import matrix_text, to_latex, to_source, to_str
    from .notation import parse

    at = parse_at(args.at)
    backend = "numpy" if args.numpy else args.backend  # None: no source printed
    f = parse(args.expression)
    if args.hessian and f.ndim:
        raise TensorcalcError(f"--hessian needs a scalar expression, this one has shape {f.shape}")
    kind = "hessian" if args.hessian else "jacobian" if args.jacobian or f.ndim else "grad"
    result = None
    if not args.explain or at:
        if kind == "hessian":
            result = hessian(f, args.wrt)
        elif kind == "jacobian":
            result = jacobian(f, args.wrt, layout=args.layout)
        else:
            result = grad(f, args.wrt)
    if args.explain:
        from .explain import explain_diff

        form = "latex" if args.latex else "numpy" if backend == "numpy" else "text"
        print(explain_diff(f, args.wrt, kind=kind, layout=args.layout, form=form,
                           notation=args.notation))
    elif args.latex:
        print(to_latex(result, notation=args.notation))
    elif backend:
        print(to_source(result, backend=backend), end="")
    else:
        print(to_str(result))
        matrix = matrix_text(result, shared_names=True)
        if matrix is not None:
            print(f"= {matrix}")
    if at:
        comment = "# " if backend else "% " if args.latex else ""  # keeps code valid
        text = "at " + ", ".join(item.strip() for item in args.at) + ":\n"
        text += "\n".join(value_lines(f, result, args.wrt, kind, at))
        for line in text.splitlines():
            print(comment + line)
    return 0


def parse_at(items: Sequence[str]) -> dict:
    """``--at NAME=VALUE`` items as arrays by name (VALUE: a Python number or nested list)."""
    import numpy as np

    arrays: dict = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise _UsageError(f"tensorcalc diff: --at needs NAME=VALUE, e.g. --at X=[[0,1],[2,3]]; got {item!r}")
        if name in arrays:
            raise _UsageError(f"tensorcalc diff: --at gives {name!r} twice")
        try:
            value = np.asarray(ast.literal_eval(text.strip()))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = None
        if value is None or value.dtype.kind not in "biufc":
            raise _UsageError(f"tensorcalc diff: --at {name}={text}: the value must be a number "
                              "or a nested list of numbers, e.g. [[0, 1], [2, 3]]")
        arrays[name] = value.astype(np.float64) if value.dtype.kind in "biu" else value
    return arrays


def value_lines(f: object, result: object, wrt: str, kind: str, at: dict) -> list[str]:
    """The expression and its derivative evaluated at the ``--at`` arrays, as text lines."""
    from .evaluation import evaluate

    fval, dval = evaluate([f, result], at)
    name = "f" if not getattr(f, "ndim", 0) else "y"
    head = {"grad": f"∂{name}/∂{wrt}", "jacobian": f"∂{name}/∂{wrt}", "hessian": f"∂²{name}/∂{wrt}²"}[kind]
    lines = [f"  {name} = {_array_text(fval, len(name) + 5)}"]
    lines.append(f"  {head} = {_array_text(dval, len(head) + 5)}")
    return lines


def _array_text(a: object, indent: int) -> str:
    import numpy as np

    a = np.asarray(a)
    if a.ndim == 0:
        return f"{a.item():.12g}"
    return np.array2string(a, separator=", ", prefix=" " * indent,
                           formatter={"float_kind": lambda v: f"{v:.12g}"})


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run

    return run()


def find_bench_dir() -> Path | None:
    """``bench/`` of a source checkout: beside the package, or in the working directory."""
    for base in (Path(__file__).resolve().parent.parent, Path.cwd()):
        candidate = base / "bench"
        if (candidate / "_harness.py").is_file():
            return candidate
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    suites = args.suites or list(DEFAULT_SUITES)
    for name in suites:
        if name not in BENCH_SUITES:
            raise _UsageError(f"tensorcalc bench: unknown suite {name!r}; choose from {', '.join(BENCH_SUITES)}")
    bench = find_bench_dir()
    if bench is None:
        print("tensorcalc bench: the benchmark scripts (bench/) are not installed with the "
              "package; run 'tensorcalc bench' from a source checkout of tensorcalc",
              file=sys.stderr)
        return 2
    root = bench.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    # The suites import tensorcalc (compiled core included) the way they will run it.
    probe = subprocess.run([sys.executable, "-c", "import tensorcalc; tensorcalc.einsum"],
                           cwd=str(root), env=env, capture_output=True, text=True)
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        print(f"tensorcalc bench: cannot import tensorcalc from {root} ({why}); build it there "
              "first (pip install -e . or python setup.py build_ext --inplace)", file=sys.stderr)
        return 2
    status = 0
    for name in suites:
        script = bench / f"{name}.py"
        if not script.is_file():
            print(f"tensorcalc bench: {script} is missing; skipped", file=sys.stderr)
            status = 1
            continue
        cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        print(f"$ python bench/{name}.py" + (" --quick" if args.quick else ""), flush=True)
        code = subprocess.call(cmd, cwd=str(root), env=env)
        status = status or code
    return status


COMMANDS = {"grad": cmd_grad, "diff": cmd_diff, "demo": cmd_demo, "bench": cmd_bench}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input).

    >>> main(["diff", "sum(x[i] x[i])", "--wrt", "x"])
    2 * x
    = 2 x
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(normalize_argv(parser, sys.argv[1:] if argv is None else argv))
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except _UsageError as err:
        print(err, file=sys.stderr)
        return 2
    except TensorcalcError as err:
        print(f"tensorcalc: error: {err}", file=sys.stderr)
        return 2
    except RecursionError:
        print("tensorcalc: error: the expression is nested too deeply (split it into smaller "
              "parts)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (tensorcalc demo | head -3)
        _discard_stdout()
        return 141  # what the shell reports for a process ended by SIGPIPE
    except KeyboardInterrupt:
        return 130
    except SystemExit as done:  # --help and --version end the parse
        return done.code if isinstance(done.code, int) else 0


def _discard_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush has nowhere to fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (captured output): nothing is flushed to a pipe


if __name__ == "__main__":
    sys.exit(main())
