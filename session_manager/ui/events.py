"""What every event handler of the panel shares: the browser tab it came from, and the panel it renders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import gradio as gr

from ..app.workspace import Workspace


def tab_of(request: gr.Request | None) -> str | None:
    """The browser tab an event came from (each page load has its own session hash)."""
    return getattr(request, "session_hash", None) or None


class Renders(Protocol):
    """The panel as the manager's and the transfer block's events see it."""

    workspace: Workspace

    def outputs(self) -> list[Any]: ...

    def render(self, tab: str | None, selected: str | None = None, kept: list[str | None] | None = None,
               query: str = "") -> list[Any]: ...

    def handler(self, action: Callable[..., Any]) -> Callable[..., list[Any]]: ...
