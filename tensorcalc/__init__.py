"""tensorcalc: tensor calculus in einsum notation.

Contract with ``einsum`` (numpy.einsum semantics, compiled kernels), differentiate einsum
expressions symbolically, rearrange with einops patterns.

>>> import numpy as np, tensorcalc as tc
>>> tc.einsum("ij,jk->ik", np.eye(2), np.ones((2, 2)))
array([[1., 1.],
       [1., 1.]])
>>> tc.grad_subscripts("ij,jk->ik", wrt=0)
'ik,jk->ij'
"""

from .errors import TensorcalcError
from .contraction import (ContractExpression, contract_expression, contract_path, einsum_vjp,
                          grad_subscripts)
from .ir import Expr, var
from .ops.functions import (
    abs, cos, det, diag, exp, heaviside, inv, log, log1p, logdet, logsumexp, mean, norm2, pow,
    relu, sigmoid, sign, sin, softmax, softplus, sqrt, stack, sum, tan, tanh, trace,
)
from .simplify import simplify
from .differentiation import grad, hessian, hvp, jacobian
from .evaluation import compile, evaluate
from .display import to_latex, to_numpy, to_str
from . import testing
from .testing import check_grad, check_grads
from .notation import parse
from .einops_ext import RearrangeError, rearrange, reduce, repeat
from .api import einsum
from .version import __version__

__all__ = [
    "TensorcalcError", "RearrangeError",
    # contraction
    "einsum", "contract_path", "contract_expression", "ContractExpression",
    # expressions and derivatives
    "Expr", "var", "grad", "jacobian", "hessian", "hvp", "grad_subscripts", "einsum_vjp",
    "evaluate", "compile", "check_grad", "check_grads", "simplify", "testing",
    # functions
    "abs", "cos", "det", "diag", "exp", "heaviside", "inv", "log", "log1p", "logdet",
    "logsumexp", "mean", "norm2", "pow", "relu", "sigmoid", "sign", "sin", "softmax",
    "softplus", "sqrt", "stack", "sum", "tan", "tanh", "trace",
    # einops
    "rearrange", "reduce", "repeat",
    # reading and showing the math
    "parse", "to_latex", "to_numpy", "to_str",
]
