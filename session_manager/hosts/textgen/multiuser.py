"""textgen's --multi-user mode: each login records into a store of its own (without logins, each browser tab
into one of its own in memory).

textgen shares one model, one Stop flag and this extension's module globals between everyone
who opens its page. Who is who: every Gradio event of a page carries its ``gr.Request`` (with
``username`` under --gradio-auth), and Gradio keeps that request in a context variable while the
event's function runs, generator steps included. textgen's generation hooks run inside the
page's own Generate/Continue/Send event, so they find the user there too; every request seen
also records browser tab -> login, the fallback when a request carries no name.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from ...app.workspace import Workspace
from ...kvstate import KVBackend
from ...kvstate.shared_engine import EngineTurns, GuardedBackend
from ...models import HostLink
from ...recording.page_mirror import Page
from ...recording.presents import Present
from ...recording.recorder import Recorder
from ...settings import SettingsManager, load_shipped
from ...store import SessionStore
from ...store.users import Users
from .chat_replies import ChatReplies
from .generations import Generations
from .host_adapter import TextgenHost
from .prompts import PromptFiles
from .startup import add_slot_flags, reload_for_snapshots, remove_slot_leftovers

log = logging.getLogger("session_manager")

TAB_ONLY = ("textgen is shared without logins (--multi-user), so Session Manager keeps your sessions in this "
            "browser tab only, in memory: nothing is written to disk, and they are gone when the tab closes or "
            "textgen stops. Start textgen with --gradio-auth to keep each person's sessions.")
TAB_LOGIN = "tab:"  # a browser tab's own "login" when there are no logins (never a folder name: see user_id)
# Without logins nothing of a tab's is kept on disk: its store lives in memory (a RAM-backed folder).
MEMORY_FOLDERS = (Path("/dev/shm"),)
TAB_SETTINGS = {"kv_snapshots": "never", "auto_load": "off"}  # KV snapshots would fill memory; nothing to load
STOPPED_BY_OTHER = ("Another user pressed Stop: in textgen, Stop ends every user's generation, so yours ended "
                    "there too.")
STOP_BUTTONS = ("Stop", "Stop-default", "Stop-notebook")
KEEP_PRESSES = 200
# One click sends textgen's Stop and our note of who pressed it as two requests: on a busy machine the note can
# arrive after the generation it ended has already finished.
PRESS_LATENESS_S = 1.0


def current_request() -> Any:
    """The Gradio request of the event running this code (None outside an event, e.g. an API call)."""
    try:
        from gradio.context import LocalContext
    except ImportError:
        return None
    return LocalContext.request.get()


def login_of(users: Users[Any], request: Any) -> str | None:
    """The login behind ``request``; the tab's login, recorded from its earlier events, when it names none."""
    tab = getattr(request, "session_hash", None) or None
    login = getattr(request, "username", None) or None
    if isinstance(login, str):
        users.bind(tab, login)
        return login
    return users.login_of(tab)


class UserHost(TextgenHost):
    """One user's textgen: the shared model, snapshots of their own text only, and nothing written into
    textgen's own prompt and chat files or page state (every user would see those)."""

    def __init__(self, shared_host: TextgenHost, turns: EngineTurns, login: str) -> None:
        super().__init__(shared_host.prompts)
        self.login = login
        self.turns = turns
        self._guard: GuardedBackend | None = None

    def kv_backend(self) -> KVBackend | None:
        backend = super().kv_backend()
        if backend is None:
            return None
        if self._guard is None or self._guard.backend is not backend:
            self._guard = GuardedBackend(backend, self.turns, self.login)
        return self._guard

    def page_restored(self, page: Page, checkpoint: Any) -> None:
        """textgen's files and page state are everyone's under --multi-user: a restore stays in this page."""

    def saved_work_folder(self) -> None:  # type: ignore[override]  # no folder: the import button is not offered
        """textgen's user_data holds no one user's work: nothing there is offered for import."""
        return None

    @staticmethod
    def unnamed_chat(tab: str | None) -> HostLink | None:
        """textgen keeps no chat ids under --multi-user (each page load starts a new chat): the chat of this
        browser tab is a session of its own."""
        return HostLink(kind="textgen-chat", name=f"page-{tab}") if tab else None

    def chat_at_start(self) -> Present:
        return Present(status="Following textgen's chat; every reply is saved in your own sessions.")


@dataclass
class StopPresses:
    """Who pressed one of textgen's Stop buttons, and when (Stop is one flag for every user)."""

    presses: list[tuple[float, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pressed(self, login: str | None) -> None:
        with self.lock:
            self.presses = [*self.presses[-KEEP_PRESSES:], (time.monotonic(), login)]

    def by_another(self, login: str, began: float, ended: float) -> bool:
        """Did someone else press Stop while ``login``'s generation ran (from ``began`` to ``ended``)?"""
        with self.lock:
            return any(began <= at <= ended + PRESS_LATENESS_S and who != login for at, who in self.presses)


@dataclass
class MultiUser:
    """What the users share: the store root's users/ folder, the engine, textgen's Stop."""

    users: Users[Any]
    defaults: SettingsManager
    turns: EngineTurns = field(default_factory=EngineTurns)
    stops: StopPresses = field(default_factory=StopPresses)
    per_tab: bool = False  # no logins: each browser tab is a user of its own, kept in memory

    def login_of(self, request: Any) -> str | None:
        if self.per_tab:
            tab = getattr(request, "session_hash", None) or None
            return f"{TAB_LOGIN}{tab}" if isinstance(tab, str) else None
        return login_of(self.users, request)

    def current_login(self) -> str | None:
        return self.login_of(current_request())

    def current(self) -> Any:
        """The runtime of the user whose event runs this code, or None (an API call, no login)."""
        login = self.current_login()
        return self.users.get(login) if login else None

    def current_workspace(self) -> Workspace | None:
        """The workspace of the user whose event runs this code (the panel's events go there)."""
        runtime = self.current()
        return runtime.workspace if runtime is not None and runtime.recorder is not None else None

    def ended(self, login: str) -> Any:
        """What a user's generation does when it has been saved: say so if another user's Stop ended it."""

        def check(page: Page, began: float, ended: float) -> None:
            if self.stops.by_another(login, began, ended):
                page.notify(f"{page.status} {STOPPED_BY_OTHER}")

        return check


def start_multi_user(defaults: SettingsManager, root: Path, overrides: dict[str, Any], slot_dir_name: str) -> Any:
    """setup() under --multi-user: a store per login below ``root``/users; without logins, a store per
    browser tab in memory."""
    from modules import shared

    from . import TextgenRuntime

    per_tab = not (getattr(shared.args, "gradio_auth", None) or getattr(shared.args, "gradio_auth_path", None))
    if per_tab:
        root = memory_root()
        overrides = {**overrides, **TAB_SETTINGS}
        log.warning(f"Session Manager: {TAB_ONLY}")
    shared_host = TextgenHost(PromptFiles(Path(shared.user_data_dir)))
    multi: MultiUser

    def make(login: str, user_root: Path) -> Any:
        settings = SettingsManager(load_shipped(), overrides)
        for warning in settings.attach_store(user_root):
            log.warning(f"Session Manager ({login}): {warning}")
        host = UserHost(shared_host, multi.turns, login)
        recorder = Recorder(SessionStore(user_root), settings, host)
        host.recorder = recorder
        recorder.presents["chat"] = host.chat_at_start()
        if per_tab:
            recorder.presents["text"] = Present(status=TAB_ONLY, alert=TAB_ONLY)
            recorder.presents["chat"] = Present(status=TAB_ONLY, alert=TAB_ONLY)
        generations, chats = Generations(recorder, host), ChatReplies(recorder, host)
        generations.ended = chats.ended = multi.ended(login)
        chats.unnamed = host.unnamed_chat
        recorder.start()
        runtime = TextgenRuntime(recorder, generations, chats, user_root, multi=multi, login=login)
        _ = runtime.workspace  # made now, once (its Back/Forward steps live in it), not by two events at once
        return runtime

    multi = MultiUser(Users(root, make), defaults, per_tab=per_tab)
    if per_tab:
        log.info(f"Session Manager: sessions are stored in {root} (in memory: a store per browser tab)")
        return TextgenRuntime(root=root, multi=multi)
    slot_dir = root / slot_dir_name
    remove_slot_leftovers(slot_dir)
    add_slot_flags(shared.args, slot_dir, defaults.current.kv_swa_full)
    notice = reload_for_snapshots(defaults.current)
    log.info(f"Session Manager: sessions are stored in {root / 'users'} (multi-user mode: a folder per login)")
    return TextgenRuntime(root=root, notice=notice, multi=multi)


def memory_root() -> Path:
    """A folder for the tabs' stores that lives in memory where the system has one (removed at exit)."""
    memory = next((folder for folder in MEMORY_FOLDERS if folder.is_dir() and os.access(folder, os.W_OK)), None)
    root = Path(tempfile.mkdtemp(prefix="session-manager-tabs-", dir=memory))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def forget_closed_tabs(multi: MultiUser) -> None:
    """Without logins a tab's sessions end with the tab: its store is closed and removed when it closes."""
    import gradio as gr

    blocks = gr.context.Context.root_block
    if not multi.per_tab or blocks is None:
        return

    blocks.unload(lambda: close_tab(multi, multi.current_login()))


def close_tab(multi: MultiUser, login: str | None) -> None:
    """A tab closed (no logins): its recorder stops and its store is removed."""
    runtime = multi.users.drop(login) if login else None
    if runtime is not None and runtime.recorder is not None:
        runtime.recorder.stop()
        runtime.recorder.store.close()
        shutil.rmtree(runtime.root, ignore_errors=True)


def wire_stops(multi: MultiUser) -> None:
    """Note who presses Stop (textgen's own handler stops every generation; this one only records)."""
    from modules import shared

    def press(request: gr.Request) -> None:
        multi.stops.pressed(multi.login_of(request))

    for name in STOP_BUTTONS:
        if name in shared.gradio:
            shared.gradio[name].click(press, None, None, queue=False, show_progress="hidden")
