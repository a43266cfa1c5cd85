"""The Gradio panel: a quick bar where people write, and the full manager in its own tab.

Uses only the stock Gradio 4.37.2 API, so it runs in textgen (on its Gradio fork) and in the demo
host alike. It talks to the core through the workspace only.
"""

from .binding import Binding, ChatBinding, PageBinding
from .events import tab_of
from .panel import CSS, JS, Panel

__all__ = ["CSS", "JS", "Binding", "ChatBinding", "PageBinding", "Panel", "tab_of"]
