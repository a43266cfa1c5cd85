"""What every picture of the history shares: escaping, colours per trigger, the legend, the click hooks.

Pictures are SVG and HTML strings that the page draws. A point a user may click carries
``data-sm-pick`` (a picker value, or ``session:<id>`` for a session); the page's script
(ui/panel.py JS) hands it to the panel, which selects it.
"""

from __future__ import annotations

from html import escape

# One colour per trigger, the same in every picture.
TRIGGER_COLORS = {
    "manual": "#2563eb", "stop": "#16a34a", "autosave": "#9ca3af", "auto-session": "#0891b2",
    "branch": "#9333ea", "import": "#ea580c", "regenerate": "#db2777", "continue": "#65a30d",
    "swipe": "#ca8a04", "rewind": "#64748b",
}
TRIGGER_NAMES = {"manual": "saved by hand", "stop": "Stop / end of a generation", "autosave": "autosave",
                 "auto-session": "new session", "branch": "branch", "import": "import",
                 "regenerate": "regenerated", "continue": "continued", "swipe": "reply version",
                 "rewind": "rewind"}
SESSION_PICK = "session:"  # data-sm-pick value that selects a session


def color(trigger: str) -> str:
    return TRIGGER_COLORS.get(trigger, "#475569")


def attr(text: object) -> str:
    """A value made safe inside a double-quoted attribute or as element text."""
    return escape(str(text), quote=True)


def pick(value: str) -> str:
    """The attribute that makes an element clickable: a click selects ``value``."""
    return f' data-sm-pick="{attr(value)}"'


def legend(triggers: list[str]) -> str:
    """A line of coloured dots naming the triggers that occur in a picture."""
    items = "".join(f'<span class="sm-legend-item"><i style="background:{color(t)}"></i>'
                    f'{attr(TRIGGER_NAMES.get(t, t))}</span>' for t in dict.fromkeys(triggers))
    return f'<div class="sm-legend">{items}</div>' if items else ""


def num(value: float) -> str:
    """A coordinate with one decimal at most: pictures of 2,000 points stay small."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def count(value: int | float) -> str:
    return f"{value:,.0f}"


def empty(message: str) -> str:
    return f'<div class="sm-empty">{attr(message)}</div>'
