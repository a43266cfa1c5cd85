"""The sessions API on textgen's own API server (--api): the same port, the same --api-key, no new port.

textgen builds its API app when ``modules.api.script`` is imported and starts serving it right after the
extensions' setup() (server.py, both in the web UI and with --nowebui). setup() imports that module first
and adds our routes to its app; the routes find the running store and recorder through ``current`` on
every request, so a second setup() ("Apply flags/extensions and restart") needs no second mount.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from ...api import ApiContext, build_router
from ...api.engine import RecorderEngine
from ...api.routes import build_off_router
from ...recording.recorder import Recorder

log = logging.getLogger("session_manager")
MOUNTED = "session_manager_api"
# Where textgen keeps its API app: modules/api since v4.x, extensions/openai before.
API_MODULES = ("modules.api.script", "extensions.openai.script")


def mount_api(current: Callable[[], Recorder | None]) -> bool:
    """Add the routes to textgen's API app when textgen runs with --api; True when they are there."""
    from modules import shared

    if not (getattr(shared.args, "api", False) or getattr(shared.args, "public_api", False)):
        return False
    app = _textgen_api_app()
    if app is None:
        log.warning("Session Manager: textgen's API app was not found; the sessions API is not served")
        return False
    if getattr(app.state, MOUNTED, False):
        return True
    context = ApiContext(store=lambda: _recorder(current).store, api_key=lambda: getattr(shared.args, "api_key", None),
                         engine=lambda: _engine(current))
    app.include_router(build_router(context))
    app.openapi_schema = None  # textgen's /docs lists the new routes too
    setattr(app.state, MOUNTED, True)
    log.info("Session Manager: the sessions API is served by textgen's API under /session-manager/v1")
    return True


def mount_off(reason: str) -> bool:
    """With --api where the sessions API must stay off (--multi-user): its routes answer 403 and say why."""
    from modules import shared

    if not (getattr(shared.args, "api", False) or getattr(shared.args, "public_api", False)):
        return False
    app = _textgen_api_app()
    if app is None or getattr(app.state, MOUNTED, False):
        return False
    app.include_router(build_off_router(reason))
    setattr(app.state, MOUNTED, True)
    log.info(f"Session Manager: the sessions API is off: {reason}")
    return True


def _textgen_api_app() -> Any:
    for name in API_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        app = getattr(module, "app", None)
        if app is not None and hasattr(app, "include_router"):
            return app
    return None


def _engine(current: Callable[[], Recorder | None]) -> RecorderEngine | None:
    recorder = current()
    return RecorderEngine(recorder) if recorder is not None else None


def _recorder(current: Callable[[], Recorder | None]) -> Recorder:
    recorder = current()
    if recorder is None:
        from ...errors import NoEngine

        raise NoEngine("Session Manager is not running in this textgen (see textgen's log)")
    return recorder


