"""llama-server slot files: the token list is read strictly, our own temp files are cleaned up."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from session_manager.kvstate.llama_server import ServerFlags, read_state_tokens, remove_leftovers


def _v4(tokens: list[int], words: int | None = None, marker: int = -1) -> bytes:
    n = len(tokens)
    return (b"qsgg" + struct.pack("<IIiII", 4, n + 4 if words is None else words, marker, 1, n)
            + struct.pack(f"<{n}I", *tokens) + struct.pack("<I", 0) + b"state bytes")


@pytest.mark.parametrize("content,expected", [
    (_v4([2, 818, 4083]), [2, 818, 4083]),
    (b"qsgg" + struct.pack("<II", 3, 2) + struct.pack("<2I", 2, 9) + b"state", [2, 9]),
    (_v4([2, 818], words=99), None),  # the word count must match the token count
    (_v4([2, 818], marker=0), None),  # an unknown marker: another layout
    (b"qsgg" + struct.pack("<I", 5) + bytes(40), None),  # a version this code does not know
    (b"GGUF" + bytes(40), None),
    (_v4([2, 818, 4083])[:20], None),  # cut inside the token list
    (b"qsgg" + struct.pack("<IIiII", 4, 0xFFFFFFFF, -1, 1, 0xFFFFFFFB), None),  # absurd count
])
def test_state_tokens_are_read_strictly(tmp_path: Path, content: bytes, expected: list[int] | None) -> None:
    path = tmp_path / "slot.bin"
    path.write_bytes(content)
    assert read_state_tokens(path) == expected


def test_only_our_own_leftovers_are_removed(tmp_path: Path) -> None:
    ours = [tmp_path / "sm-save-0123456789abcdef.bin", tmp_path / "sm-restore-fedcba9876543210.bin"]
    theirs = [tmp_path / "sm-save-mine.bin", tmp_path / "user-slot.bin", tmp_path / "sm-restore-0123.bin"]
    for path in ours + theirs:
        path.write_bytes(b"x")
    assert sorted(remove_leftovers(tmp_path)) == sorted(ours)
    assert all(p.exists() for p in theirs) and not any(p.exists() for p in ours)
    assert remove_leftovers(tmp_path / "missing") == []


def test_server_flags_are_read_from_the_command_line() -> None:
    argv = ["llama-server", "--model", "/m/gemma.gguf", "-c", "4096", "--flash-attn", "on", "-ctk", "q8_0",
            "--cache-type-v", "q8_0", "--parallel", "1", "--slot-save-path", "/s", "--swa-full", "--parallel", "2"]
    flags = ServerFlags.from_command(argv)
    assert flags == ServerFlags(model_path=Path("/m/gemma.gguf"), slot_save_path=Path("/s"), n_ctx=4096,
                                cache_type_k="q8_0", cache_type_v="q8_0", flash_attn="on", swa_full=True, parallel=2)
    assert ServerFlags.from_command(["llama-server", "-m", "x.gguf"]) == ServerFlags(model_path=Path("x.gguf"))
