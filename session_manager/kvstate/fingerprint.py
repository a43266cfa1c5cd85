"""What identifies a model file and the engine settings a KV state is only valid for."""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from ..errors import KVError
from ..models import ModelFingerprint

SAMPLE_BYTES = 1 << 20

# ggml type ids (ggml.h) of the KV cache types llama.cpp accepts for --cache-type-k/v.
GGML_TYPE_NAMES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 6: "q5_0", 7: "q5_1", 8: "q8_0", 20: "iq4_nl",
                   30: "bf16"}
FLASH_ATTN_NAMES = {-1: "auto", 0: "off", 1: "on"}


def sample_hash(path: Path) -> str:
    """sha256 of the size and the first, middle and last MiB: fast even on a 40 GB GGUF."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise KVError(f"cannot read the model file {path}: {exc.strerror or exc}") from exc
    return _sample_hash(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def make_fingerprint(model_path: Path, *, n_ctx: int, type_k: str, type_v: str, flash_attn: str,
                     swa_full: bool, state_format: str) -> ModelFingerprint:
    path = Path(model_path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise KVError(f"cannot read the model file {path}: {exc.strerror or exc}") from exc
    return ModelFingerprint(
        file_name=path.name,
        file_size=size,
        sample_hash=sample_hash(path),
        n_ctx=n_ctx,
        kv_type=kv_type_label(type_k, type_v),
        flash_attn=flash_attn,
        swa_full=swa_full,
        state_format=state_format,
    )


def binary_id(binary: Path) -> str:
    """A short id of an engine build: the binary and the llama/ggml libraries beside it.

    Self-built llama.cpp reports "b0-unknown" as its build, so a state format named only by the
    build number would not notice an upgrade; the files themselves do.
    """
    binary = Path(binary).resolve()
    libs = sorted(p for p in binary.parent.glob("lib*.so*") if p.name.startswith(("libllama", "libggml")))
    digest = hashlib.sha256()
    for path in [binary, *libs]:
        if path.is_file():
            digest.update(path.name.encode() + sample_hash(path).encode())
    return digest.hexdigest()[:16]


def kv_type_label(type_k: str, type_v: str) -> str:
    return type_k if type_k == type_v else f"{type_k}/{type_v}"


@lru_cache(maxsize=16)
def _sample_hash(path: str, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime too: a model file replaced in place is hashed again.
    hasher = hashlib.sha256(str(size).encode())
    try:
        with open(path, "rb") as handle:
            for offset in sorted({0, max(0, size // 2 - SAMPLE_BYTES // 2), max(0, size - SAMPLE_BYTES)}):
                handle.seek(offset)
                hasher.update(handle.read(SAMPLE_BYTES))
    except OSError as exc:
        raise KVError(f"cannot read the model file {path}: {exc.strerror or exc}") from exc
    return hasher.hexdigest()


def sliding_window(model_path: Path) -> int:
    """The model's attention sliding window from its GGUF header (0 when it has none or is unreadable).

    Sliding-window models (Gemma 2/3, ...) keep only the last window of positions in some layers;
    llama-server reuses a restored cache for them only when started with --swa-full.
    """
    try:
        stat = os.stat(model_path)
    except OSError:
        return 0
    return _sliding_window(str(Path(model_path).resolve()), stat.st_size, stat.st_mtime_ns)


_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


@lru_cache(maxsize=16)
def _sliding_window(path: str, size: int, mtime_ns: int) -> int:
    try:
        with open(path, "rb") as handle:
            reader = _GGUFReader(handle)
            return reader.find_int(lambda key: key.endswith(".attention.sliding_window")) or 0
    except (OSError, ValueError, struct.error):
        return 0


class _GGUFReader:
    """Walks the key/value header of a GGUF file without loading tensors."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        magic, version = struct.unpack("<4sI", handle.read(8))
        if magic != b"GGUF" or version < 2:
            raise ValueError("not a GGUF v2+ file")
        _, self.n_kv = struct.unpack("<QQ", handle.read(16))

    def find_int(self, wanted: Callable[[str], bool]) -> int | None:
        for _ in range(self.n_kv):
            key = self._string()
            (kind,) = struct.unpack("<I", self.handle.read(4))
            if wanted(key) and kind in _GGUF_SCALARS:
                fmt = "<" + _GGUF_SCALARS[kind]
                (value,) = struct.unpack(fmt, self.handle.read(struct.calcsize(fmt)))
                return int(value)
            self._skip(kind)
        return None

    def _string(self) -> str:
        (length,) = struct.unpack("<Q", self.handle.read(8))
        if length > 1 << 20:
            raise ValueError("implausible GGUF string")
        return self.handle.read(length).decode("utf-8", "replace")

    def _skip(self, kind: int) -> None:
        if kind in _GGUF_SCALARS:
            self.handle.seek(struct.calcsize(_GGUF_SCALARS[kind]), os.SEEK_CUR)
        elif kind == _GGUF_STRING:
            (length,) = struct.unpack("<Q", self.handle.read(8))
            self.handle.seek(length, os.SEEK_CUR)
        elif kind == _GGUF_ARRAY:
            item, count = struct.unpack("<IQ", self.handle.read(12))
            if item in _GGUF_SCALARS:
                self.handle.seek(count * struct.calcsize(_GGUF_SCALARS[item]), os.SEEK_CUR)
            else:
                for _ in range(count):
                    self._skip(item)
        else:
            raise ValueError(f"unknown GGUF value type {kind}")
