"""`session-manager serve` as a real process, driven over HTTP as a script would."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")

from .conftest import BASE, KEY  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "session_manager", "--data-dir", str(data_dir), "serve", *args]


def cli_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SESSION_MANAGER_API_KEY", None)
    return env


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    data_dir = tmp_path / "store"
    proc = subprocess.Popen(serve_command(data_dir, "--port", str(port), "--api-key", KEY), env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start: {proc.communicate(timeout=10)[0]}")
            time.sleep(0.1)
        yield url, data_dir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + BASE, timeout=2).status_code in (200, 401)
    except httpx.HTTPError:
        return False


def test_a_script_creates_lists_adds_exports_and_imports_through_serve(server: tuple[str, Path]) -> None:
    url, data_dir = server
    api = httpx.Client(base_url=url + BASE, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    session = api.post("/sessions", json={"name": "Served"}).json()
    cp = api.post(f"/sessions/{session['id']}/checkpoints",
                  json={"output_text": "Written through the API.", "params": {"temperature": 0.5}}).json()
    assert [row["name"] for row in api.get("/sessions").json()["sessions"]] == ["Served"]
    assert api.get(f"/sessions/{session['id']}/checkpoints/{cp['id']}").json()["params"] == {"temperature": 0.5}
    assert (data_dir / "sessions" / session["id"] / "checkpoints").is_dir()  # the store given by --data-dir

    exported = api.get(f"/sessions/{session['id']}/export", params={"format": "zip"}).content
    assert api.delete(f"/sessions/{session['id']}").status_code == 204
    report = api.post("/imports", params={"name": "served.zip"}, content=exported).json()
    assert report["imported"] == 1
    assert [row["name"] for row in api.get("/sessions").json()["sessions"]] == ["Served"]

    again = report["items"][0]["session_id"]
    [restorable] = api.get(f"/sessions/{again}/checkpoints").json()["checkpoints"]
    refused = api.post(f"/sessions/{again}/checkpoints/{restorable['id']}/restore", json={})
    assert refused.status_code == 501 and refused.json()["error"]["code"] == "no_engine"
    assert httpx.get(url + "/docs", timeout=10).status_code == 200


def test_serve_refuses_a_wrong_key_and_a_huge_body(server: tuple[str, Path]) -> None:
    url, _ = server
    assert httpx.get(url + BASE + "/sessions", timeout=10).status_code == 401
    wrong = httpx.get(url + BASE + "/sessions", headers={"Authorization": "Bearer guess"}, timeout=10)
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"

    # A client that announces 100 GB is answered at once, before anything of it is read or written.
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", BASE + "/imports?name=huge.zip")
    for name, value in (("Authorization", f"Bearer {KEY}"), ("Content-Length", str(100 << 30)),
                        ("Content-Type", "application/octet-stream")):
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(b"PK" * 1000)
    response = conn.getresponse()
    assert response.status == 413 and b"too_large" in response.read()
    conn.close()


def test_serve_binds_another_address_only_with_a_key(tmp_path: Path) -> None:
    done = subprocess.run(serve_command(tmp_path / "store", "--host", "0.0.0.0", "--port", str(free_port())),
                          env=cli_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "--api-key" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("host", "needs_key"), [("127.0.0.1", False), ("127.0.0.2", False), ("::1", False),
                                                 ("[::1]", False), ("localhost", False), ("0.0.0.0", True),
                                                 ("::", True), ("192.168.1.20", True), ("myhost.lan", True)])
def test_only_loopback_is_served_without_a_key(host: str, needs_key: bool) -> None:
    from session_manager.api.app import bind_problem

    assert (bind_problem(host, None) is not None) == needs_key
    assert bind_problem(host, "a key") is None
