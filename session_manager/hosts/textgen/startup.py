"""What setup() does to textgen's llama-server so that KV snapshots work."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import Any

from ...kvstate.llama_server import remove_leftovers
from ...settings import Settings
from .host_adapter import running_server, server_command

log = logging.getLogger("session_manager")
RELOAD_NEEDED = ("KV snapshots start after the next model load (Model tab → Load): the model was loaded before "
                 "Session Manager could add --slot-save-path.")
RELOAD_FAILED = "The model could not be reloaded for KV snapshots; load it from the Model tab."


def remove_slot_leftovers(slot_dir: Path) -> None:
    """State files a crash left in the slot folder are only ours, and only waste space."""
    slot_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(slot_dir)


def add_slot_flags(args: Any, slot_dir: Path, swa_full: bool) -> None:
    """llama-server saves slots only with --slot-save-path, which textgen never passes."""
    current = (getattr(args, "extra_flags", None) or "").strip().strip("'\"").strip()
    if "slot-save-path" in current:
        return
    if not current or current.startswith("-"):
        extra = f"--slot-save-path {shlex.quote(str(slot_dir))}" + (" --swa-full" if swa_full else "")
        args.extra_flags = f"{current} {extra}".strip()
    else:  # textgen's older "flag=value,flag" form
        extra = f"slot-save-path={slot_dir}" + (",swa-full" if swa_full else "")
        args.extra_flags = f"{current},{extra}"


def reload_for_snapshots(settings: Settings) -> str | None:
    """textgen loads --model before extensions start: load it once more so its server gets our flags.

    Returns what the user should know (None when snapshots work or are off).
    """
    model = running_server()
    unused = settings.kv_snapshots == "never" and settings.prompt_cache_mb == 0
    if model is None or "--slot-save-path" in server_command(model) or unused:
        return None
    if not settings.kv_reload_at_startup:
        return RELOAD_NEEDED
    from modules import models, shared

    name = shared.model_name  # unload_model() forgets it
    log.info(f"Session Manager: loading {name} once more so that its llama-server can save KV snapshots")
    try:
        models.unload_model()
        shared.model, shared.tokenizer = models.load_model(name)
    except Exception:
        log.exception("Session Manager: the reload failed")
        return RELOAD_FAILED
    reloaded = running_server()
    return None if reloaded is not None and "--slot-save-path" in server_command(reloaded) else RELOAD_FAILED
