"""The sessions HTTP API (FastAPI): the same routes on textgen's own API server and under `session-manager serve`.

An interface layer like ui/: it reaches the core through the store and the formats' import and export
functions, and a running model only through an ``Engine`` (given by the host). It imports no textgen module.
Every route lives under ``PREFIX``, which cannot clash with textgen's OpenAI and Anthropic routes.
"""

from .context import ApiContext, Engine, Limits
from .routes import PREFIX, build_router

__all__ = ["PREFIX", "ApiContext", "Engine", "Limits", "build_router"]
