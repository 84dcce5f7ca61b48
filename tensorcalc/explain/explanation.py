"""The text of a derivation, as a notebook shows it.

:class:`Explanation` is a ``str`` (printing, comparing and slicing are unchanged) whose
``_repr_html_`` renders the steps as an HTML table: a heading row per unindented line, one
numbered row per indented step.

>>> text = Explanation("Forward:\\n  Y = A < B")
>>> print(text)
Forward:
  Y = A < B
>>> "&lt;" in text._repr_html_() and text == "Forward:\\n  Y = A < B"
True
"""

from __future__ import annotations

from html import escape

__all__ = ["Explanation"]


class Explanation(str):
    """A derivation's text; in a notebook, an HTML table of its steps."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        rows = []
        step = 0
        for line in self.splitlines():
            if not line.strip():
                continue
            if not line.startswith(" "):
                rows.append('<tr><th colspan="2" style="text-align:left">'
                            f"{escape(line)}</th></tr>")
                continue
            step += 1
            text = line[2:] if line.startswith("  ") else line.lstrip()
            rows.append(f'<tr><td style="text-align:right;vertical-align:top">{step}</td>'
                        '<td style="text-align:left;font-family:monospace;white-space:pre">'
                        f"{escape(text)}</td></tr>")
        return '<table class="tensorcalc-explanation">' + "".join(rows) + "</table>"
