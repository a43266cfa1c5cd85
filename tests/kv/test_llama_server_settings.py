"""llama-server snapshots across server settings: one server at a time, restarted with other flags."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest

from session_manager.errors import KVError

from .conftest import RunningServer, ServerConfig, ServerManager, http_json, long_text

pytestmark = pytest.mark.engine

NAME = "20260101T000000000Z-abcdef.kv"
HARNESS = Path(__file__).resolve().parents[1] / "textgen_harness"


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_snapshot_from_another_context_size_gives_the_plain_reason(servers: ServerManager, tmp_path: Path) -> None:
    small = servers.get(ServerConfig(ctx=1024))
    prompt = small.tokenize("The history of the Roman empire is long and")
    small.completion(prompt, 4)
    small.backend().snapshot(tmp_path / NAME)

    big = servers.get(ServerConfig(ctx=2048))
    big.completion(prompt, 1)
    outcome = big.backend().restore(tmp_path / NAME, prompt + [506])
    assert not outcome.restored
    assert outcome.reason == "context size differs (1024 vs 2048)"
    assert big.completion(prompt, 1)["timings"]["cache_n"] == len(prompt) - 1  # the slot was left alone


def test_state_the_server_refuses_leaves_a_cleared_slot(servers: ServerManager, tmp_path: Path) -> None:
    """A host that misreports its flags: the state (q8_0 keys) passes our checks, llama.cpp refuses it."""
    q8 = servers.get(ServerConfig(extra=("--cache-type-k", "q8_0")))
    prompt = q8.tokenize(long_text(6))
    text = prompt + q8.completion(prompt, 4)["tokens"]
    q8.backend(cache_type_k="f16").snapshot(tmp_path / NAME)

    server = servers.get(ServerConfig())
    expected = server.completion(text, 4)["tokens"]
    outcome = server.backend().restore(tmp_path / NAME, text)
    assert not outcome.restored
    assert "could not restore the slot" in outcome.reason
    assert outcome.reason.endswith("the slot was cleared and Continue will re-read the prompt")
    after = server.completion(text, 4)
    assert after["tokens"] == expected
    assert after["timings"]["cache_n"] == 0
    assert list(server.slot_dir.iterdir()) == []


def test_without_swa_full_the_server_rereads_so_snapshots_are_refused(servers: ServerManager,
                                                                     tmp_path: Path) -> None:
    server = servers.get(ServerConfig(swa_full=False))
    prompt = server.tokenize(long_text())
    first = server.completion(prompt, 4)["tokens"]
    with pytest.raises(KVError, match="runs without --swa-full"):
        server.backend().snapshot(tmp_path / NAME)

    # What the refusal is based on, observed with the raw slot API: the restored cache is not reused.
    assert len(prompt) > 512  # past Gemma 3's sliding window
    _post(f"{server.url}/slots/0?action=save", {"filename": "raw.bin"})
    server.erase()
    restored = _post(f"{server.url}/slots/0?action=restore", {"filename": "raw.bin"})
    assert restored["n_restored"] == len(prompt) + 3
    again = server.completion(prompt + first, 1)
    assert again["timings"]["cache_n"] == 0
    assert again["timings"]["prompt_n"] == len(prompt) + 4


class LlamaServer:
    """What textgen's ``shared.model`` is with its llama.cpp loader (modules/llama_cpp_server.py): the process
    it started, its port, its binary, and ``encode`` through the server's /tokenize."""

    def __init__(self, server: RunningServer) -> None:
        self.process, self.port, self.server_path = server.process, server.port, str(server.binary)

    def encode(self, text: str, add_bos_token: bool = False) -> list[int]:
        return http_json(f"http://127.0.0.1:{self.port}/tokenize", {"content": text, "add_special": add_bos_token})[
            "tokens"]


def test_the_textgen_host_reads_swa_full_from_its_servers_command_line(servers: ServerManager, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """textgen's llama-server started without --swa-full (kv_swa_full off): the textgen host's backend does
    not assume the flag, so a snapshot it could never reuse is refused with the reason."""
    from session_manager.hosts.textgen.host_adapter import TextgenHost
    from session_manager.hosts.textgen.prompts import PromptFiles

    monkeypatch.syspath_prepend(str(HARNESS))  # textgen's `modules`, as the hook tests have them
    for name in [n for n in sys.modules if n == "modules" or n.startswith("modules.")]:
        monkeypatch.delitem(sys.modules, name)
    import modules.shared as shared

    server = servers.get(ServerConfig(swa_full=False))
    monkeypatch.setattr(shared, "model", LlamaServer(server))
    host = TextgenHost(PromptFiles(tmp_path))
    tokens = host.tokenize(long_text())
    assert tokens is not None and len(tokens) > 512  # past Gemma 3's sliding window
    server.completion(tokens, 4)
    host.wait_until_idle(10)
    backend = host.kv_backend()
    assert backend is not None and backend.flags.slot_save_path == server.slot_dir
    before = set(server.slot_dir.iterdir())  # the server is shared: earlier tests may have left files
    with pytest.raises(KVError, match="runs without --swa-full"):
        backend.snapshot(tmp_path / NAME, tokens)
    assert set(server.slot_dir.iterdir()) == before and not (tmp_path / NAME).exists()


def test_server_started_without_slot_save_path_says_what_to_do(servers: ServerManager, tmp_path: Path) -> None:
    server = servers.get(ServerConfig(slot_save=False))
    server.completion(server.tokenize("Hello there"), 2)
    backend = server.backend(slot_save_path=tmp_path)  # the host believes the flag was passed; the server not
    with pytest.raises(KVError, match="^this llama-server was started without --slot-save-path; reload the model"):
        backend.snapshot(tmp_path / NAME)
    assert list(tmp_path.iterdir()) == []


def test_parallel_slots_save_the_last_used_and_restore_into_a_free_one(servers: ServerManager,
                                                                       tmp_path: Path) -> None:
    server = servers.get(ServerConfig(extra=("--parallel", "2", "--kv-unified")))
    backend = server.backend()
    assert backend.slot is None  # --parallel 2 on the command line: no fixed slot
    prompt = server.tokenize(long_text(8))
    server.completion(server.tokenize("A short warm-up in some slot."), 2)
    first = server.completion(prompt, 4)
    ref = backend.snapshot(tmp_path / NAME)
    assert ref.n_tokens == len(prompt) + 3  # the slot that served the last request

    backend.erase()  # every slot
    outcome = backend.restore(tmp_path / NAME, prompt + first["tokens"])
    again = server.completion(prompt + first["tokens"], 1)
    assert outcome.restored, outcome.reason
    assert again["timings"]["cache_n"] == len(prompt) + 3 and again["timings"]["prompt_n"] == 1
