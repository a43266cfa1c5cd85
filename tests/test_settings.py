from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest

from session_manager.errors import SettingsError
from session_manager.settings import SHIPPED_SETTINGS, SettingsManager, load_shipped, session_name


def test_precedence_shipped_then_user_then_host(tmp_path: Path) -> None:
    shipped = {**load_shipped(), "autosave_interval": 30, "auto_session": False, "kv_budget_mb": 100}
    user = SettingsManager(shipped)
    user.attach_store(tmp_path)
    user.set("autosave_interval", 60)
    user.set("auto_session", True)

    host_pinned = SettingsManager(shipped, host_overrides={"auto_session": False})
    host_pinned.attach_store(tmp_path)
    assert host_pinned.current.autosave_interval == 60  # user beats shipped
    assert host_pinned.current.auto_session is False  # host (settings.yaml) beats user
    assert host_pinned.current.kv_budget_mb == 100  # shipped where nobody else speaks
    assert host_pinned.pinned_by_host("auto_session")


def test_out_of_range_values_are_refused_and_nothing_is_saved(tmp_path: Path) -> None:
    manager = SettingsManager(load_shipped())
    manager.attach_store(tmp_path)
    for bad in (4, 901, "soon"):
        with pytest.raises(SettingsError, match="autosave_interval"):
            manager.set("autosave_interval", bad)
    assert not (tmp_path / "settings.json").exists()
    assert manager.current.autosave_interval == load_shipped()["autosave_interval"]


def test_ui_changes_persist_without_touching_the_shipped_file(tmp_path: Path) -> None:
    digest = hashlib.sha256(SHIPPED_SETTINGS.read_bytes()).hexdigest()
    manager = SettingsManager(load_shipped())
    manager.attach_store(tmp_path)
    manager.set("autosave_interval", 120)
    manager.remember_session("20260101T000000Z-abcdef")
    again = SettingsManager(load_shipped())
    again.attach_store(tmp_path)
    assert again.current.autosave_interval == 120
    assert again.last_session == "20260101T000000Z-abcdef"
    assert hashlib.sha256(SHIPPED_SETTINGS.read_bytes()).hexdigest() == digest


def test_the_store_location_is_not_a_ui_setting(tmp_path: Path) -> None:
    manager = SettingsManager(load_shipped())
    manager.attach_store(tmp_path)
    with pytest.raises(SettingsError):
        manager.set("output_path", "/elsewhere")


def test_a_broken_user_file_warns_and_falls_back(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text("{not json")
    manager = SettingsManager(load_shipped())
    warnings = manager.attach_store(tmp_path)
    assert warnings and "could not be read" in warnings[0]
    assert manager.current.autosave_interval == load_shipped()["autosave_interval"]


def test_bad_saved_values_are_ignored_one_by_one(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"values": {"autosave_interval": 2, "auto_session": True}}))
    manager = SettingsManager(load_shipped())
    warnings = manager.attach_store(tmp_path)
    assert manager.current.auto_session is True
    assert manager.current.autosave_interval == load_shipped()["autosave_interval"]
    assert any("autosave_interval" in w for w in warnings)


def test_session_name_template() -> None:
    now = datetime(2026, 11, 23, 9, 5)
    assert session_name("{date} {time} {words}", "The   quick brown fox jumps over the lazy dog", now) == \
        "2026-11-23 09:05 The quick brown fox jumps over"
    assert session_name("{mode}: {words}", "", now, "notebook") == "notebook:"
    assert session_name("{unknown}", "x", now).startswith("2026-11-23 09:05")
