"""The .kv blob file: a checked header followed by one engine's raw KV-state bytes.

Layout (little-endian)::

    b"SMKV"            magic
    u32                blob version (2)
    u32                header length H
    32 bytes           sha256 of the 12 bytes above and the header
    H bytes            JSON of ``KVBlobMeta`` (utf-8), which holds the sha256 of the state
    stored_bytes       the state, raw or zstd-compressed (``meta.compression``)

So the checksums cover every byte: the header's own, and through it the state's. Readers
check the magic, the version, the header checksum, the header (against the pydantic model)
and the file size before they trust a field, and the state's sha256 before they hand back a
single state byte, so a truncated, flipped, edited or foreign file never reaches llama.cpp.
Version 1 blobs (no header checksum) are refused: a snapshot is a cache, a new one is cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import os
import struct
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

import zstandard
from pydantic import ValidationError

from ..atomic import UnsafeFile, open_regular, write_chunks_atomic
from ..errors import KVError, StorageError
from ..models import KVBlobMeta, ModelFingerprint
from .checked import CHECKED

MAGIC = b"SMKV"
BLOB_VERSION = 2
_START = struct.Struct("<4sII")  # magic, version, header length: the same in every version
PREFIX = struct.Struct("<4sII32s")  # ... and the header's sha256
# The JSON header holds the token ids (~7 bytes each): 64 MiB covers millions of tokens.
MAX_HEADER_BYTES = 64 << 20
# No engine state is a terabyte; a header claiming more is forged or corrupt.
MAX_STATE_BYTES = 1 << 40
MAX_TOKEN_ID = (1 << 31) - 1
CHUNK = 8 << 20

Compression = Literal["none", "zstd"]
StateBytes = bytes | bytearray | memoryview


def write_blob(
    path: Path,
    *,
    backend: str,
    fingerprint: ModelFingerprint,
    token_ids: Sequence[int],
    state: StateBytes | Path,
    compression: Compression = "none",
) -> KVBlobMeta:
    """Write a blob atomically (temp file, fsync, replace, fsync dir); ``state`` may be bytes or a file."""
    if compression == "zstd" or not isinstance(state, Path):
        data = _read_all(state) if isinstance(state, Path) else memoryview(state).cast("B")
        digest = hashlib.sha256(data).hexdigest()
        stored = zstandard.ZstdCompressor(level=3).compress(data) if compression == "zstd" else data
        chunks: Sequence[StateBytes] | Path = [stored]
        state_bytes, stored_bytes = len(data), len(stored)
    else:
        digest, state_bytes = _hash_file(state)
        chunks, stored_bytes = state, state_bytes
    try:
        meta = KVBlobMeta(blob_version=BLOB_VERSION, backend=backend, fingerprint=fingerprint,
                          token_ids=list(token_ids), state_bytes=state_bytes, state_sha256=digest,
                          compression=compression, stored_bytes=stored_bytes)
    except ValidationError as exc:
        raise KVError(f"cannot describe this KV snapshot: {_first_error(exc)}") from exc
    _write_atomic(path, blob_head(meta), chunks)
    with contextlib.suppress(OSError):
        CHECKED.stamp(path, meta.state_sha256)  # written from the bytes it was hashed from
    return meta


def blob_head(meta: KVBlobMeta) -> bytes:
    """Prefix and header of a blob with this header (the state bytes follow them)."""
    header = meta.model_dump_json().encode("utf-8")
    start = _START.pack(MAGIC, BLOB_VERSION, len(header))
    return start + hashlib.sha256(start + header).digest() + header


def read_blob_meta(path: Path) -> KVBlobMeta:
    """Only the header, fully checked against the file size; the state is not read."""
    with _open(path) as handle:
        meta, _ = _read_header(path, handle)
    return meta


def read_blob_state(path: Path) -> tuple[KVBlobMeta, bytearray]:
    """Header and state; the state's length and sha256 are verified before it is returned."""
    with _open(path) as handle:
        meta, _ = _read_header(path, handle)
        try:
            stored = bytearray(meta.stored_bytes)
        except MemoryError as exc:
            raise KVError(f"the KV snapshot {path.name} is too large to load into memory") from exc
        if handle.readinto(stored) != meta.stored_bytes:
            raise KVError(f"the KV snapshot {path.name} changed while it was read")
    state = _decompress(path, meta, stored) if meta.compression == "zstd" else stored
    _check_digest(path, meta, hashlib.sha256(state).hexdigest())
    return meta, state


def copy_blob_state(path: Path, out: ByteSink, *, reuse_check: bool = False) -> KVBlobMeta:
    """Stream the raw state into ``out`` (for engines that load from a file).

    The digest is known only at the end: on KVError the caller must discard what was written,
    which is why ``out`` should be a private temp file the engine has not been told about.
    ``reuse_check``: an uncompressed blob this process has checked (or written) and that has not changed
    since is copied without hashing it again (see checked.py).
    """
    with _open(path) as handle:
        before = os.fstat(handle.fileno())
        meta, _ = _read_header(path, handle)
        trusted = reuse_check and meta.compression == "none" and CHECKED.known(before, meta.state_sha256)
        if trusted:
            written, digest = _copy_unhashed(path, meta, handle, out), meta.state_sha256
        else:
            written, digest = _copy_hashed(path, meta, handle, out)
        after = os.fstat(handle.fileno())
    unchanged = (after.st_size, after.st_mtime_ns, after.st_ctime_ns) == \
        (before.st_size, before.st_mtime_ns, before.st_ctime_ns)
    if trusted and not unchanged:
        raise KVError(f"the KV snapshot {path.name} changed while it was read")
    if written != meta.state_bytes:
        raise KVError(f"the KV snapshot {path.name} is corrupt: its state has {written} bytes, "
                      f"its header says {meta.state_bytes}")
    _check_digest(path, meta, digest)
    if unchanged and not trusted:
        CHECKED.remember(before, meta.state_sha256)
    return meta


def _copy_hashed(path: Path, meta: KVBlobMeta, handle: BinaryIO, out: ByteSink) -> tuple[int, str]:
    hasher = hashlib.sha256()
    written = 0
    hashed: Future[None] | None = None
    # Each chunk is hashed on a thread while it is written and the next one read (both leave the GIL):
    # a restore, which waits for this copy, pays for the slower of the two instead of their sum.
    with ThreadPoolExecutor(1, thread_name_prefix="session-manager-kv-hash") as hashing:
        if meta.compression == "zstd":
            reader: BinaryIO = zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
        else:
            reader = handle
        try:
            while chunk := reader.read(CHUNK):
                written += len(chunk)
                if written > meta.state_bytes:
                    raise KVError(f"the KV snapshot {path.name} is corrupt: its state is longer than its header says")
                if hashed is not None:
                    hashed.result()
                hashed = hashing.submit(hasher.update, chunk)
                out.write(chunk)
        except zstandard.ZstdError as exc:
            raise KVError(f"the KV snapshot {path.name} is corrupt: its compressed state does not unpack "
                          f"({exc})") from exc
        except OSError as exc:
            raise KVError(f"cannot read the KV snapshot {path}: {exc.strerror or exc}") from exc
        if hashed is not None:
            hashed.result()
    return written, hasher.hexdigest()


def _copy_unhashed(path: Path, meta: KVBlobMeta, handle: BinaryIO, out: ByteSink) -> int:
    written = 0
    try:
        while chunk := handle.read(CHUNK):
            written += len(chunk)
            if written > meta.state_bytes:
                raise KVError(f"the KV snapshot {path.name} is corrupt: its state is longer than its header says")
            out.write(chunk)
    except OSError as exc:
        raise KVError(f"cannot read the KV snapshot {path}: {exc.strerror or exc}") from exc
    return written


def verify_blob(path: Path) -> KVBlobMeta:
    """Check every byte of a blob (header checksum, sizes, state checksum) without holding it in memory."""
    return copy_blob_state(path, _Discard())


def blob_size(meta: KVBlobMeta) -> int:
    """The exact file size a blob with this header must have."""
    return PREFIX.size + len(meta.model_dump_json().encode("utf-8")) + meta.stored_bytes


# ----- helpers ----------------------------------------------------------------------------


class ByteSource(Protocol):
    """Where a blob is read from: a file, or a stream being imported."""

    def read(self, size: int, /) -> bytes: ...


class ByteSink(Protocol):
    """Where a blob's state is copied to: a file, or nowhere (a check)."""

    def write(self, data: bytes, /) -> int: ...


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def _open(path: Path) -> io.BufferedReader:
    try:
        return os.fdopen(open_regular(path), "rb")
    except FileNotFoundError as exc:
        raise KVError(f"the KV snapshot {path.name} is missing (it may have been removed by the size budget)") from exc
    except UnsafeFile as exc:
        raise KVError(f"the KV snapshot {path.name} is not a file of this program: {exc}") from exc
    except OSError as exc:
        raise KVError(f"cannot read the KV snapshot {path}: {exc.strerror or exc}") from exc


def read_stream_header(name: str, handle: ByteSource, file_size: int) -> KVBlobMeta:
    """The header of a blob arriving as a stream of ``file_size`` bytes (an import), fully checked
    before the state is read: a file that is not a blob costs a few bytes, not its whole length."""
    return _read_header_of(name, handle, file_size)[0]


def _read_header(path: Path, handle: BinaryIO) -> tuple[KVBlobMeta, int]:
    return _read_header_of(path.name, handle, os.fstat(handle.fileno()).st_size)


def _read_header_of(name: str, handle: ByteSource, file_size: int) -> tuple[KVBlobMeta, int]:
    prefix = handle.read(PREFIX.size)
    if len(prefix) < _START.size:
        if prefix and not MAGIC.startswith(prefix[:4]):
            raise KVError(f"{name} is not a KV snapshot of this program (unknown file type)")
        raise KVError(f"the KV snapshot {name} is truncated: expected at least {PREFIX.size} bytes, found {file_size}")
    magic, version, header_len = _START.unpack(prefix[:_START.size])
    if magic != MAGIC:
        raise KVError(f"{name} is not a KV snapshot of this program (unknown file type)")
    if version == 1:
        raise KVError(f"the KV snapshot {name} is of an older format (version 1, without a checksum over its "
                      "header); it is not used: the next checkpoint takes a new one")
    if version != BLOB_VERSION:
        raise KVError(f"the KV snapshot {name} has format version {version}; this version of Session Manager "
                      f"reads version {BLOB_VERSION} (update Session Manager or take a new snapshot)")
    if len(prefix) < PREFIX.size:
        raise KVError(f"the KV snapshot {name} is truncated: expected at least {PREFIX.size} bytes, found {file_size}")
    if header_len > MAX_HEADER_BYTES:
        raise KVError(f"the KV snapshot {name} is corrupt: its header claims {header_len} bytes")
    if PREFIX.size + header_len > file_size:
        raise KVError(f"the KV snapshot {name} is truncated: expected at least {PREFIX.size + header_len} bytes, "
                      f"found {file_size}")
    raw = handle.read(header_len)
    if hashlib.sha256(prefix[:_START.size] + raw).digest() != prefix[_START.size:]:
        raise KVError(f"the KV snapshot {name} is corrupt: its header checksum does not match (the file was "
                      "damaged or edited)")
    try:
        meta = KVBlobMeta.model_validate_json(raw)
    except ValidationError as exc:
        raise KVError(f"the KV snapshot {name} has a broken header ({_first_error(exc)})") from exc
    _check_sizes(name, meta)
    expected = PREFIX.size + header_len + meta.stored_bytes
    if file_size < expected:
        raise KVError(f"the KV snapshot {name} is truncated: expected {expected} bytes, found {file_size}")
    if file_size > expected:
        raise KVError(f"the KV snapshot {name} is corrupt: expected {expected} bytes, found {file_size}")
    return meta, header_len


def _check_sizes(name: str, meta: KVBlobMeta) -> None:
    if meta.blob_version != BLOB_VERSION:
        raise KVError(f"the KV snapshot {name} is corrupt: its header says version {meta.blob_version}")
    for field in ("state_bytes", "stored_bytes"):
        value = getattr(meta, field)
        if not 0 < value <= MAX_STATE_BYTES:
            raise KVError(f"the KV snapshot {name} is corrupt: {field.replace('_', ' ')} is {value}")
    if meta.compression == "none" and meta.stored_bytes != meta.state_bytes:
        raise KVError(f"the KV snapshot {name} is corrupt: stored size {meta.stored_bytes} differs from "
                      f"state size {meta.state_bytes}")
    if len(meta.state_sha256) != 64 or any(c not in "0123456789abcdef" for c in meta.state_sha256):
        raise KVError(f"the KV snapshot {name} is corrupt: its checksum is not a sha256")
    if not meta.token_ids:
        raise KVError(f"the KV snapshot {name} holds no tokens")
    if any(not 0 <= t <= MAX_TOKEN_ID for t in meta.token_ids):
        raise KVError(f"the KV snapshot {name} is corrupt: it lists an impossible token id")


def _decompress(path: Path, meta: KVBlobMeta, stored: bytearray) -> bytearray:
    # Chunked, so a forged frame header cannot make us allocate more than the data really unpacks to.
    out = bytearray()
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(memoryview(stored), read_across_frames=True)
        while chunk := reader.read(CHUNK):
            out += chunk
            if len(out) > meta.state_bytes:
                raise KVError(f"the KV snapshot {path.name} is corrupt: its state is longer than its header says")
    except zstandard.ZstdError as exc:
        raise KVError(f"the KV snapshot {path.name} is corrupt: its compressed state does not unpack ({exc})") from exc
    except MemoryError as exc:
        raise KVError(f"the KV snapshot {path.name} is too large to load into memory") from exc
    if len(out) != meta.state_bytes:
        raise KVError(f"the KV snapshot {path.name} is corrupt: its state has {len(out)} bytes, "
                      f"its header says {meta.state_bytes}")
    return out


def _check_digest(path: Path, meta: KVBlobMeta, digest: str) -> None:
    if digest != meta.state_sha256:
        raise KVError(f"the KV snapshot {path.name} is corrupt: its checksum does not match (the file was damaged)")


def _hash_file(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise KVError(f"cannot read the engine's state file {path}: {exc.strerror or exc}") from exc
    return hasher.hexdigest(), size


def _read_all(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KVError(f"cannot read the engine's state file {path}: {exc.strerror or exc}") from exc


def _write_atomic(path: Path, head: bytes, body: Sequence[StateBytes] | Path) -> None:
    chunks = itertools.chain([head], _file_chunks(body) if isinstance(body, Path) else body)
    try:
        write_chunks_atomic(path, chunks)
    except StorageError as exc:
        raise KVError(f"the KV snapshot was not saved: {exc}") from exc


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            yield chunk


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "header"
    return f"{where}: {err.get('msg', 'invalid')}"
