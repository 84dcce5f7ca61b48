"""Layer 6, differentiation: one VJP rule per node type (:mod:`.rules`, a registry new node
types join with :func:`defvjp`), reverse mode over the DAG (:mod:`.reverse`) and the public
functions (:mod:`.api`); forward mode: one JVP rule per node type in a registry new node
types join with :func:`defjvp`, the push of tangents over the DAG, ``jvp`` and ``jacfwd``
(:mod:`.forward`)."""

from .api import grad, hessian, hvp, jacobian, jacrev
from .forward import defjvp, jacfwd, jvp, jvp_rule, pushforward
from .reverse import backprop, describe_var, find_var, source_names
from .rules import defvjp, hadamard, vjp_rule

__all__ = ["grad", "jacobian", "hessian", "hvp", "backprop", "find_var", "describe_var", "defvjp", "vjp_rule",
           "hadamard", "jvp", "jacfwd", "jacrev", "defjvp", "jvp_rule", "pushforward", "source_names"]
