"""KV snapshots of a running llama-server (textgen's llama.cpp loader) through its slot API.

Save: POST /slots/{id}?action=save writes the slot's state file into the server's
--slot-save-path folder; that file becomes the state of our blob and is deleted.
Restore: the blob is checked first (header, size, sha256, fingerprint, token prefix), its
state streamed into a private temp file in that folder, POST ?action=restore, temp deleted.
Needs the server to run with --slot-save-path (and --swa-full for sliding-window models
such as Gemma 3, or the server re-reads the prompt instead of reusing the restored cache).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import KVError
from ..models import KVBlobMeta, KVRef, ModelFingerprint
from . import RestoreOutcome, check_held_tokens, check_restorable, match_prefix
from .blob import copy_blob_state, read_blob_meta, write_blob
from .fingerprint import make_fingerprint, sliding_window
from .server_api import NoSlotSavePath, ServerAPI

NAME = "llama-server"
_OWN_FILE = re.compile(r"^sm-(save|restore)-[0-9a-f]{16}\.bin$")
STATE_MAGIC = b"qsgg"  # llama.cpp's LLAMA_STATE_SEQ_MAGIC 'ggsq' as a little-endian u32
SWA_FULL_NEEDED = ("this model uses a sliding attention window and llama-server runs without --swa-full, so it would "
                   "re-read the prompt anyway; reload the model with --swa-full to use KV snapshots")


@dataclass(frozen=True)
class ServerFlags:
    """How a llama-server was started: the settings a KV state is only valid for.

    The server does not report most of them, so they are read from its command line
    (``from_command``) rather than assumed.
    """

    model_path: Path | None = None
    slot_save_path: Path | None = None
    n_ctx: int | None = None  # used only when the server does not report its per-slot context
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    flash_attn: str = "auto"
    swa_full: bool = False
    parallel: int = 1

    @classmethod
    def from_command(cls, argv: Sequence[str]) -> ServerFlags:
        """Parse llama-server's own flags (long and short forms); unknown flags are ignored."""
        values: dict[str, str] = {}
        switches: set[str] = set()
        args = [str(a) for a in argv]
        i = 0
        while i < len(args):
            flag = _FLAG_ALIASES.get(args[i], args[i])
            if flag in _SWITCHES:
                switches.add(flag)
            elif flag in _VALUED and i + 1 < len(args):
                values[flag] = args[i + 1]
                i += 1
            i += 1
        kv_k = _kv_type(values.get("--cache-type-k", "f16"))
        return cls(
            model_path=Path(values["--model"]) if "--model" in values else None,
            slot_save_path=Path(values["--slot-save-path"]) if "--slot-save-path" in values else None,
            n_ctx=_int_or_none(values.get("--ctx-size")),
            cache_type_k=kv_k,
            cache_type_v=_kv_type(values.get("--cache-type-v", "f16")),
            flash_attn=values.get("--flash-attn", "auto"),
            swa_full="--swa-full" in switches,
            parallel=_int_or_none(values.get("--parallel")) or 1,
        )


class LlamaServerBackend:
    """One slot of the llama-server listening on ``host:port``, started with ``flags``.

    ``engine_id`` names the server build more precisely than its build number (pass
    ``fingerprint.binary_id(path_of_llama_server)``). The per-slot context size and the model path
    are read from the server; a ``flags.model_path`` other than the one the server runs is an error.
    With one slot (``--parallel 1``) that slot is used; with more, a snapshot saves the most recently
    used slot and a restore goes into the least recently used one (the server then routes the
    continuing request to it by prompt similarity).
    """

    name = NAME

    def __init__(self, port: int, flags: ServerFlags, *, host: str = "127.0.0.1", timeout: float = 120.0,
                 compression: str = "none", engine_id: str = "") -> None:
        self.port = port
        self.flags = flags
        self.slot: int | None = 0 if flags.parallel <= 1 else None
        self.api = ServerAPI(port, self.slot, host, timeout)
        self._compression = compression
        self.engine_id = engine_id

    @property
    def slot_save_path(self) -> Path | None:
        return self.flags.slot_save_path

    # ----- the KVBackend protocol ---------------------------------------------------------

    def fingerprint(self) -> ModelFingerprint:
        return self._fingerprint(self.props(), self.api.slot_info("save"))

    def snapshot(self, dest: Path, token_ids: Sequence[int] | None = None) -> KVRef:
        folder = self._save_folder()
        props, slot = self.props(), self.api.slot_info("save")
        if self._ignores_restore(props):
            raise KVError(SWA_FULL_NEEDED)
        self._refuse_if_busy(slot, "save")
        fingerprint = self._fingerprint(props, slot)
        name = f"sm-save-{secrets.token_hex(8)}.bin"
        server_file = folder / name
        try:
            answer = self.api.post_slot("save", name, slot["id"])
            if not server_file.is_file():
                raise KVError(f"llama-server saved the slot, but not into {folder}: that folder is not the "
                              "server's --slot-save-path")
            held = read_state_tokens(server_file)
            if held is None or len(held) != answer.get("n_saved"):
                raise KVError("this llama-server writes slot files in a layout Session Manager does not know; "
                              "KV snapshots are off for it")
            check_held_tokens(held, token_ids, self.rewind_limit(props))
            meta = write_blob(dest, backend=self.name, fingerprint=fingerprint, token_ids=held, state=server_file,
                              compression=self._compression)  # type: ignore[arg-type]  # KVBlobMeta checks it
        finally:
            with contextlib.suppress(OSError):
                server_file.unlink()
        return KVRef(file=dest.name, bytes=dest.stat().st_size, n_tokens=len(held),
                     fingerprint=meta.fingerprint.digest(), backend=self.name)

    def rewind_limit(self, props: dict[str, Any] | None = None) -> int | None:
        """With a sliding window llama-server can go back into a restored snapshot by less than the window
        (measured: 500 of 512 tokens back re-read nothing, 520 back re-read everything)."""
        window = sliding_window(self._model(props if props is not None else self.props()))
        return window - 1 if window > 0 else None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until the slot is not processing (a Stop cancels the server's task a moment later)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                busy = bool(self.api.slot_info("save").get("is_processing"))
            except KVError:
                return False
            if not busy:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def restore(self, blob: Path, prompt_token_ids: Sequence[int]) -> RestoreOutcome:
        started = time.perf_counter()
        meta = read_blob_meta(blob)
        props, slot = self.props(), self.api.slot_info("restore")
        reason = check_restorable(meta, self._fingerprint(props, slot), prompt_token_ids, backend=self.name,
                                  rewind_limit=self.rewind_limit(props))
        if not reason and self._ignores_restore(props):
            reason = SWA_FULL_NEEDED
        if reason:
            return RestoreOutcome(False, reason, 0, time.perf_counter() - started)
        folder = self._save_folder()
        self._refuse_if_busy(slot, "restore")
        temp = folder / f"sm-restore-{secrets.token_hex(8)}.bin"
        try:
            # The server learns the name only after the state has passed every check.
            self._write_checked_state(blob, meta, temp)
            try:
                answer = self.api.post_slot("restore", temp.name, slot["id"])
            except NoSlotSavePath:
                raise
            except KVError as exc:
                return RestoreOutcome(False, f"{exc}; {self._clear_after_failure(slot['id'])}", 0,
                                      time.perf_counter() - started)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        n = len(meta.token_ids)
        if answer.get("n_restored") != n:
            why = f"llama-server restored {answer.get('n_restored')} of {n} tokens"
            return RestoreOutcome(False, f"{why}; {self._clear_after_failure(slot['id'])}", 0,
                                  time.perf_counter() - started)
        reused = match_prefix(meta.token_ids, prompt_token_ids).shared
        return RestoreOutcome(True, "", n, time.perf_counter() - started, reused)

    # ----- extras ---------------------------------------------------------------------------

    def model(self) -> Path:
        """The GGUF the server runs (checked against the path this backend was given)."""
        return self._model(self.props())

    def state_format(self, props: dict[str, Any] | None = None) -> str:
        """The server's build, plus ``engine_id`` (see fingerprint.binary_id) when the host knows the binary."""
        build = (props if props is not None else self.props()).get("build_info", "unknown")
        return f"llama-server {build}" + (f" {self.engine_id}" if self.engine_id else "")

    def tokenize(self, text: str) -> list[int]:
        return self.api.tokenize(text)

    def erase(self, slot: int | None = None) -> None:
        self.api.erase(slot)

    def props(self) -> dict[str, Any]:
        return self.api.props()

    # ----- helpers --------------------------------------------------------------------------

    def _fingerprint(self, props: dict[str, Any], slot: dict[str, Any]) -> ModelFingerprint:
        # The server's own per-slot context wins over what the caller believes it was started with.
        flags = self.flags
        n_ctx = int(slot.get("n_ctx") or props.get("default_generation_settings", {}).get("n_ctx", 0)
                    or flags.n_ctx or 0)
        return make_fingerprint(self._model(props), n_ctx=n_ctx, type_k=flags.cache_type_k,
                                type_v=flags.cache_type_v, flash_attn=flags.flash_attn, swa_full=flags.swa_full,
                                state_format=self.state_format(props))

    def _model(self, props: dict[str, Any]) -> Path:
        served = props.get("model_path")
        expected = self.flags.model_path
        if expected is None:
            if not served:
                raise KVError(f"the llama-server on port {self.port} does not say which model it runs")
            return Path(served)
        if served and Path(served).resolve() != expected.resolve():
            raise KVError(f"the llama-server on port {self.port} runs {Path(served).name}, not {expected.name}")
        return expected

    def _ignores_restore(self, props: dict[str, Any]) -> bool:
        return not self.flags.swa_full and sliding_window(self._model(props)) > 0

    def _write_checked_state(self, blob: Path, meta: KVBlobMeta, temp: Path) -> None:
        try:
            with open(temp, "xb") as out:
                checked = copy_blob_state(blob, out, reuse_check=True)
        except OSError as exc:
            raise KVError(f"cannot write into the slot folder {temp.parent}: {exc.strerror or exc}") from exc
        # llama-server aborts on a truncated state file and trusts the token list inside it: the size and
        # checksum checks above and this token check are all that stand between a damaged file and a crash.
        if checked != meta or read_state_tokens(temp) != meta.token_ids:
            raise KVError(f"the KV snapshot {blob.name} is corrupt: its state does not hold the tokens its "
                          "header lists")

    def _save_folder(self) -> Path:
        if self.flags.slot_save_path is None:
            raise NoSlotSavePath()
        return self.flags.slot_save_path

    def _clear_after_failure(self, slot: int) -> str:
        try:
            self.erase(slot)
        except KVError as exc:
            return f"clearing the slot failed too ({exc}); reload the model if generations look wrong"
        return "the slot was cleared and Continue will re-read the prompt"

    def _refuse_if_busy(self, slot: dict[str, Any], action: str) -> None:
        if slot.get("is_processing"):
            raise KVError(f"a generation is running; {action} the KV cache when it has finished")


def remove_leftovers(slot_dir: Path) -> list[Path]:
    """Delete state files this module left in a slot folder (after a crash); nothing else."""
    if not slot_dir.is_dir():
        return []
    removed = []
    for path in slot_dir.iterdir():
        if _OWN_FILE.match(path.name) and path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def read_state_tokens(path: Path) -> list[int] | None:
    """The token ids at the head of a llama.cpp sequence-state file, None for an unknown layout.

    Version 3: u32 n, n tokens. Version 4 (as this llama.cpp writes it): u32 words, i32 -1,
    u32 1, u32 n, n tokens, u32 0 with words == n + 4. Anything else is refused.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8 or head[:4] != STATE_MAGIC:
                return None
            (version,) = struct.unpack("<I", head[4:])
            size = os.fstat(handle.fileno()).st_size
            if version == 3:
                (n,) = struct.unpack("<I", handle.read(4))
            elif version == 4:
                words, marker, count, n = struct.unpack("<IiII", handle.read(16))
                if (marker, count) != (-1, 1) or words != n + 4:
                    return None
            else:
                return None
            if n * 4 > size:
                return None
            raw = handle.read(4 * n)
            return list(struct.unpack(f"<{n}I", raw)) if len(raw) == 4 * n else None
    except (OSError, struct.error):
        return None


_FLAG_ALIASES = {"-m": "--model", "-c": "--ctx-size", "-ctk": "--cache-type-k", "-ctv": "--cache-type-v",
                 "-fa": "--flash-attn", "-np": "--parallel"}
_VALUED = {"--model", "--slot-save-path", "--ctx-size", "--cache-type-k", "--cache-type-v", "--flash-attn",
           "--parallel"}
_SWITCHES = {"--swa-full"}


def _kv_type(value: str) -> str:
    return "f16" if value == "fp16" else value


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
