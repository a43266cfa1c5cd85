"""Every refusal is a JSON error with a fitting status: keys, sizes, unknown routes, a full disk, a bug."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from session_manager.store import SessionStore

from .conftest import BASE, KEY, SMALL, MakeClient, error_of, new_session


def test_a_missing_or_wrong_key_is_refused_and_the_right_one_passes(make_client: MakeClient,
                                                                    store: SessionStore) -> None:
    client = make_client(key=KEY)
    url = f"{BASE}/sessions"
    assert "Bearer" in error_of(client.get(url), 401, "unauthorized")
    error_of(client.get(url, headers={"Authorization": "Bearer wrong"}), 403, "forbidden")
    error_of(client.get(url, headers={"Authorization": KEY}), 403, "forbidden")
    error_of(client.post(url, json={"name": "x"}, headers={"Authorization": "Bearer nope"}), 403, "forbidden")
    assert store.list_sessions() == []  # a refused request changed nothing
    good = {"Authorization": f"Bearer {KEY}"}
    assert client.post(url, json={"name": "x"}, headers=good).status_code == 201
    assert len(client.get(url, headers=good).json()["sessions"]) == 1


def test_a_huge_body_is_refused_before_it_is_read(client: TestClient, store: SessionStore) -> None:
    session = new_session(client)
    huge = "x" * (SMALL.json_bytes + 1)
    url = f"{BASE}/sessions/{session['id']}/checkpoints"
    error_of(client.post(url, json={"output_text": huge}), 413, "too_large")

    def chunked() -> Iterator[bytes]:  # no Content-Length: the size is counted as it arrives
        yield b'{"output_text": "'
        for _ in range(SMALL.json_bytes // 1024 + 1):
            yield b"y" * 1024
        yield b'"}'

    error_of(client.post(url, content=chunked(), headers={"Content-Type": "application/json"}), 413, "too_large")
    error_of(client.post(url, content=b"{}", headers={"Content-Type": "application/json",
                                                      "Content-Length": "999999999999"}), 413, "too_large")
    assert store.checkpoint_ids(session["id"]) == []


def test_unknown_routes_and_methods_answer_in_the_same_shape(client: TestClient) -> None:
    error_of(client.get(f"{BASE}/nothing-here"), 404, "not_found")
    error_of(client.put(f"{BASE}/sessions"), 405, "method_not_allowed")
    assert client.get(BASE).json()["restore"] is False
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert f"{BASE}/sessions/{{session_id}}/checkpoints/{{checkpoint_id}}/restore" in paths


def test_an_unexpected_failure_is_a_plain_500_without_a_traceback(make_client: MakeClient, tmp_path: Path) -> None:
    def broken_store() -> SessionStore:
        raise RuntimeError("secret internals at /home/someone/.cache")

    client = make_client(store_of=broken_store)
    message = error_of(client.get(f"{BASE}/sessions"), 500, "internal")
    assert "secret" not in message and "RuntimeError" not in message


def test_a_full_disk_is_507_and_what_was_saved_stays(make_client: MakeClient, tmp_path: Path) -> None:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", f"sm-api-{uuid.uuid4().hex[:6]}", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        store = SessionStore(mount / "store")
        client = make_client(store_of=lambda: store)
        session = new_session(client)
        first = client.post(f"{BASE}/sessions/{session['id']}/checkpoints", json={"output_text": "kept"}).json()
        filler = mount / "filler"
        with open(filler, "wb") as out:  # fill the disk to its last byte
            try:
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
            except OSError:
                pass
        error_of(client.post(f"{BASE}/sessions/{session['id']}/checkpoints", json={"output_text": "y" * 50_000}),
                 507, "disk_full")
        assert store.checkpoint_ids(session["id"]) == [first["id"]]
        assert store.get_checkpoint(session["id"], first["id"]).output_text == "kept"
        store.close()
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_routes_that_are_off_say_why_on_every_path() -> None:
    """Under --multi-user textgen mounts these instead of the API: a client learns why, in the API's error shape."""
    from fastapi import FastAPI

    from session_manager.api.routes import PREFIX, build_off_router

    app = FastAPI()
    app.include_router(build_off_router("off here, for a reason"))
    client = TestClient(app)
    for method, path in (("GET", "/sessions"), ("POST", "/sessions"), ("DELETE", "/sessions/x/checkpoints/y"),
                         ("GET", "")):
        answer = client.request(method, PREFIX + path)
        assert answer.status_code == 403
        assert answer.json() == {"error": {"code": "off", "message": "off here, for a reason"}}
