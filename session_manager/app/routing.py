"""The panel's workspace when each login has a store of its own.

The interface is built once for everyone; each of its events comes from one user's page. A
``RoutedWorkspace`` stands where the panel expects its one ``Workspace`` and sends every call to
the workspace of the user whose page sent the event (the host says who that is). While the
interface is being built there is no event and no user: it then offers only the shared defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import SessionManagerError
from ..settings import SettingsManager
from .workspace import Workspace

NO_USER = "Session Manager could not tell who you are (log in again): nothing was done."


class RoutedWorkspace:
    def __init__(self, current: Callable[[], Workspace | None], defaults: SettingsManager) -> None:
        self._current = current
        self._defaults = defaults

    def workspace(self) -> Workspace:
        """The workspace of the user whose event runs this code."""
        found = self._current()
        if found is None:
            raise SessionManagerError(NO_USER)
        return found

    @property
    def settings(self) -> SettingsManager:
        found = self._current()
        return found.settings if found is not None else self._defaults

    @property
    def recorder(self) -> Any:
        found = self._current()
        return found.recorder if found is not None else _Unrouted()

    def __getattr__(self, name: str) -> Any:
        found = self._current()
        # While the interface is built, handlers take the workspace's methods (and its desks' methods):
        # those are found at call time, in the workspace of whoever's event it is then.
        return getattr(found, name) if found is not None else _Late(self, (name,))


class _Late:
    """``routed.<path>`` looked up when called (or read further), not when taken."""

    def __init__(self, routed: RoutedWorkspace, path: tuple[str, ...]) -> None:
        self._routed = routed
        self._path = path

    def __getattr__(self, name: str) -> _Late:
        return _Late(self._routed, (*self._path, name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        target: Any = self._routed.workspace()
        for name in self._path:
            target = getattr(target, name)
        return target(*args, **kwargs)


class _Unrouted:
    """The recorder as the interface sees it while being built: no host folder is offered to everyone."""

    @property
    def host(self) -> _Unrouted:
        return self

    def saved_work_folder(self) -> Path | None:
        return None
