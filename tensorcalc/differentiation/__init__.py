"""Layer 5, differentiation: one VJP rule per node type (:mod:`.rules`, a registry new node
types join with :func:`defvjp`), reverse mode over the DAG (:mod:`.reverse`) and the public
functions (:mod:`.api`)."""

from .api import grad, hessian, hvp, jacobian
from .reverse import backprop, find_var
from .rules import defvjp, hadamard, vjp_rule

__all__ = ["grad", "jacobian", "hessian", "hvp", "backprop", "find_var", "defvjp", "vjp_rule",
           "hadamard"]
