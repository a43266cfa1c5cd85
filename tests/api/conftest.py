"""An API client over a real store: FastAPI's TestClient on the app `session-manager serve` runs, or on the
same routes with a recorder (a host without a model) as the engine a restore goes into."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from session_manager.api import ApiContext, Limits  # noqa: E402
from session_manager.api.app import create_app  # noqa: E402
from session_manager.api.engine import RecorderEngine  # noqa: E402
from session_manager.recording.recorder import Recorder  # noqa: E402
from session_manager.store import SessionStore  # noqa: E402

BASE = "/session-manager/v1"
KEY = "s3cret-key"
SMALL = Limits(json_bytes=64 * 1024, upload_bytes=256 * 1024)

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(store: SessionStore, recorder: Recorder) -> Iterator[MakeClient]:
    clients: list[TestClient] = []

    def make(*, key: str | None = None, engine: bool = False, limits: Limits = SMALL,
             store_of: Callable[[], SessionStore] | None = None) -> TestClient:
        context = ApiContext(store=store_of or (lambda: store), api_key=lambda: key, limits=limits,
                             engine=(lambda: RecorderEngine(recorder, grace_s=0.2)) if engine else (lambda: None))
        client = TestClient(create_app(context), raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def error_of(response: Any, status: int, code: str) -> str:
    """The error's message, after checking the status, the shape and the code."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]["message"]


def new_session(client: TestClient, name: str = "A story", **fields: Any) -> dict[str, Any]:
    response = client.post(f"{BASE}/sessions", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def add_text(client: TestClient, session_id: str, output_text: str, **fields: Any) -> dict[str, Any]:
    response = client.post(f"{BASE}/sessions/{session_id}/checkpoints",
                           json={"mode": "default", "output_text": output_text, **fields})
    assert response.status_code == 201, response.text
    return response.json()
