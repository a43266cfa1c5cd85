"""KV snapshots of a real llama-server (Gemma 3 270M, --swa-full, --slot-save-path) through its slot API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from session_manager.errors import KVError
from session_manager.kvstate import read_blob_meta, write_blob
from session_manager.kvstate.blob import PREFIX

from .conftest import RunningServer, ServerConfig, ServerManager, long_text

pytestmark = pytest.mark.engine

NAME = "20260101T000000000Z-abcdef.kv"
FIRST, REST = 10, 10


@pytest.fixture
def server(servers: ServerManager) -> RunningServer:
    return servers.get(ServerConfig(swa_full=True))


@pytest.fixture
def backend(server: RunningServer):
    return server.backend()


@pytest.fixture(scope="module")
def run(servers: ServerManager, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One uninterrupted greedy run, then a run cut after FIRST tokens and snapshotted."""
    server = servers.get(ServerConfig(swa_full=True))
    prompt = server.tokenize(long_text())
    server.erase()
    reference = server.completion(prompt, FIRST + REST)["tokens"]
    server.erase()
    first = server.completion(prompt, FIRST)["tokens"]
    blob = tmp_path_factory.mktemp("kv") / NAME
    ref = server.backend().snapshot(blob)
    return {"prompt": prompt, "reference": reference, "first": first, "blob": blob, "ref": ref,
            "short": server.completion(prompt[:60], 4)["tokens"]}


def _state_of(blob: Path) -> bytes:
    data = blob.read_bytes()
    _, _, header_len, _ = PREFIX.unpack(data[: PREFIX.size])
    return data[PREFIX.size + header_len:]


def test_restore_continues_token_for_token_and_server_reuses_the_prefix(
        server: RunningServer, backend: Any, run: dict[str, Any]) -> None:
    prompt, first = run["prompt"], run["first"]
    server.completion(server.tokenize("Something else entirely, to overwrite the slot."), 3)
    outcome = backend.restore(run["blob"], prompt + first)
    continued = server.completion(prompt + first, REST)
    server.erase()
    control = server.completion(prompt + first, 1)

    assert outcome.restored, outcome.reason
    assert outcome.n_tokens == len(prompt) + FIRST - 1 == run["ref"].n_tokens
    assert first + continued["tokens"] == run["reference"]
    # The server evaluated only the one token that was sampled but never decoded before the save.
    assert continued["timings"]["prompt_n"] == 1
    assert continued["timings"]["cache_n"] == len(prompt) + FIRST - 1
    # Without the snapshot it reads everything again (how much slower that is: bench/kv_resume.py).
    assert control["timings"]["cache_n"] == 0 and control["timings"]["prompt_n"] == len(prompt) + FIRST
    assert list(server.slot_dir.iterdir()) == []  # no state file left behind


def test_blob_wraps_the_slot_file_with_little_overhead(server: RunningServer, run: dict[str, Any]) -> None:
    meta = read_blob_meta(run["blob"])
    assert meta.backend == "llama-server" and meta.token_ids[: len(run["prompt"])] == run["prompt"]
    assert meta.fingerprint.swa_full is True and meta.fingerprint.n_ctx == 1024
    assert run["ref"].bytes == run["blob"].stat().st_size <= 1.05 * meta.state_bytes
    assert run["ref"].fingerprint == meta.fingerprint.digest()


@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign"])
def test_damaged_blob_is_refused_and_the_server_keeps_working(
        server: RunningServer, backend: Any, run: dict[str, Any], tmp_path: Path, damage: str) -> None:
    data = bytearray(run["blob"].read_bytes())
    if damage == "flip":
        data[-1000] ^= 0x10
    elif damage == "truncate":
        data = data[: len(data) - 4096]
    else:
        data = bytearray(b"\x00" * 64)
    bad = tmp_path / NAME
    bad.write_bytes(bytes(data))
    with pytest.raises(KVError, match="corrupt|truncated|not a KV snapshot"):
        backend.restore(bad, run["prompt"] + run["first"])
    assert list(server.slot_dir.iterdir()) == []
    assert server.completion(run["prompt"][:60], 4)["tokens"] == run["short"]


def test_header_listing_other_tokens_than_its_state_is_refused(
        server: RunningServer, backend: Any, run: dict[str, Any], tmp_path: Path) -> None:
    meta = read_blob_meta(run["blob"])
    lying = tmp_path / NAME
    tokens = run["prompt"][:20]
    write_blob(lying, backend=meta.backend, fingerprint=meta.fingerprint, token_ids=tokens,
               state=_state_of(run["blob"]))
    with pytest.raises(KVError, match="does not hold the tokens its header lists"):
        backend.restore(lying, tokens)
    assert list(server.slot_dir.iterdir()) == []


def test_prefix_mismatch_gives_the_plain_reason_and_leaves_the_slot(
        server: RunningServer, backend: Any, run: dict[str, Any]) -> None:
    server.completion(run["prompt"][:60], 1)
    edited = run["prompt"][:100] + [run["prompt"][100] + 1] + run["prompt"][101:] + run["first"]
    outcome = backend.restore(run["blob"], edited)
    assert not outcome.restored
    assert outcome.reason.startswith("the snapshot holds other text")
    assert "its first 100 of" in outcome.reason
    assert server.completion(run["prompt"][:60], 1)["timings"]["cache_n"] >= 59  # slot untouched


def test_busy_slot_refuses_to_save(server: RunningServer, backend: Any, run: dict[str, Any], tmp_path: Path) -> None:
    body = (b'{"prompt": "Count from one to one thousand:", "n_predict": 400, "stream": true, "temperature": 0,'
            b' "ignore_eos": true}')
    request = urllib.request.Request(f"{server.url}/completion", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    response = urllib.request.urlopen(request, timeout=60)
    try:
        response.readline()  # the first streamed token: the slot is generating now
        with pytest.raises(KVError, match="a generation is running"):
            backend.snapshot(tmp_path / NAME)
    finally:
        response.close()  # the server cancels the task when the client goes away
    assert not (tmp_path / NAME).exists()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and backend.api.slot_info("save").get("is_processing"):
        time.sleep(0.1)
    assert not backend.api.slot_info("save").get("is_processing")


def test_backend_without_slot_folder_says_what_to_do(server: RunningServer, tmp_path: Path) -> None:
    from session_manager.kvstate.llama_server import LlamaServerBackend, ServerFlags

    backend = LlamaServerBackend(server.port, ServerFlags(model_path=server.model, swa_full=True))
    with pytest.raises(KVError, match="started without --slot-save-path; reload the model to enable snapshots"):
        backend.snapshot(tmp_path / NAME)


def test_wrong_model_path_is_named(server: RunningServer, tmp_path: Path) -> None:
    from session_manager.kvstate.llama_server import LlamaServerBackend, ServerFlags

    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    backend = LlamaServerBackend(server.port, ServerFlags(model_path=other, slot_save_path=server.slot_dir,
                                                          swa_full=True))
    with pytest.raises(KVError, match=f"runs {server.model.name}, not other.gguf"):
        backend.fingerprint()


def test_a_proxy_in_the_environment_does_not_come_between_the_backend_and_its_server(server: RunningServer) -> None:
    """Users behind a proxy often set http_proxy without listing 127.0.0.1 in no_proxy: llama-server is on
    this machine, so its requests must not go to the proxy. (A process of its own: the environment is read when
    a process first opens a URL.)"""
    expected = server.tokenize("Hello there")
    env = {key: value for key, value in os.environ.items() if key.lower() not in ("no_proxy", "http_proxy")}
    proxy = "http://127.0.0.1:9"  # the discard port: nothing answers there
    env.update(http_proxy=proxy, HTTP_PROXY=proxy, all_proxy=proxy, ALL_PROXY=proxy)
    script = ("import json, sys; from session_manager.kvstate.server_api import ServerAPI; "
              "print(json.dumps(ServerAPI(int(sys.argv[1]), 0).tokenize('Hello there')))")
    done = subprocess.run([sys.executable, "-c", script, str(server.port)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == expected
