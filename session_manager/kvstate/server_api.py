"""The llama-server HTTP API that KV snapshots need: properties, slots, save/restore/erase, tokenize."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ..errors import KVError


def _loopback_opener() -> urllib.request.OpenerDirector:
    """Plain HTTP only, never through a proxy: llama-server is on this machine. (urlopen's default opener
    would send loopback requests to an http_proxy the user has set, and builds an HTTPS context on its first
    use, ~20 ms of the first request after a restart.)"""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler({}), urllib.request.UnknownHandler(), urllib.request.HTTPHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


OPENER = _loopback_opener()


class ServerAPI:
    """llama-server on ``host:port``; ``slot`` is the one slot used (None: several, chosen per action)."""

    def __init__(self, port: int, slot: int | None, host: str = "127.0.0.1", timeout: float = 120.0) -> None:
        self.base = f"http://{host}:{port}"
        self.port = port
        self.slot = slot
        self.timeout = timeout

    def props(self) -> dict[str, Any]:
        """GET /props, fresh each time (a model reload changes it)."""
        props = self.request("GET", "/props")
        if not isinstance(props, dict):
            raise KVError(f"the llama-server on port {self.port} sent unexpected properties")
        return props

    def slot_info(self, purpose: str) -> dict[str, Any]:
        """The slot to save from or restore into, as /slots describes it (always with an "id").

        With several slots a save takes the most recently used one and a restore the least recently
        used idle one (the server then routes the continuing request to it by prompt similarity).
        """
        try:
            slots = self.request("GET", "/slots")
        except KVError:
            slots = None  # started with --no-slots: nothing to read, the server queues our task anyway
        if not isinstance(slots, list):
            slots = []
        known = [s for s in slots if isinstance(s, dict) and isinstance(s.get("id"), int)]
        if self.slot is not None:
            for info in known:
                if info["id"] == self.slot:
                    return info
            if known:
                raise KVError(f"the llama-server on port {self.port} has no slot {self.slot}")
            return {"id": self.slot}
        if not known:
            return {"id": 0}
        if purpose == "save":
            return max(known, key=lambda s: (s.get("id_task", -1), -s["id"]))
        idle = [s for s in known if not s.get("is_processing")] or known
        return min(idle, key=lambda s: (s.get("id_task", -1), s["id"]))

    def slot_ids(self) -> list[int]:
        slots = self.request("GET", "/slots")
        return [s["id"] for s in slots if isinstance(s, dict) and isinstance(s.get("id"), int)] or [0]

    def post_slot(self, action: str, filename: str, slot: int) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = self.request("POST", f"/slots/{slot}?action={action}", {"filename": filename})
            return answer
        except HTTPFailure as exc:
            if exc.status == 501 or "slot-save-path" in exc.message or "not supported" in exc.message.lower():
                raise NoSlotSavePath() from exc
            raise KVError(f"llama-server could not {action} the slot: {exc.message}") from exc

    def erase(self, slot: int | None = None) -> None:
        """Empty a slot's cache (by default this API's slot, or every slot when it has none)."""
        targets = [slot] if slot is not None else [self.slot] if self.slot is not None else self.slot_ids()
        for target in targets:
            self.request("POST", f"/slots/{target}?action=erase", {})

    def tokenize(self, text: str) -> list[int]:
        """Tokens as the server builds a /completion prompt from ``text`` (with BOS)."""
        answer = self.request("POST", "/tokenize", {"content": text, "add_special": True, "parse_special": True})
        return [int(t) for t in answer.get("tokens", [])]

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with OPENER.open(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise HTTPFailure(exc.code, _error_message(exc)) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise KVError(f"the llama-server on port {self.port} does not answer ({reason}); "
                          "is a model loaded?") from exc
        except ValueError as exc:
            raise KVError(f"the llama-server on port {self.port} sent an answer that is not JSON") from exc


class NoSlotSavePath(KVError):
    def __init__(self) -> None:
        super().__init__("this llama-server was started without --slot-save-path; reload the model to enable "
                         "snapshots")


class HTTPFailure(KVError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"llama-server answered {status}: {message}")
        self.status = status
        self.message = message


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return str(exc.reason)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or exc.reason)
    return str(error or exc.reason)
