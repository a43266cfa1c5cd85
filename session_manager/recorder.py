"""The live state of the page and everything that turns it into saved work.

The UI mirrors every change of the page's text and parameters into ``Recorder.update_page``;
the autosave timer, save-on-stop, manual checkpoints and restore all read that one mirror,
so an autosave holds exactly what was on screen when it was taken.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import KVError, NotFound, SessionManagerError
from .models import Checkpoint, KVRef, Mode, ModelInfo, Trigger, new_checkpoint_id, utcnow
from .settings import SettingsManager, session_name
from .store import SessionStore

log = logging.getLogger("session_manager")


class KVSnapshotter(Protocol):
    """The part of a KV backend (session_manager.kvstate) the recorder uses."""

    name: str

    def snapshot(self, dest: Path, token_ids: list[int] | None = None) -> KVRef: ...

    def restore(self, blob: Path, prompt_token_ids: list[int]) -> Any: ...


class Host(Protocol):
    """What the recorder needs from the web UI it runs in (textgen or the demo)."""

    def model_info(self) -> ModelInfo: ...

    def is_generating(self) -> bool: ...

    def kv_backend(self) -> KVSnapshotter | None: ...

    def tokenize(self, text: str) -> list[int] | None: ...

    def load_model(self, model: ModelInfo) -> str: ...


@dataclass
class PageState:
    mode: Mode = "default"
    input_text: str = ""
    output_text: str = ""
    history: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class RestoreResult:
    checkpoint: Checkpoint
    messages: list[str]
    kv_restored: bool = False


@dataclass
class Status:
    """What the status line shows: the last thing that happened."""

    text: str = "Nothing saved yet."


class Recorder:
    def __init__(self, store: SessionStore, settings: SettingsManager, host: Host) -> None:
        self.store = store
        self.settings = settings
        self.host = host
        self.session_id: str | None = None
        self.page = PageState()
        self.status = Status()
        self.revision = 0  # bumped whenever something the panel shows may have changed
        self._lock = threading.RLock()
        self._version = 0  # bumped by every page change
        self._autosaved_version = 0
        self._timer: threading.Thread | None = None
        self._stop_timer = threading.Event()
        self._wake_timer = threading.Event()
        self._background: list[threading.Thread] = []

    # ----- the page mirror ------------------------------------------------------------------

    def update_page(self, **fields: Any) -> None:
        """Mirror the page: any of mode, input_text, output_text, history, params."""
        with self._lock:
            changed = False
            for key, value in fields.items():
                if value is None and key != "history":
                    continue
                if getattr(self.page, key) != value:
                    setattr(self.page, key, value)
                    changed = True
            if changed:
                self._version += 1

    def snapshot_page(self, trigger: Trigger, label: str = "") -> Checkpoint:
        with self._lock:
            page = self.page
            return Checkpoint(
                id=new_checkpoint_id(), created=utcnow(), mode=page.mode, trigger=trigger, label=label,
                input_text=page.input_text, output_text=page.output_text, history=page.history,
                params=dict(page.params), model=self.host.model_info(), seed=_int_or_none(page.params.get("seed")),
            )

    # ----- sessions -------------------------------------------------------------------------

    def new_session(self, name: str | None = None, trigger_prompt: str | None = None) -> str:
        prompt = trigger_prompt if trigger_prompt is not None else self.page.input_text
        name = name or session_name(self.settings.current.name_template, prompt, utcnow().astimezone(),
                                    self.page.mode)
        meta = self.store.create_session(name, mode=self.page.mode)
        self.select_session(meta.id)
        return meta.id

    def select_session(self, session_id: str | None) -> Checkpoint | None:
        """Make a session current; returns its latest state (for the page) if it has one."""
        with self._lock:
            if session_id is not None:
                self.store.get_session(session_id)  # raises NotFound for a stale id
            self.session_id = session_id
            self._autosaved_version = self._version
        self.settings.remember_session(session_id)
        return self.store.latest_state(session_id) if session_id else None

    def ensure_session(self) -> str:
        with self._lock:
            if self.session_id is not None:
                try:
                    self.store.get_session(self.session_id)
                    return self.session_id
                except NotFound:
                    self.session_id = None
            # A session made for the page on screen: unlike a switch, its text is still unsaved.
            unsaved_since = self._autosaved_version
            session_id = self.new_session()
            self._autosaved_version = unsaved_since
            return session_id

    def boot(self) -> Checkpoint | None:
        """Auto-load: bring back the last (or newest) session's latest state."""
        mode = self.settings.current.auto_load
        if mode == "off":
            return None
        target = self.settings.last_session if mode == "last" else None
        sessions = self.store.list_sessions()
        ids = {row.meta.id for row in sessions}
        if target not in ids:
            target = sessions[0].meta.id if sessions else None
        if target is None:
            return None
        latest = self.select_session(target)
        if latest is not None:
            self._load_into_page(latest)
            self.notify(f"Loaded “{self.store.get_session(target).name}” from its {_describe(latest)}.")
        return latest

    # ----- saving ---------------------------------------------------------------------------

    def checkpoint(self, trigger: Trigger = "manual", label: str = "") -> Checkpoint:
        return self._save(*self._capture(trigger, label))

    def _capture(self, trigger: Trigger, label: str = "") -> tuple[Checkpoint, int]:
        """The page as a checkpoint, with the page version it was taken at."""
        with self._lock:
            return self.snapshot_page(trigger, label), self._version

    def _save(self, checkpoint: Checkpoint, version: int) -> Checkpoint:
        session_id = self.ensure_session()
        kv_note = ""
        if self._wants_kv(checkpoint.trigger):
            checkpoint, kv_note = self._attach_kv(session_id, checkpoint)
        self.store.add_checkpoint(session_id, checkpoint)
        with self._lock:
            # Only what was captured is saved: text typed since then still needs the autosave.
            self._autosaved_version = max(self._autosaved_version, version)
        what = {"manual": "Checkpoint saved", "stop": "Saved on stop", "auto-session": "New session started and saved",
                "branch": "Branch saved", "import": "Imported", "autosave": "Autosaved"}[checkpoint.trigger]
        self.notify(f"{what} at {_clock()}{kv_note}.")
        return checkpoint

    def autosave_tick(self) -> bool:
        """Write the rolling autosave if the page changed since the last save; True if written."""
        with self._lock:
            if self._version == self._autosaved_version:
                return False
            if not (self.page.input_text or self.page.output_text or self.page.history):
                return False
            snapshot, version = self._capture("autosave")
        session_id = self.ensure_session()
        written = self.store.write_autosave(session_id, snapshot)
        with self._lock:
            self._autosaved_version = version
        if written:
            self.notify(f"Autosaved at {_clock()}.")
        return written

    def generation_started(self, prompt: str, mode: Mode) -> str | None:
        """Called before a page generation; starts a new session when auto-session says so."""
        if not self.settings.current.auto_session or self.session_id is None:
            return None
        previous = self.store.latest_state(self.session_id)
        if previous is None or _continues(previous, prompt):
            return None
        self.update_page(mode=mode, input_text=prompt, output_text="")
        session_id = self.new_session(trigger_prompt=prompt)
        self.notify("The prompt changed: started a new session.")
        return session_id

    def generation_finished(self, input_text: str, output_text: str,
                            wait_until_idle: Callable[[], None] | None = None) -> Checkpoint | None:
        """Save-on-stop: the exact final text of a page generation.

        A host whose hook runs before the engine is idle passes ``wait_until_idle``: the text is
        taken now, and the checkpoint (with its KV snapshot) is written by a short-lived thread
        once the engine has finished. Returns the checkpoint when it was written here and now.
        """
        self.update_page(input_text=input_text, output_text=output_text)
        if not self.settings.current.save_on_stop:
            return None
        content, version = self._capture("stop")
        if wait_until_idle is None:
            return self._save(content, version)

        def save_later() -> None:
            try:
                wait_until_idle()
                self._save(content, version)
            except SessionManagerError as exc:
                self.notify(f"Warning: not saved on stop: {exc}")
            except Exception as exc:  # a background save must never take the host down
                log.exception("save on stop failed")
                self.notify(f"Warning: not saved on stop: {exc}")

        thread = threading.Thread(target=save_later, name="session-manager-save-on-stop", daemon=True)
        self._background.append(thread)
        thread.start()
        return None

    def wait_for_background(self, timeout: float = 30) -> None:
        """Let pending background saves finish (at shutdown, and in tests)."""
        for thread in list(self._background):
            thread.join(timeout)
        self._background = [t for t in self._background if t.is_alive()]

    # ----- restore --------------------------------------------------------------------------

    def restore(self, session_id: str, checkpoint_id: str | None, load_model: bool = False) -> RestoreResult:
        if checkpoint_id:
            checkpoint = self.store.get_checkpoint(session_id, checkpoint_id)
        else:
            checkpoint = self.store.latest_state(session_id)
            if checkpoint is None:
                raise NotFound("this session has nothing saved yet")
        self.select_session(session_id)
        messages = []
        if load_model:
            messages.append(self._ensure_model(checkpoint.model))
        self._load_into_page(checkpoint)
        kv_restored, kv_message = self._restore_kv(session_id, checkpoint)
        if kv_message:
            messages.append(kv_message)
        self.notify(f"Restored {_describe(checkpoint)}." + (" " + " ".join(messages) if messages else ""))
        return RestoreResult(checkpoint, [m for m in messages if m], kv_restored)

    # ----- autosave timer -------------------------------------------------------------------

    def start_autosave(self) -> None:
        if self._timer and self._timer.is_alive():
            return
        self._stop_timer.clear()
        self._timer = threading.Thread(target=self._autosave_loop, name="session-manager-autosave", daemon=True)
        self._timer.start()

    def stop_autosave(self) -> None:
        self._stop_timer.set()
        self._wake_timer.set()
        if self._timer:
            self._timer.join(timeout=5)

    def reschedule(self) -> None:
        """Wake the timer so a new interval takes effect at once."""
        self._wake_timer.set()

    def _autosave_loop(self) -> None:
        while not self._stop_timer.is_set():
            self._wake_timer.wait(self.settings.current.autosave_interval)
            if self._wake_timer.is_set():
                self._wake_timer.clear()
                continue
            if self._stop_timer.is_set() or not self.settings.current.autosave:
                continue
            try:
                self.autosave_tick()
            except SessionManagerError as exc:
                self.notify(f"Autosave failed: {exc}")
            except Exception:  # the timer must survive anything; the log keeps the details
                log.exception("autosave failed")
                self.notify("Autosave failed; see the log.")

    # ----- helpers --------------------------------------------------------------------------

    def _load_into_page(self, checkpoint: Checkpoint) -> None:
        with self._lock:
            self.page = PageState(mode=checkpoint.mode, input_text=checkpoint.input_text,
                                  output_text=checkpoint.output_text, history=checkpoint.history,
                                  params=dict(checkpoint.params))
            self._version += 1
            self._autosaved_version = self._version

    def _wants_kv(self, trigger: Trigger) -> bool:
        policy = self.settings.current.kv_snapshots
        return policy == "always" and trigger in ("manual", "stop") or policy == "manual" and trigger == "manual"

    def _attach_kv(self, session_id: str, checkpoint: Checkpoint) -> tuple[Checkpoint, str]:
        """Add a KV snapshot when the engine can give one; the text is saved whatever happens here."""
        try:
            backend = self.host.kv_backend()
            if backend is None:
                return checkpoint, ""
            if self.host.is_generating():
                return checkpoint, " (no KV snapshot: a generation is running)"
            # Only a cache of this checkpoint's own text: anything else restore would refuse anyway.
            tokens = self.host.tokenize(checkpoint.output_text or checkpoint.input_text)
            ref = backend.snapshot(self.store.kv_path(session_id, checkpoint.id), tokens)
        except KVError as exc:
            return checkpoint, f" (no KV snapshot: {exc})"
        except Exception:
            log.exception("KV snapshot failed")
            return checkpoint, " (no KV snapshot: unexpected error, see the log)"
        budget = self.settings.current.kv_budget_mb * 1024 * 1024
        evicted = self.store.evict_kv(budget, keep={checkpoint.id})
        note = f", KV {ref.n_tokens} tokens, {ref.bytes / 1e6:.1f} MB"
        if evicted:
            note += f"; {len(evicted)} older KV snapshot(s) removed to stay within the budget"
        return checkpoint.model_copy(update={"kv": ref}), note

    def _restore_kv(self, session_id: str, checkpoint: Checkpoint) -> tuple[bool, str]:
        """Load a KV snapshot that fits the restored text: the checkpoint's own, else the newest fitting one.

        Any snapshot whose tokens are a prefix of the text is valid, so an autosave (which never has
        its own) still resumes at once from the stop checkpoint it grew out of.
        """
        candidates = self._kv_candidates(session_id, checkpoint)
        own = checkpoint.kv is not None
        if not candidates:
            if own:
                return False, ("Its KV snapshot is gone (the size budget or a hand removed it); "
                               "Continue will re-read the prompt.")
            return False, ""
        first_reason = ""
        try:
            backend = self.host.kv_backend()
            if backend is None:
                return False, "KV snapshot not restored: the loaded model does not support snapshots." if own else ""
            tokens = self.host.tokenize(checkpoint.output_text or checkpoint.input_text)
            if tokens is None:
                return False, "KV snapshot not restored: no model is loaded." if own else ""
            for candidate in candidates:
                outcome = backend.restore(self.store.kv_path(session_id, candidate.id), tokens)
                if outcome.restored:
                    source = "" if candidate.id == checkpoint.id else f" from the {_describe(candidate)}"
                    return True, (f"KV cache restored{source} ({outcome.n_tokens} tokens in "
                                  f"{outcome.seconds * 1000:.0f} ms).")
                first_reason = first_reason or outcome.reason
        except KVError as exc:
            return False, f"KV snapshot not restored: {exc}"
        except Exception:
            log.exception("KV restore failed")
            return False, "KV snapshot not restored: unexpected error, see the log."
        return False, f"KV snapshot not restored: {first_reason}." if own else ""

    def _kv_candidates(self, session_id: str, checkpoint: Checkpoint, limit: int = 20) -> list[Checkpoint]:
        """The checkpoint itself, then the session's newest checkpoints with a KV blob still on disk."""
        ordered = [checkpoint] + [c for c in self.store.list_checkpoints(session_id, limit=limit)
                                  if c.id != checkpoint.id]
        return [c for c in ordered if self.store.has_kv(session_id, c)]

    def _ensure_model(self, wanted: ModelInfo) -> str:
        current = self.host.model_info()
        if not wanted.name:
            return "The checkpoint names no model."
        if current.name == wanted.name and current.loader == wanted.loader and current.settings == wanted.settings:
            return ""
        return self.host.load_model(wanted)

    def touch(self) -> None:
        """Tell the panel that the store changed behind its back."""
        self.revision += 1

    def notify(self, text: str) -> None:
        self.status = Status(text=text)
        self.touch()
        log.info(text)


def _continues(previous: Checkpoint, prompt: str) -> bool:
    """A prompt continues a session when it extends or shares the start of what was there."""
    old = (previous.output_text or previous.input_text).strip()
    new = prompt.strip()
    if not old:
        return True
    head = min(len(old), len(new), 64)
    return new.startswith(old) or old.startswith(new) or (head > 0 and old[:head] == new[:head])


def _describe(checkpoint: Checkpoint) -> str:
    when = checkpoint.created.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    kind = "autosave" if checkpoint.trigger == "autosave" else f"{checkpoint.trigger} checkpoint"
    return f"{kind} of {when}"


def _clock() -> str:
    return time.strftime("%H:%M:%S")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
