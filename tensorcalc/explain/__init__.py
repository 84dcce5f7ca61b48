"""Layer 11, step-by-step derivations for the command line's ``--explain``: index terms and
their rules (:mod:`.terms`, the function facts read from the primitives' table) and the
derivations of gradient specs and expression derivatives (:mod:`.explain`)."""

from .explain import explain_diff, explain_grad_subscripts, operand_names, spec_matrix_text
from .explanation import Explanation

# ``tensorcalc.explain`` (the function ``tc.explain``) is exported by the top package only:
# here the name ``explain`` stays the submodule ``explain.py``.
__all__ = ["explain_diff", "explain_grad_subscripts", "operand_names", "spec_matrix_text",
           "Explanation"]
