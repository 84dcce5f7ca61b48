"""Layer 5, simplification: the rewrite families, one module per primitive family; importing them registers their
rules in the rewrite table (:mod:`tensorcalc.simplify.rewrite`): :mod:`.powers` (powers,
signs, absolute values), :mod:`.log_exp` (log, exp, σ, softplus), :mod:`.softmax`
(softmax, log_softmax, logsumexp), :mod:`.norms` (‖x‖ and x/‖x‖)."""

from . import log_exp, norms, powers, softmax  # noqa: F401  (register their rules)
