"""Settings: shipped defaults < user overrides (saved from the UI) < host overrides.

Shipped defaults are the repository's settings.json and are never rewritten; what the
user changes in the UI lives in <store root>/settings.json, so a git checkout stays
clean. Host overrides are textgen's `session_manager-<param>` keys in settings.yaml.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .atomic import write_text_atomic
from .errors import SettingsError
from .models import UserSettingsFile

APP_NAME = "session-manager"
DATA_DIR_ENV = "SESSION_MANAGER_DATA_DIR"
SHIPPED_SETTINGS = Path(__file__).resolve().parent.parent / "settings.json"
USER_SETTINGS_NAME = "settings.json"
# Where the store lives is decided before the store can be read, so it is never a user override.
NOT_USER_SETTABLE = {"output_path", "is_tab", "display_name", "admin_logins"}


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True, defer_build=True)

    output_path: str = ""
    autosave: bool = True
    autosave_interval: int = Field(30, ge=5, le=900)
    save_on_stop: bool = True
    auto_load: Literal["last", "newest", "off"] = "last"
    auto_session: bool = False
    name_template: str = "{date} {time} {words}"
    load_model_on_restore: bool = False
    kv_snapshots: Literal["always", "manual", "never"] = "always"
    kv_budget_mb: int = Field(4096, ge=0)
    kv_swa_full: bool = True
    kv_reload_at_startup: bool = True
    prompt_cache_mb: int = Field(2048, ge=0)
    is_tab: bool = True
    display_name: str = "Sessions"
    admin_logins: list[str] = Field(default_factory=list)  # --multi-user: who sees the summary of all stores


def load_shipped(path: Path = SHIPPED_SETTINGS) -> dict[str, Any]:
    """The shipped defaults: the extension folder's settings.json over the model's own defaults.

    Installed as a package (no extension folder around it) only the model's defaults apply.
    """
    defaults = Settings().model_dump()
    if not path.exists():
        return defaults
    try:
        shipped = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SettingsError(f"the shipped settings file {path} is not valid JSON: {exc}") from exc
    if not isinstance(shipped, dict):
        raise SettingsError(f"the shipped settings file {path} must hold one JSON object")
    return {**defaults, **shipped}


def validated(values: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SettingsError(f"setting {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


class SettingsManager:
    """The effective settings and the user's overrides file; thread-safe."""

    def __init__(self, shipped: dict[str, Any], host_overrides: dict[str, Any] | None = None) -> None:
        self._shipped = dict(shipped)
        self._host = dict(host_overrides or {})
        self._user = UserSettingsFile()
        self._user_path: Path | None = None
        self._lock = threading.Lock()
        self.current = validated({**self._shipped, **self._host})

    def attach_store(self, root: Path) -> list[str]:
        """Read user overrides from the store; returns warnings for values that were ignored."""
        self._user_path = root / USER_SETTINGS_NAME
        warnings: list[str] = []
        if self._user_path.exists():
            try:
                self._user = UserSettingsFile.model_validate_json(self._user_path.read_text(encoding="utf-8"))
            except (OSError, ValidationError, ValueError) as exc:
                warnings.append(f"{self._user_path} could not be read ({exc.__class__.__name__}); defaults are used")
                self._user = UserSettingsFile()
        good = {}
        for key, value in self._user.values.items():
            try:
                validated({**self._shipped, key: value})
                good[key] = value
            except SettingsError as exc:
                warnings.append(f"ignored saved {exc}")
        self._user.values = {k: v for k, v in good.items() if k not in NOT_USER_SETTABLE}
        self.current = validated({**self._shipped, **self._user.values, **self._host})
        return warnings

    def pinned_by_host(self, key: str) -> bool:
        return key in self._host

    def set(self, key: str, value: Any) -> Settings:
        """Change a setting from the UI and persist it in the user's file."""
        if key in NOT_USER_SETTABLE:
            raise SettingsError(f"{key} can only be set in settings.json or textgen's settings.yaml")
        if key in self._host:
            raise SettingsError(f"{key} is pinned by textgen's settings.yaml (session_manager-{key}); "
                                "change it there")
        with self._lock:
            candidate = validated({**self._shipped, **self._user.values, key: value, **self._host})
            self._user.values[key] = getattr(candidate, key)
            self.current = candidate
            self._save()
        return self.current

    @property
    def last_session(self) -> str | None:
        return self._user.last_session

    def remember_session(self, session_id: str | None) -> None:
        with self._lock:
            if self._user.last_session != session_id:
                self._user.last_session = session_id
                self._save()

    def _save(self) -> None:
        if self._user_path is not None:
            write_text_atomic(self._user_path, self._user.model_dump_json(indent=2))


def session_name(template: str, prompt: str, now: datetime, mode: str = "default") -> str:
    """Fill the naming template: {date} {time} {words} (first words of the prompt) {mode}."""
    words = " ".join(prompt.split()[:6])[:60]
    try:
        name = template.format(date=now.strftime("%Y-%m-%d"), time=now.strftime("%H:%M"), words=words, mode=mode)
    except (KeyError, IndexError, ValueError):
        name = f"{now:%Y-%m-%d %H:%M} {words}"
    return " ".join(name.split()) or f"{now:%Y-%m-%d %H:%M}"


def default_data_dir() -> Path:
    """The standalone store root: $SESSION_MANAGER_DATA_DIR, else the platform's user data folder."""
    from platformdirs import user_data_dir

    env = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else Path(user_data_dir(APP_NAME))
