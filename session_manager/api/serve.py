"""`session-manager serve`: the API's own app over one store, on uvicorn."""

from __future__ import annotations

import uvicorn

from ..store import SessionStore
from .app import bind_problem, create_app
from .context import ApiContext
from .routes import PREFIX

__all__ = ["address", "bind_problem", "run"]


def run(store: SessionStore, host: str, port: int, api_key: str | None) -> None:
    """Serve until interrupted (Ctrl+C); the store is closed afterwards."""
    app = create_app(ApiContext(store=lambda: store, api_key=lambda: api_key))
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        store.close()


def address(host: str, port: int) -> str:
    """Where clients reach the API (the docs are at /docs of the same server)."""
    return f"http://{_url_host(host)}:{port}{PREFIX}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
