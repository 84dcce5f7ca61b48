"""tensorcalc: tensor calculus in einsum notation.

Contract with ``einsum`` (numpy.einsum semantics, compiled kernels), differentiate einsum
expressions symbolically, rearrange with einops patterns.

>>> import numpy as np, tensorcalc as tc
>>> tc.einsum("ij,jk->ik", np.eye(2), np.ones((2, 2)))
array([[1., 1.],
       [1., 1.]])
"""

from .errors import TensorcalcError
from .contract import ContractExpression, contract_expression, contract_path, einsum

__version__ = "0.1.0"

__all__ = [
    "TensorcalcError",
    "ContractExpression",
    "contract_expression",
    "contract_path",
    "einsum",
]
