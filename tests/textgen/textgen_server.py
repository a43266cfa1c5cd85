"""The real textgen (text-generation-webui) with this extension: start it, stop it, read what it did.

Used by the tests in this folder and by scripts/textgen.sh. Every start gets its own user data
folder with the model and this extension linked in; the install comes from textgen_install.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .textgen_install import (
    ENV_VAR,
    ROOT,
    TextgenInstall,
    TextgenUnavailable,
    cache_dir,
    find_or_install,
)

MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
SECOND_MODEL_FILE = "gemma-copy-b.gguf"  # the same weights under another name, for "Load model"
SETUP_LINE = "Session Manager: sessions are stored in"
LAUNCHED_LINE = "Running on local URL"  # Gradio prints it just before its launch check
LAUNCH_CHECK_FAILED = "url_ok"  # in the traceback when that check timed out
# The check is a HEAD request with a 3 s timeout and prints nothing when it passes: a textgen that is
# still running this long after the line above has passed it (a timeout ends textgen at once).
LAUNCH_CHECK_S = 6.0
LAUNCH_ATTEMPTS = 2
AUTOSAVE_S = 5  # the shortest autosave interval: autosave waits stay short
AUTOSAVE_PASSED_S = AUTOSAVE_S + 2  # long enough for an autosave to have happened (a tick and a margin)
AUTOSAVE_WAIT_S = 3 * AUTOSAVE_S  # how long a test waits for an autosave that must come
# What the tests start with (scripts/textgen.sh starts with textgen's own defaults).
TEST_SETTINGS: dict[str, Any] = {
    "show_two_notebook_columns": True,  # the Default (two-column) view
    "session_manager-autosave_interval": AUTOSAVE_S,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TextgenServer:
    """One real textgen process on 127.0.0.1 with this extension, on its own user data folder.

    ``extension_in``: "user_data" links the extension into <user data>/extensions/session_manager;
    "textgen" runs a private copy of textgen/ with the extension in its own extensions/ folder.
    """

    def __init__(self, install: TextgenInstall, workdir: Path, *, api: bool = False, api_key: str = "",
                 extra_flags: str = "",
                 settings: dict[str, Any] | None = None, extension_in: str = "user_data",
                 patch_textgen: Callable[[Path], None] | None = None, port: int | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.install = install
        self.args = args  # more of textgen's flags, e.g. ("--multi-user", "--gradio-auth", "alice:pw1")
        self.workdir = Path(workdir)
        self.user_data = self.workdir / "user_data"
        self.api = api
        self.api_key = api_key
        self.extra_flags = extra_flags
        self.extension_in = extension_in
        self.fixed_port = port
        self.port = 0
        self.api_port = 0
        self.starts = 0
        self.log_path = self.workdir / "textgen-0.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._children: dict[int, str] = {}
        self._watcher: threading.Thread | None = None
        self.textgen_dir = self._textgen_dir(patch_textgen)
        if not self.user_data.exists():  # kept when a person runs scripts/textgen.sh again
            self._prepare_user_data(settings or {})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def store_root(self) -> Path:
        return self.user_data / "session_manager"

    def store(self) -> Any:
        """The project's own SessionStore over this textgen's store (a fresh one: it reads the files)."""
        from session_manager.store import SessionStore

        return SessionStore(self.store_root)

    def command(self) -> list[str]:
        cmd = [str(self.install.python), "server.py", "--portable", "--user-data-dir", str(self.user_data),
               "--model", MODEL_FILE, "--loader", "llama.cpp", "--listen-port", str(self.port),
               "--ctx-size", "4096", "--threads", "2", "--extensions", "session_manager",
               "--settings", str(self.user_data / "settings.yaml")]
        if self.api:
            cmd += ["--api", "--api-port", str(self.api_port)] + (["--api-key", self.api_key] if self.api_key else [])
        if self.extra_flags:
            cmd.append(f"--extra-flags={self.extra_flags}")  # argparse refuses a separate value starting with "-"
        return cmd + list(self.args)

    def start(self, timeout: float = 240.0) -> TextgenServer:
        """Start and wait until Gradio's launch has finished and the extension has said where it stores
        sessions. On a saturated machine Gradio's own launch check (a HEAD request with a 3 s timeout) can
        time out and end textgen, even after textgen has answered a first request: that start is made once
        more."""
        for attempt in range(1, LAUNCH_ATTEMPTS + 1):
            try:
                return self._start_once(timeout)
            except RuntimeError:
                if attempt == LAUNCH_ATTEMPTS or LAUNCH_CHECK_FAILED not in self.log_text():
                    raise
                print(f"textgen: Gradio's launch check timed out (start {self.starts}); starting again",
                      file=sys.stderr)
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> TextgenServer:
        self.port = self.fixed_port or free_port()
        self.api_port = free_port() if self.api else 0
        self.starts += 1
        self.log_path = self.workdir / f"textgen-{self.starts}.log"
        # COLUMNS: textgen's logger wraps at 80 columns when not on a terminal.
        env = dict(os.environ, PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False", COLUMNS="250")
        env.pop(ENV_VAR, None)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(), cwd=self.textgen_dir, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        self._children = {}
        self._watcher = threading.Thread(target=self._watch_children, args=(self.proc,), daemon=True)
        self._watcher.start()
        deadline = time.monotonic() + timeout
        launched_at: float | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            log = self.log_text()
            if LAUNCH_CHECK_FAILED in log:
                break
            if launched_at is None and LAUNCHED_LINE in log:
                launched_at = time.monotonic()
            checked = launched_at is not None and time.monotonic() - launched_at >= LAUNCH_CHECK_S
            if SETUP_LINE in log and checked and _answers(self.url):
                return self
            time.sleep(0.25)
        reason = "exited" if self.proc.poll() is not None else f"was not ready after {timeout:.0f} s"
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"textgen {reason}; the end of {self.log_path}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM to the textgen we started (it stops its llama-server); leftovers of ours are ended too."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        self._children.update(_descendants(proc.pid))
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for pid, cmdline in self._children.items():
            _end_if_still(pid, cmdline)
        self._children = {}

    def restart(self) -> TextgenServer:
        self.stop()
        return self.start()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(line.rstrip() for line in self.log_text().splitlines()[-lines:])

    def llama_server_port(self) -> int:
        """The port of the llama-server that textgen runs now (it changes with every model load)."""
        if self.proc is None:
            raise RuntimeError("textgen is not running")
        for cmdline in _descendants(self.proc.pid).values():
            args = cmdline.split("\0")
            if Path(args[0]).name == "llama-server" and "--port" in args:
                return int(args[args.index("--port") + 1])
        raise RuntimeError("textgen runs no llama-server")

    def llama_metrics(self) -> dict[str, float]:
        """llama-server's Prometheus counters (textgen started with ``--extra-flags=--metrics``)."""
        url = f"http://127.0.0.1:{self.llama_server_port()}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        values = {}
        for line in text.splitlines():
            match = re.match(r"^([a-z_:]+)\s+([-0-9.e+]+)$", line)
            if match:
                values[match.group(1)] = float(match.group(2))
        return values

    # ----- helpers --------------------------------------------------------------------------

    def _textgen_dir(self, patch: Callable[[Path], None] | None) -> Path:
        """The shared install's textgen/, or a private copy when the test changes textgen's own folders."""
        if self.extension_in == "user_data" and patch is None:
            return self.install.textgen_dir
        copy = self.workdir / "textgen"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(self.install.textgen_dir, copy, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "logs", "cache", "session_manager"))
        if self.extension_in == "textgen":
            (copy / "extensions" / "session_manager").symlink_to(ROOT, target_is_directory=True)
        if patch is not None:
            patch(copy)
        return copy

    def _prepare_user_data(self, settings: dict[str, Any]) -> None:
        """A fresh copy of textgen's shipped user_data with the model(s) and the extension linked in."""
        shipped = self.install.textgen_dir / "user_data"
        skip = {"logs", "cache", "session_manager", "settings.yaml"}  # session_manager: a link into extensions/
        shutil.copytree(shipped, self.user_data, symlinks=True,
                        ignore=lambda folder, names: [n for n in names if n in skip or n.endswith(".gguf")])
        models = self.user_data / "models"
        for name in (MODEL_FILE, SECOND_MODEL_FILE):
            (models / name).symlink_to(self.install.model)
        if self.extension_in == "user_data":
            (self.user_data / "extensions" / "session_manager").symlink_to(ROOT, target_is_directory=True)
        (self.user_data / "settings.yaml").write_text(_yaml(settings), encoding="utf-8")

    def _watch_children(self, proc: subprocess.Popen[bytes]) -> None:
        """Remember every process textgen starts (llama-servers come and go with model loads)."""
        while proc.poll() is None:
            self._children.update(_descendants(proc.pid))
            time.sleep(0.5)


@contextmanager
def running(server: TextgenServer) -> Iterator[TextgenServer]:
    try:
        yield server.start()
    finally:
        server.stop()


def http_json(url: str, body: dict[str, Any], timeout: float = 120.0) -> Any:
    import json

    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _descendants(pid: int) -> dict[int, str]:
    """{pid: cmdline} of every living process below pid (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = _cmdline(child)
                frontier.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").rstrip("\0")
    except OSError:
        return ""


def _end_if_still(pid: int, cmdline: str, timeout: float = 10.0) -> None:
    """End a process textgen started and left behind (checked by its command line: pids are reused)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not cmdline or _cmdline(pid) != cmdline:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _cmdline(pid) == cmdline:
            time.sleep(0.1)


def _yaml(values: dict[str, Any]) -> str:
    """settings.yaml for the few plain values the tests use (textgen's venv has PyYAML, ours may not)."""
    import json

    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in values.items())


def main(argv: list[str] | None = None) -> int:
    """scripts/textgen.sh: the tests' textgen with this extension, for a person to try by hand."""
    import argparse

    parser = argparse.ArgumentParser(description="Start the real textgen with Session Manager on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--dir", type=Path, default=cache_dir().parent / "try-textgen",
                        help="kept between runs: user_data/ (sessions, settings.yaml) and the logs")
    parser.add_argument("--api", action="store_true", help="also textgen's OpenAI-compatible API on a free port")
    args = parser.parse_args(argv)
    try:
        install = find_or_install()
    except TextgenUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    args.dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop textgen on the way out, as on Ctrl+C
    server = TextgenServer(install, args.dir, api=args.api, port=args.port)
    print(f"Starting {install.describe()} with Session Manager (log: {args.dir}/textgen-*.log) ...")
    with running(server):
        print(f"textgen: {server.url}" + (f"  API: http://127.0.0.1:{server.api_port}/v1" if args.api else ""))
        print(f"sessions: {server.store_root}\nCtrl+C stops it.")
        try:
            while server.proc is not None and server.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
