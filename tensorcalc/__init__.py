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
from .contract import ContractExpression, contract_expression, contract_path, einsum
from .expr import Expr, var
from .functions import (
    abs, cos, det, diag, exp, inv, log, log1p, logdet, logsumexp, mean, norm2, pow, relu,
    sigmoid, sign, sin, softmax, softplus, sqrt, stack, sum, tan, tanh, trace,
)
from .diff import einsum_vjp, grad, grad_subscripts, hessian, hvp, jacobian
from .evaluation import check_grad, compile, evaluate
from .simplify import simplify
from .rearrange import RearrangeError, rearrange, reduce, repeat
from .parse import parse
from .printing import to_latex, to_numpy, to_str

__version__ = "0.1.0"

__all__ = [
    "TensorcalcError", "RearrangeError",
    # contraction
    "einsum", "contract_path", "contract_expression", "ContractExpression",
    # expressions and derivatives
    "Expr", "var", "grad", "jacobian", "hessian", "hvp", "grad_subscripts", "einsum_vjp",
    "evaluate", "compile", "check_grad", "simplify",
    # functions
    "abs", "cos", "det", "diag", "exp", "inv", "log", "log1p", "logdet", "logsumexp", "mean",
    "norm2", "pow", "relu", "sigmoid", "sign", "sin", "softmax", "softplus", "sqrt", "stack",
    "sum", "tan", "tanh", "trace",
    # einops
    "rearrange", "reduce", "repeat",
    # reading and showing the math
    "parse", "to_latex", "to_numpy", "to_str",
]
