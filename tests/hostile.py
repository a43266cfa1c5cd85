"""Hostile input for the store's readers, and a small healthy store to aim it at.

``build_store`` makes a store with two healthy sessions and a "victim" session holding every
kind of file (checkpoints, a real KV blob, an autosave, marks), plus a folder outside the
store full of files that look like the store's own. ``survives`` then checks what issue 9
demands of every reader, whatever was done to the victim: nothing escapes but the project's
named errors, nothing hangs, every healthy session still lists (before and after doctor), a
second doctor run finds nothing broken, and nothing outside the store changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import strategies as st

from session_manager import cli
from session_manager.errors import SessionManagerError
from session_manager.formats.session_archive import export_session
from session_manager.kvstate.blob import write_blob
from session_manager.models import (
    Checkpoint,
    CheckpointMark,
    KVRef,
    ModelFingerprint,
    SessionMarks,
    new_checkpoint_id,
    utcnow,
)
from session_manager.store import SessionStore
from session_manager.store.doctor import check_store

FINGERPRINT = ModelFingerprint(file_name="m.gguf", file_size=10, sample_hash="ab", n_ctx=512)


@dataclass
class Scene:
    root: Path
    outside: Path
    healthy: list[str]
    victim: str
    checkpoints: list[str]

    def file(self, position: str) -> Path:
        """The path of one of the victim's files (or of a store-wide one) by a short name."""
        session = self.root / "sessions" / self.victim
        return {
            "sessions": self.root / "sessions",
            "session folder": session,
            "session.json": session / "session.json",
            "checkpoints": session / "checkpoints",
            "checkpoint": session / "checkpoints" / f"{self.checkpoints[0]}.json",
            "autosave.json": session / "autosave.json",
            "marks.json": session / "marks.json",
            "kv": session / "kv",
            "blob": session / "kv" / f"{self.checkpoints[0]}.kv",
            "settings.json": self.root / "settings.json",
            "index.sqlite": self.root / "index.sqlite",
            "lock": self.root / ".lock",
            "broken": self.root / "broken",
        }[position]


def write_real_blob(path: Path, n_tokens: int = 3, state: bytes = b"\x01" * 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_blob(path, backend="llama-cpp-python", fingerprint=FINGERPRINT, token_ids=list(range(1, n_tokens + 1)),
               state=state)
    return path


def add_checkpoint(store: SessionStore, session_id: str, text: str, with_blob: bool = False) -> Checkpoint:
    cp = Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text, output_text=f"{text} and more")
    if with_blob:
        blob = write_real_blob(store.kv_path(session_id, cp.id))
        cp = cp.model_copy(update={"kv": KVRef(file=blob.name, bytes=blob.stat().st_size, n_tokens=3,
                                               fingerprint="f", backend="llama-cpp-python")})
    return store.add_checkpoint(session_id, cp)


def build_store(base: Path) -> Scene:
    root = base / "store"
    store = SessionStore(root)
    healthy = []
    for i in range(2):
        meta = store.create_session(f"healthy {i}")
        add_checkpoint(store, meta.id, f"the lighthouse keeper {i}")
        healthy.append(meta.id)
    victim = store.create_session("victim")
    first = add_checkpoint(store, victim.id, "the victim's first words", with_blob=True)
    second = add_checkpoint(store, victim.id, "the victim's second words")
    store.write_autosave(victim.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text="draft",
                                               trigger="autosave"))
    marks = SessionMarks(marks={second.id: CheckpointMark(pinned=True, note="keep this")})
    (root / "sessions" / victim.id / "marks.json").write_text(marks.model_dump_json())
    (root / "settings.json").write_text(json.dumps({"format_version": 1, "values": {"autosave_interval": 60}}))
    store.list_sessions()  # the index exists
    _close(store)
    outside = base / "outside"
    _fill_outside(outside, first)
    return Scene(root, outside, healthy, victim.id, [first.id, second.id])


def _fill_outside(outside: Path, checkpoint: Checkpoint) -> None:
    """Files a confused store might take for its own: a checkpoint, a session.json, a KV blob, plain data."""
    outside.mkdir()
    (outside / f"{checkpoint.id}.json").write_text(checkpoint.model_dump_json())
    (outside / f"{new_checkpoint_id()}.json").write_text("{broken")
    (outside / "session.json").write_text("{}")
    write_real_blob(outside / f"{checkpoint.id}.kv", state=b"\x02" * 64)
    (outside / "precious.txt").write_text("the user's own file")


def tree_digest(folder: Path) -> dict[str, str]:
    """Every entry below ``folder`` with what it is (links are not followed)."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                result[str(path.relative_to(folder))] = f"link:{os.readlink(path)}"
            elif path.is_file():
                result[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                result[str(path.relative_to(folder))] = "dir"
    return result


class Hung(BaseException):
    """Raised by no_hang: a BaseException, so no ``except OSError`` or ``except Exception`` can swallow it."""


@contextlib.contextmanager
def no_hang(seconds: int = 60) -> Iterator[None]:
    """Fail instead of blocking forever (a FIFO opened for reading waits for a writer that never comes)."""
    def fail(*_: Any) -> None:
        raise Hung(f"the store blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def named_errors_only(call: Any, *args: Any) -> Any:
    """Run a store call: a named error is an answer, anything else fails the test."""
    try:
        return call(*args)
    except SessionManagerError:
        return None


def run_cli(root: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli.cli, ["--data-dir", str(root), *args])
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def survives(scene: Scene, *, cli_too: bool = True, export_too: bool = True) -> None:
    """Everything issue 9 asks of the readers and doctor, for whatever was done to the victim."""
    if not (scene.root / "sessions").is_dir() or (scene.root / "sessions").is_symlink():
        scene.healthy = []  # the test replaced the whole sessions folder: nothing healthy is left to list
    outside_before = tree_digest(scene.outside)
    store = SessionStore(scene.root)
    listed = {row.meta.id for row in store.list_sessions()}
    assert set(scene.healthy) <= listed
    for name in ("get_session", "list_checkpoints", "latest_state", "read_autosave", "marks", "checkpoint_summaries",
                 "kv_bytes"):
        if hasattr(store, name):
            named_errors_only(getattr(store, name), scene.victim)
    assert {row.meta.id for row in store.search("lighthouse")} >= set(scene.healthy)
    if hasattr(store, "revision"):
        store.revision()
    if export_too:
        _exports_stay_inside(store, scene)
    if cli_too:
        listed_json = json.loads(run_cli(scene.root, "list", "--json").stdout or "[]")
        assert set(scene.healthy) <= {row["id"] for row in listed_json}
        run_cli(scene.root, "show", scene.victim, "--json")
        run_cli(scene.root, "doctor", "--json")
    check_store(store)
    assert set(scene.healthy) <= {row.meta.id for row in SessionStore(scene.root).list_sessions()}
    again = check_store(SessionStore(scene.root))
    assert [f for f in again if f.severity == "error"] == [], again
    assert tree_digest(scene.outside) == outside_before
    _close(store)


def _close(store: SessionStore) -> None:
    if hasattr(store, "close"):
        store.close()


def _exports_stay_inside(store: SessionStore, scene: Scene) -> None:
    with contextlib.suppress(SessionManagerError):
        archive = export_session(store, scene.victim, scene.root.parent, "zip")
        outside = {hashlib.sha256(p.read_bytes()).hexdigest() for p in scene.outside.iterdir() if p.is_file()}
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                data = zipped.read(name)
                if len(data) > 100:  # small files (an empty {}) may match by chance
                    assert hashlib.sha256(data).hexdigest() not in outside, f"{name} came from outside the store"
        archive.unlink()


# ----- hostile documents ---------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)

# Raw JSON fragments that broke a reader once: naive, absurd and unrepresentable times, numbers
# past every limit, depth past every recursion limit, text that is not Unicode.
HAZARDS = ['"2026-01-01T00:00:00"', '"0001-01-01T00:00:00+14:00"', '"9999-12-31T23:59:59-14:00"', "9" * 5000,
           "1e400", "-1", "18446744073709551616", '"a\\udcffb"', "[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1"
           + "}" * 3000, '"' + "x" * 100_000 + '"', "0", "true", "false", '""', "99", '"2"', '"1"', "1.5", "2.0",
           "1.0", "null"]


def hostile_documents(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Bytes for a file that should hold ``valid``: damaged, retyped, truncated or plain garbage."""
    text = json.dumps(valid)
    keys = sorted(valid) + ["format_version", "unexpected"]
    fragment = st.one_of(st.sampled_from(HAZARDS), json_values.map(json.dumps))
    retyped = st.tuples(st.sampled_from(keys), fragment).map(lambda kv: _with_raw(valid, *kv))
    return st.one_of(
        retyped,
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.integers(0, max(0, len(text) - 1)).map(lambda n: text.encode()[:n]),
        st.sampled_from([b"[" * 100_000 + b"]" * 100_000, b'{"n": ' + b"9" * 5000 + b"}", b"\xff\xfe\x00",
                         b"null", b"", text.encode().replace(b"{", b"{" * 2, 1)]),
    )


def _with_raw(valid: dict[str, Any], key: str, fragment: str) -> bytes:
    marker = "@@HOSTILE@@"
    doc = {**valid, key: marker}
    return json.dumps(doc).replace(f'"{marker}"', fragment).encode()


def valid_document(scene: Scene, position: str) -> dict[str, Any]:
    path = scene.file(position)
    return json.loads(path.read_text())


def fresh_copy(template: Scene, base: Path) -> Scene:
    """A copy of a built scene (cheaper than building one per example); links in it stay links."""
    shutil.copytree(template.root.parent, base, symlinks=True, dirs_exist_ok=True)
    return Scene(base / "store", base / "outside", template.healthy, template.victim, template.checkpoints)
