"""Export and import through the API, in every format the CLI has, with the CLI's limits."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient

from session_manager.store import SessionStore

from .conftest import BASE, SMALL, add_text, error_of, new_session


@pytest.fixture
def story(client: TestClient) -> dict:
    session = new_session(client, "The keeper", tags=["sea"])
    add_text(client, session["id"], "The lighthouse keeper lit the lamp.", input_text="The lighthouse")
    return session


@pytest.mark.parametrize(("fmt", "media", "found"), [
    ("zip", "application/zip", None), ("json", "application/json", "lit the lamp"),
    ("jsonl", "application/x-ndjson", "lit the lamp"), ("markdown", "text/markdown", "lit the lamp"),
    ("html", "text/html", "lit the lamp")])
def test_one_session_exports_in_each_format(client: TestClient, story: dict, fmt: str, media: str,
                                            found: str | None) -> None:
    response = client.get(f"{BASE}/sessions/{story['id']}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    assert "attachment" in response.headers["content-disposition"]
    if found:
        assert found in response.content.decode()
    else:
        assert any(name.endswith("session.json") for name in zipfile.ZipFile(io.BytesIO(response.content)).namelist())


def test_an_exported_zip_imports_back_as_the_session(
        client: TestClient, story: dict, store: SessionStore) -> None:
    exported = client.get(f"{BASE}/sessions/{story['id']}/export", params={"format": "zip"}).content
    client.delete(f"{BASE}/sessions/{story['id']}")
    first = client.post(f"{BASE}/imports", params={"name": "keeper.zip"}, content=exported)
    assert first.status_code == 201 and first.json()["imported"] == 1, first.text
    [row] = store.list_sessions()
    assert row.meta.name == "The keeper" and store.latest_state(row.id).output_text.startswith("The lighthouse")


def test_many_sessions_export_into_one_zip_or_training_jsonl(client: TestClient, story: dict) -> None:
    other = new_session(client, "Other")
    add_text(client, other["id"], "Something else.")
    bulk = client.post(f"{BASE}/exports", json={"all": True, "format": "zip"})
    assert bulk.status_code == 200 and bulk.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(bulk.content)).namelist()
    assert sum(name.endswith("session.json") for name in names) == 2
    samples = client.post(f"{BASE}/exports", json={"tag": "sea", "format": "completion", "metadata": True})
    lines = [json.loads(line) for line in samples.text.splitlines() if line.strip()]
    assert len(lines) == 1 and "lighthouse" in json.dumps(lines[0])
    error_of(client.post(f"{BASE}/exports", json={"format": "zip"}), 400, "bad_request")
    error_of(client.post(f"{BASE}/exports", json={"tag": "nothing"}), 404, "not_found")
    error_of(client.post(f"{BASE}/exports", json={"all": True, "format": "docx"}), 400, "bad_request")


def test_imports_take_other_formats_and_refuse_bad_files(client: TestClient, store: SessionStore) -> None:
    chat = [{"user_name": "You", "character_name": "Bot"},
            {"name": "You", "is_user": True, "mes": "Hi there"}, {"name": "Bot", "is_user": False, "mes": "Hello!"}]
    body = "\n".join(json.dumps(line) for line in chat).encode()
    taken = client.post(f"{BASE}/imports", params={"name": "bot.jsonl"}, content=body)
    assert taken.status_code == 201, taken.text
    assert len(store.list_sessions()) == 1

    error_of(client.post(f"{BASE}/imports", params={"name": "junk.json"}, content=b"\x00\x01 not json"), 400,
             "import_failed")
    error_of(client.post(f"{BASE}/imports", params={"name": "empty.json"}, content=b""), 400, "bad_request")
    error_of(client.post(f"{BASE}/imports", content=b"{}"), 400, "bad_request")  # no name
    error_of(client.post(f"{BASE}/imports", params={"name": "big.zip"}, content=b"z" * (SMALL.upload_bytes + 1)),
             413, "too_large")
    assert len(store.list_sessions()) == 1


@pytest.mark.parametrize("name", ["../evil.json", "/etc/passwd", "..", "a\\b.json", "C:x.json", "a\nb.json"])
def test_a_path_in_an_import_name_is_refused(client: TestClient, store: SessionStore, name: str) -> None:
    error_of(client.post(f"{BASE}/imports", params={"name": name}, content=b'{"a": 1}'), 400, "invalid_name")
    assert store.list_sessions() == []
