"""One large export imported alone says how far it has come: on the command line's terminal and in the panel.

The command runs as a process with its stderr on a pseudo-terminal, as in a user's shell, so the progress bar
draws as it does there; the panel's import is the manager's upload, as the panel calls it.
"""

from __future__ import annotations

import errno
import os
import pty
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from session_manager import cli
from session_manager.app.workspace import Workspace
from session_manager.formats.report import PACE_STEPS
from session_manager.formats.session_archive import export_session, import_file
from session_manager.store import SessionStore

from .test_large_exports import grown_export

CHECKPOINTS = 3_000  # a few times the steps between two progress calls
COUNT = re.compile(r"([\d,]+) checkpoints read from")


def import_on_a_terminal(root: Path, export: Path) -> tuple[int, str, str, float]:
    """`session-manager import EXPORT` as a process whose stderr is a terminal: (status, stdout, stderr, seconds)."""
    leader, follower = pty.openpty()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "session_manager", "--data-dir", str(root), "import", str(export)],
                            stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])})
    os.close(follower)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(leader, chunks))
    reader.start()
    out, _ = proc.communicate(timeout=600)
    reader.join(timeout=60)
    os.close(leader)
    return proc.returncode, out, b"".join(chunks).decode("utf-8", "replace"), time.monotonic() - started


def _drain(leader: int, chunks: list[bytes]) -> None:
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError as exc:  # EIO: the process has closed the terminal
            if exc.errno == errno.EIO:
                return
            raise
        if not data:
            return
        chunks.append(data)


def counts_shown(terminal: str) -> list[int]:
    return [int(found.replace(",", "")) for found in COUNT.findall(terminal)]


@pytest.fixture
def large_export(tmp_path: Path) -> Path:
    path, _ = grown_export(SessionStore(tmp_path / "source"), tmp_path / "out", CHECKPOINTS)
    return path


@pytest.mark.parametrize("kind", ["json", "zip"])
def test_one_large_export_shows_the_checkpoints_read_as_it_goes(tmp_path: Path, large_export: Path,
                                                               kind: str) -> None:
    export = large_export
    if kind == "zip":
        source = SessionStore(tmp_path / "zipped")
        export = export_session(source, import_file(source, large_export).id, tmp_path / "zip", "zip")
    status, out, terminal, seconds = import_on_a_terminal(tmp_path / "store", export)
    assert status == 0, out + terminal
    assert out.splitlines()[-1] == "Imported 1."
    assert "Importing" in terminal
    shown = counts_shown(terminal)
    assert shown and shown[-1] == CHECKPOINTS, terminal[-2000:]
    assert any(0 < count < CHECKPOINTS for count in shown), shown  # it moved while the file was read
    assert shown == sorted(shown)
    # A bounded rate: a call per PACE_STEPS checkpoints or per second, whichever comes first, and the last.
    assert len(set(shown)) <= CHECKPOINTS // PACE_STEPS + int(seconds) + 2, shown


def test_the_panel_says_how_many_checkpoints_it_has_read(workspace: Workspace, large_export: Path) -> None:
    store = workspace.store
    store.list_sessions()  # the index is ready: the import waits only for the lock held below
    page = workspace.page("a")
    # The store's lock is held while the panel imports: the checkpoints are read into a scratch folder, then
    # the import waits to put the session in place, with its last progress on the status line.
    with store.locked():
        worker = threading.Thread(target=workspace.exchange.import_file, args=("a", str(large_export)))
        worker.start()
        seen = _until(lambda: page.status if f"{CHECKPOINTS:,} checkpoints read" in page.status else None)
    worker.join(timeout=600)
    assert seen == f"Importing: {CHECKPOINTS:,} checkpoints read from {large_export.name}"
    assert workspace.state("a").status.startswith("Imported 1.")
    assert len(store.checkpoint_ids(page.session_id)) == CHECKPOINTS


def _until(probe: Callable[[], str | None], timeout: float = 600.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("the status line never said it")
