"""Sessions through the API: create, list with search, filters and pages, read, change, delete."""

from __future__ import annotations

from fastapi.testclient import TestClient

from session_manager.store import SessionStore

from .conftest import BASE, add_text, error_of, new_session


def test_a_created_session_is_listed_read_changed_and_deleted(client: TestClient, store: SessionStore) -> None:
    made = new_session(client, "My   story\n", tags=["fiction"], notes="first draft")
    assert made["name"] == "My story" and made["tags"] == ["fiction"] and made["checkpoints"] == 0
    assert store.get_session(made["id"]).notes == "first draft"  # on disk, not only in the answer

    listed = client.get(f"{BASE}/sessions").json()
    assert [row["id"] for row in listed["sessions"]] == [made["id"]] and listed["total"] == 1

    changed = client.patch(f"{BASE}/sessions/{made['id']}", json={"name": "Renamed", "tags": ["a", "b"],
                                                                   "notes": "", "pinned": True}).json()
    assert (changed["name"], changed["tags"], changed["notes"], changed["pinned"]) == ("Renamed", ["a", "b"], "",
                                                                                      True)
    meta = store.get_session(made["id"])
    assert (meta.name, meta.tags, meta.pinned) == ("Renamed", ["a", "b"], True)
    assert client.get(f"{BASE}/sessions/{made['id']}").json()["name"] == "Renamed"

    assert client.delete(f"{BASE}/sessions/{made['id']}").status_code == 204
    assert store.list_sessions() == []
    error_of(client.get(f"{BASE}/sessions/{made['id']}"), 404, "not_found")
    error_of(client.delete(f"{BASE}/sessions/{made['id']}"), 404, "not_found")


def test_the_list_pages_through_every_session_once(client: TestClient) -> None:
    ids = {new_session(client, f"Session {n}")["id"] for n in range(5)}
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(f"{BASE}/sessions", params={"limit": 2, "offset": offset}).json()
        assert len(page["sessions"]) <= 2 and page["total"] == 5
        seen += [row["id"] for row in page["sessions"]]
        offset = page["next_offset"]
    assert sorted(seen) == sorted(ids) and len(seen) == 5


def test_search_and_filters_find_what_the_cli_finds(client: TestClient) -> None:
    lighthouse = new_session(client, "Keeper", tags=["sea"])
    add_text(client, lighthouse["id"], "The lighthouse keeper lit the lamp.")
    forest = new_session(client, "Walk", tags=["land"])
    add_text(client, forest["id"], "A walk in the forest.")

    page = client.get(f"{BASE}/sessions", params={"q": "light"}).json()
    found = page["sessions"]
    assert [row["id"] for row in found] == [lighthouse["id"]] and "«light" in found[0]["snippet"]
    assert page["total"] == 1  # a filtered page says how many there are in all, as the plain list does
    tagged = client.get(f"{BASE}/sessions", params={"tag": "land"}).json()["sessions"]
    assert [row["id"] for row in tagged] == [forest["id"]]
    assert client.get(f"{BASE}/sessions", params={"q": "the", "limit": 1}).json()["total"] == 2
    assert client.get(f"{BASE}/sessions", params={"q": "lamp", "tag": "land"}).json()["sessions"] == []
    chats = client.get(f"{BASE}/sessions", params={"mode": "chat"}).json()["sessions"]
    assert chats == []


def test_bad_session_input_is_refused_with_a_reason_and_nothing_changes(client: TestClient,
                                                                        store: SessionStore) -> None:
    made = new_session(client, "Kept")
    error_of(client.post(f"{BASE}/sessions", json={"name": " \n\t"}), 400, "invalid_name")
    message = error_of(client.post(f"{BASE}/sessions", json={"nmae": "typo"}), 400, "bad_request")
    assert "name" in message and "nmae" in message
    error_of(client.post(f"{BASE}/sessions", content=b"{not json", headers={"Content-Type": "application/json"}),
             400, "bad_request")
    error_of(client.patch(f"{BASE}/sessions/{made['id']}", json={"pinned": "perhaps"}), 400, "bad_request")
    error_of(client.get(f"{BASE}/sessions", params={"limit": 0}), 400, "bad_request")
    error_of(client.get(f"{BASE}/sessions", params={"mode": "poem"}), 400, "bad_request")
    # the store's own limits, the same as for an import or the panel (session_manager/limits.py)
    message = error_of(client.patch(f"{BASE}/sessions/{made['id']}", json={"tags": ["x" * 5000]}), 400,
                       "invalid_value")
    assert "at most 100 characters" in message and len(message) < 200
    assert [row.meta.name for row in store.list_sessions()] == ["Kept"]
    assert store.list_sessions()[0].meta.tags == []


def test_a_path_in_a_name_or_an_id_reaches_no_file(client: TestClient, store: SessionStore) -> None:
    made = new_session(client, "../../etc/passwd")
    assert made["name"] == "../../etc/passwd"  # a label only: the folder is named by the id
    assert [p.name for p in store.layout.sessions.iterdir()] == [made["id"]]
    for bad_id in ("%2E%2E", "..%2F..%2Fetc", "20260101T000000Z-abcdef%2F..", "%2Fetc%2Fpasswd"):
        response = client.get(f"{BASE}/sessions/{bad_id}")
        assert response.status_code in (400, 404), (bad_id, response.status_code)
        assert response.json()["error"]["code"] in ("invalid_id", "not_found")
    error_of(client.delete(f"{BASE}/sessions/not-an-id"), 400, "invalid_id")
    error_of(client.get(f"{BASE}/sessions/20990101T000000Z-zzzzzz"), 404, "not_found")
    assert len(store.list_sessions()) == 1
