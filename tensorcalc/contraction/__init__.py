"""Layer 1, arrays only: parse einsum subscripts, plan the order (opt_einsum), run the plan in
the compiled core, and the string-level einsum gradients. Nothing here knows expressions."""

from .contract import ContractExpression, contract_expression, contract_path, einsum
from .vjp import einsum_vjp, grad_subscripts

__all__ = ["einsum", "contract_path", "contract_expression", "ContractExpression",
           "grad_subscripts", "einsum_vjp"]
