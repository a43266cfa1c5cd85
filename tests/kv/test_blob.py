"""The .kv blob format: round trips, atomic writes, and every kind of hostile file refused."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
from pathlib import Path

import pytest
import zstandard

from session_manager.errors import KVError
from session_manager.kvstate import blob as blob_module
from session_manager.kvstate import checked, copy_blob_state, read_blob_meta, read_blob_state, write_blob
from session_manager.kvstate.blob import BLOB_VERSION, MAGIC, PREFIX, blob_size, verify_blob
from session_manager.kvstate.checked import CHECKED
from session_manager.models import KVBlobMeta, ModelFingerprint

NAME = "20260101T000000000Z-abcdef.kv"


def fingerprint(**changes: object) -> ModelFingerprint:
    values = {"file_name": "m.gguf", "file_size": 123, "sample_hash": "ab" * 32, "n_ctx": 1024, "kv_type": "f16",
              "flash_attn": "auto", "swa_full": True, "state_format": "test"}
    values.update(changes)
    return ModelFingerprint(**values)


@pytest.fixture
def state() -> bytes:
    # Compressible but not trivial, like a KV cache: repeated rows with noise.
    return (os.urandom(4096) + bytes(12288)) * 16


@pytest.fixture
def blob(tmp_path: Path, state: bytes) -> Path:
    path = tmp_path / NAME
    write_blob(path, backend="llama-server", fingerprint=fingerprint(), token_ids=[2, 10, 11, 12], state=state)
    return path


def _hand_made(path: Path, header: dict, payload: bytes, *, magic: bytes = MAGIC, version: int = BLOB_VERSION,
               header_len: int | None = None) -> Path:
    """A blob written by hand, with a correct header checksum (so the checks behind it are reached)."""
    raw = json.dumps(header).encode()
    start = struct.pack("<4sII", magic, version, len(raw) if header_len is None else header_len)
    path.write_bytes(start + hashlib.sha256(start + raw).digest() + raw + payload)
    return path


def _header_of(blob: Path) -> dict:
    data = blob.read_bytes()
    _, _, length, _ = PREFIX.unpack(data[:PREFIX.size])
    return json.loads(data[PREFIX.size:PREFIX.size + length])


def _state_of(blob: Path) -> bytes:
    data = blob.read_bytes()
    _, _, length, _ = PREFIX.unpack(data[:PREFIX.size])
    return data[PREFIX.size + length:]


# ----- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_round_trip(tmp_path: Path, state: bytes, compression: str) -> None:
    path = tmp_path / NAME
    meta = write_blob(path, backend="llama-cpp-python", fingerprint=fingerprint(), token_ids=[2, 5, 6],
                      state=state, compression=compression)  # type: ignore[arg-type]
    assert path.stat().st_size == blob_size(meta)
    assert read_blob_meta(path) == meta
    got_meta, got = read_blob_state(path)
    assert got_meta == meta and bytes(got) == state
    assert meta.state_sha256 == hashlib.sha256(state).hexdigest()
    out = io.BytesIO()
    assert copy_blob_state(path, out) == meta
    assert out.getvalue() == state
    if compression == "zstd":
        assert meta.stored_bytes < len(state) // 2
    else:
        assert meta.stored_bytes == len(state)


def test_state_from_file_is_streamed_unchanged(tmp_path: Path, state: bytes) -> None:
    source = tmp_path / "engine.bin"
    source.write_bytes(state)
    meta = write_blob(tmp_path / NAME, backend="llama-server", fingerprint=fingerprint(), token_ids=[1],
                      state=source)
    assert meta.state_bytes == len(state)
    assert bytes(read_blob_state(tmp_path / NAME)[1]) == state


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path, blob: Path, state: bytes) -> None:
    write_blob(blob, backend="llama-server", fingerprint=fingerprint(), token_ids=[9], state=state[::-1])
    assert bytes(read_blob_state(blob)[1]) == state[::-1]
    before = blob.read_bytes()
    with pytest.raises(KVError, match="impossible|cannot describe"):
        # An invalid token list fails before the old blob is touched.
        write_blob(blob, backend="nonsense", fingerprint=fingerprint(), token_ids=[1], state=state)  # type: ignore
    assert blob.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [NAME]


def test_write_into_unwritable_place_raises_kverror(tmp_path: Path, state: bytes) -> None:
    blocker = tmp_path / "kv"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(KVError, match="could not write|no permission"):
        write_blob(blocker / NAME, backend="llama-server", fingerprint=fingerprint(), token_ids=[1], state=state)


# ----- hostile files ------------------------------------------------------------------------


def test_truncated_blob_says_expected_and_found(blob: Path) -> None:
    size = blob.stat().st_size
    with open(blob, "r+b") as handle:
        handle.truncate(size - 100)
    with pytest.raises(KVError, match=f"truncated: expected {size} bytes, found {size - 100}"):
        read_blob_meta(blob)
    with pytest.raises(KVError, match="truncated"):
        read_blob_state(blob)


def test_truncated_inside_the_header(blob: Path) -> None:
    with open(blob, "r+b") as handle:
        handle.truncate(40)
    with pytest.raises(KVError, match="truncated: expected at least"):
        read_blob_meta(blob)


def test_trailing_bytes_are_refused(blob: Path) -> None:
    with open(blob, "ab") as handle:
        handle.write(b"junk")
    with pytest.raises(KVError, match="corrupt: expected"):
        read_blob_meta(blob)


def test_flipped_state_byte_fails_the_checksum(blob: Path) -> None:
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0x01
    blob.write_bytes(bytes(data))
    read_blob_meta(blob)  # the header alone is still fine
    with pytest.raises(KVError, match="checksum does not match"):
        read_blob_state(blob)
    with pytest.raises(KVError, match="checksum does not match"):
        copy_blob_state(blob, io.BytesIO())


def test_flipped_header_byte_breaks_the_header(blob: Path) -> None:
    data = bytearray(blob.read_bytes())
    data[PREFIX.size + 2] ^= 0x40  # inside the JSON text
    blob.write_bytes(bytes(data))
    with pytest.raises(KVError, match="header checksum does not match"):
        read_blob_meta(blob)


@pytest.mark.parametrize("content", [b"GGUF\x03\x00\x00\x00" + bytes(64), b"hello world, not a blob\n" * 10, b"",
                                     b"SM"])
def test_foreign_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / NAME
    path.write_bytes(content)
    with pytest.raises(KVError, match="not a KV snapshot|truncated"):
        read_blob_state(path)


def test_missing_blob(tmp_path: Path) -> None:
    with pytest.raises(KVError, match="missing"):
        read_blob_meta(tmp_path / NAME)


def test_other_blob_version(tmp_path: Path, blob: Path) -> None:
    data = bytearray(blob.read_bytes())
    data[4:8] = struct.pack("<I", 7)
    blob.write_bytes(bytes(data))
    with pytest.raises(KVError, match="format version 7"):
        read_blob_meta(blob)


def test_huge_header_length_is_refused_without_allocating(tmp_path: Path) -> None:
    path = _hand_made(tmp_path / NAME, {}, b"", header_len=0xFFFFFFFF)
    with pytest.raises(KVError, match="header claims 4294967295 bytes"):
        read_blob_meta(path)


@pytest.mark.parametrize("field,value,message", [
    ("state_bytes", -5, "state bytes is -5"),
    ("stored_bytes", -5, "stored bytes is -5"),
    ("state_bytes", 1 << 50, "state bytes is"),
    ("stored_bytes", 0, "stored bytes is 0"),
    ("state_sha256", "nothex" * 9, "not a sha256"),
    ("token_ids", [-1, 3], "impossible token id"),
    ("token_ids", [], "holds no tokens"),
    ("blob_version", 1, "says version 1"),
])
def test_absurd_header_values_are_refused(tmp_path: Path, blob: Path, field: str, value: object, message: str) -> None:
    header = _header_of(blob)
    header[field] = value
    if field == "state_bytes" and value == 1 << 50:
        header["compression"] = "zstd"
    path = _hand_made(tmp_path / "x.kv", header, _state_of(blob))
    with pytest.raises(KVError, match=message):
        read_blob_meta(path)


def test_header_claiming_more_state_than_the_file_has(tmp_path: Path, blob: Path) -> None:
    header = _header_of(blob)
    header["state_bytes"] = header["stored_bytes"] = header["stored_bytes"] + 1000
    path = _hand_made(tmp_path / "x.kv", header, _state_of(blob))
    with pytest.raises(KVError, match="truncated: expected"):
        read_blob_meta(path)


def test_header_for_another_backend_fails_model_validation(tmp_path: Path, blob: Path) -> None:
    header = _header_of(blob)
    header["backend"] = "exllamav3"
    path = _hand_made(tmp_path / "x.kv", header, _state_of(blob))
    with pytest.raises(KVError, match="broken header.*backend"):
        read_blob_meta(path)


def test_zstd_bomb_is_refused(tmp_path: Path) -> None:
    # 10 MB of zeros squeezed into a few bytes, behind a header that promises 1 KB.
    payload = zstandard.ZstdCompressor().compress(bytes(10 << 20))
    header = KVBlobMeta(backend="llama-server", fingerprint=fingerprint(), token_ids=[1], state_bytes=1024,
                        state_sha256="0" * 64, compression="zstd", stored_bytes=len(payload))
    path = _hand_made(tmp_path / NAME, json.loads(header.model_dump_json()), payload)
    with pytest.raises(KVError, match="corrupt"):
        read_blob_state(path)
    with pytest.raises(KVError, match="corrupt"):
        copy_blob_state(path, io.BytesIO())


def test_an_edited_header_fails_every_reader(blob: Path) -> None:
    """The header checksum covers the token ids, the fingerprint and the backend, not only the state."""
    data = blob.read_bytes()
    for old, new in ((b'"token_ids":[2,10,11,12]', b'"token_ids":[2,10,11,13]'),
                     (b'"llama-server"', b'"llama-serveR"'), (b'"n_ctx":1024', b'"n_ctx":2048')):
        assert old in data
        blob.write_bytes(data.replace(old, new))
        for reader in (read_blob_meta, read_blob_state, verify_blob):
            with pytest.raises(KVError, match="header checksum does not match"):
                reader(blob)


def test_a_version_1_blob_is_refused_with_a_reason(tmp_path: Path, blob: Path) -> None:
    raw = json.dumps(_header_of(blob)).encode()
    old = tmp_path / "old.kv"
    old.write_bytes(struct.pack("<4sII", MAGIC, 1, len(raw)) + raw + _state_of(blob))
    with pytest.raises(KVError, match="older format.*version 1"):
        read_blob_meta(old)


def test_corrupt_compressed_state_is_a_kverror_in_every_reader(tmp_path: Path, state: bytes) -> None:
    path = tmp_path / NAME
    write_blob(path, backend="llama-server", fingerprint=fingerprint(), token_ids=[1], state=state, compression="zstd")
    data = bytearray(path.read_bytes())
    header_end = PREFIX.size + PREFIX.unpack(bytes(data[:PREFIX.size]))[2]
    for offset in range(header_end, header_end + 8):  # the zstd frame header
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    for reader in (read_blob_state, verify_blob, lambda p: copy_blob_state(p, io.BytesIO())):
        with pytest.raises(KVError, match="corrupt"):
            reader(path)


def test_verify_blob_reads_every_state_byte(blob: Path) -> None:
    assert verify_blob(blob).state_bytes == len(_state_of(blob))
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0x01
    blob.write_bytes(bytes(data))
    with pytest.raises(KVError, match="checksum does not match"):
        verify_blob(blob)


# ----- a blob checked once is not hashed again while it is the same file (checked.py) -------------


def _copied(blob: Path) -> bytes:
    out = io.BytesIO()
    copy_blob_state(blob, out, reuse_check=True)
    return out.getvalue()


def _no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def hashed(*_: object) -> None:
        raise AssertionError("the state was hashed again")
    monkeypatch.setattr(blob_module, "_copy_hashed", hashed)


def test_a_blob_written_here_is_copied_for_the_engine_without_hashing_it_again(
        blob: Path, state: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_hashing(monkeypatch)
    assert _copied(blob) == state
    moved = blob.with_name("20260101T000000001Z-abcdef.kv")
    CHECKED.replace(blob, moved)  # the same file under another name (a prompt cache entry's, once it is written)
    assert _copied(moved) == state
    CHECKED.touch(moved)  # a restore marks the entry as used
    assert _copied(moved) == state


def test_a_blob_changed_in_place_is_hashed_again_and_refused(blob: Path) -> None:
    with open(blob, "r+b") as handle:  # same file, same size: only its times say it changed
        handle.seek(-5, os.SEEK_END)
        byte = handle.read(1)
        handle.seek(-5, os.SEEK_END)
        handle.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(KVError, match="checksum does not match"):
        _copied(blob)


def test_a_file_with_fresh_times_is_not_remembered(tmp_path: Path, blob: Path, state: bytes,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "20260101T000000002Z-abcdef.kv"
    shutil.copy2(blob, copy)  # its old mtime kept, but its change time is now: a write may still share it
    assert _copied(copy) == state
    _no_hashing(monkeypatch)
    with pytest.raises(AssertionError, match="hashed again"):
        _copied(copy)


def test_a_settled_file_checked_once_is_remembered(tmp_path: Path, blob: Path, state: bytes,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "20260101T000000002Z-abcdef.kv"
    shutil.copy2(blob, copy)
    monkeypatch.setattr(checked, "SETTLED_NS", 0)  # as if the copy were minutes old
    assert verify_blob(copy).state_bytes == len(state)
    _no_hashing(monkeypatch)
    assert _copied(copy) == state


def test_verify_blob_hashes_every_time(blob: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unhashed(*_: object) -> None:
        raise AssertionError("copied without hashing")
    monkeypatch.setattr(blob_module, "_copy_unhashed", unhashed)
    assert verify_blob(blob).state_bytes > 0
    assert copy_blob_state(blob, io.BytesIO()).state_bytes > 0
