"""The ``tensorcalc`` command.

::

    tensorcalc grad "ij,jk->ik" [--wrt K] [--explain]
    tensorcalc diff "<expression>" --wrt x [--jacobian | --hessian] [--layout denominator]
                    [--latex [--notation index] | --numpy] [--explain]
    tensorcalc demo
    tensorcalc bench [contract|derivatives|rearrange ...] [--quick]

Expressions are index notation (see ``tensorcalc.notation``): ``"sum((A[i,j] x[j] - b[i])^2)"``.
Bad input prints one message (with a ``^`` under the column for parse errors) to stderr and
exits with status 2.

>>> main(["grad", "ij,jk->ik"])
ij,jk->ik
  operand 0 (A): ik,jk->ij    G Bᵀ
  operand 1 (B): ik,ij->jk    Aᵀ G
0
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from .errors import TensorcalcError
from .version import __version__

BENCH_SUITES = ("contract", "derivatives", "rearrange")


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
                                   'An expression that starts with "-" goes after "--": '
                                   'tensorcalc diff --wrt x -- "-sum(x[i])".')
    d.add_argument("expression", help="index notation (Einstein convention)")
    d.add_argument("--wrt", required=True, help="the variable to differentiate by")
    kind = d.add_mutually_exclusive_group()
    kind.add_argument("--jacobian", action="store_true", help="the Jacobian (default when not scalar)")
    kind.add_argument("--hessian", action="store_true", help="the Hessian (scalar expressions)")
    d.add_argument("--layout", choices=("numerator", "denominator"), default="numerator",
                   help="Jacobian layout (default: numerator, output axes first)")
    form = d.add_mutually_exclusive_group()
    form.add_argument("--latex", action="store_true", help="print LaTeX")
    form.add_argument("--numpy", action="store_true", help="print a numpy function")
    d.add_argument("--notation", choices=("matrix", "index"), default="matrix",
                   help="LaTeX notation (default: matrix when possible)")
    d.add_argument("--explain", action="store_true", help="derive it step by step")

    sub.add_parser("demo", help="a short tour on built-in examples")

    b = sub.add_parser("bench", help="run the benchmark suites (source checkout)")
    b.add_argument("suites", nargs="*", metavar="{" + ",".join(BENCH_SUITES) + "}", help="default: all")
    b.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    return parser


# ----------------------------------------------------------------------------- commands

def cmd_grad(args: argparse.Namespace) -> int:
    from .contraction import grad_subscripts
    from .explain import explain_grad_subscripts, operand_names, spec_matrix_text

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
    from .display import matrix_text, to_latex, to_numpy, to_str
    from .notation import parse

    f = parse(args.expression)
    if args.explain:
        if args.hessian:
            raise TensorcalcError("--explain covers first derivatives; drop --hessian")
        from .explain import explain_diff

        print(explain_diff(f, args.wrt))
        return 0
    if args.hessian:
        if f.ndim:
            raise TensorcalcError(f"--hessian needs a scalar expression, this one has shape {f.shape}")
        result = hessian(f, args.wrt)
    elif args.jacobian or f.ndim:
        result = jacobian(f, args.wrt, layout=args.layout)
    else:
        result = grad(f, args.wrt)
    if args.latex:
        print(to_latex(result, notation=args.notation))
    elif args.numpy:
        print(to_numpy(result), end="")
    else:
        print(to_str(result))
        matrix = matrix_text(result, shared_names=True)
        if matrix is not None:
            print(f"= {matrix}")
    return 0


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
    suites = args.suites or list(BENCH_SUITES)
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
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return COMMANDS[args.command](args)
    except _UsageError as err:
        print(err, file=sys.stderr)
        return 2
    except TensorcalcError as err:
        print(f"tensorcalc: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except SystemExit as done:  # --help and --version end the parse
        return done.code if isinstance(done.code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
