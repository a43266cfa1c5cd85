"""API clients and the prompt cache: what a textgen restart, or two clients taking turns, costs.

The real textgen (llama.cpp loader, Gemma 3 270M, 2 threads) with Session Manager, driven through its
OpenAI-compatible API as SillyTavern drives it: every request sends the whole conversation. llama-server
runs with --metrics and --cache-ram 0 (no RAM prompt cache of its own), so its prompt_tokens_total says
how many prompt tokens it really read.

    (a) resume   a ~3,000-token conversation (a character card and scripted turns); textgen restarts; the
                 next message, streamed through /v1/chat/completions: time to the first streamed token
                 with the prompt cache (the folder put back as the first request left it while textgen is
                 stopped), and after another restart with the cache folder removed (re-reading);
                 each way --restarts times (3), the median reported
    (b) turns    two conversations taking turns, request by request: prompt tokens read per request
    (c) shared   one ~1,500-token system prompt, 20 different short questions (textgen restarts after the
                 tenth): how many requests read the system prompt

    SESSION_MANAGER_TEXTGEN=/path/to/install python bench/api_resume.py [--parts a,b,c]

Prints markdown tables, writes bench/results/api_resume-<textgen commit>.json, progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.textgen.textgen_install import find_or_install  # noqa: E402
from tests.textgen.textgen_server import TextgenServer  # noqa: E402

METRIC = "llamacpp:prompt_tokens_total"
LAUNCH_SETTLE_S = 20
CARD = ("You are Maren, the keeper of the Northern Cape lighthouse. You speak plainly, love the sea, keep a log of "
        "every ship that passes, and remember every storm since 1952. ") * 4
TOPICS = ["the winter storm of 1987", "the fog horn", "the lens and its brass fittings", "the supply boat",
          "the seabirds on the cliffs", "the night the lamp failed", "the old logbooks", "the keeper before you"]
RULES = ("Rule {i}: every visitor signs the logbook at the door, keeps to the marked path along the cliff, and "
         "leaves the lamp room to the keeper; the station log records weather, ships and the state of the lens. ")


class Client:
    """One API client of one textgen: every request sends the whole conversation."""

    def __init__(self, textgen: TextgenServer) -> None:
        self.textgen = textgen

    def chat(self, messages: list[dict[str, str]], max_tokens: int = 8) -> dict[str, Any]:
        """Streamed /v1/chat/completions: the reply, the time to its first token, and the tokens read."""
        before = self.textgen.llama_metrics()[METRIC]
        body = {"messages": messages, "max_tokens": max_tokens, "temperature": 0, "seed": 1, "stream": True,
                "stream_options": {"include_usage": True}}
        request = urllib.request.Request(f"http://127.0.0.1:{self.textgen.api_port}/v1/chat/completions",
                                         data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        started = time.perf_counter()
        first, reply = None, ""
        usage: dict[str, Any] = {}
        with urllib.request.urlopen(request, timeout=600) as response:
            for raw in response:
                line = raw.decode().strip()
                if not line.startswith("data:") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[5:])
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices", []):
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        first = first or time.perf_counter()
                        reply += content
        ended = time.perf_counter()
        read = self.textgen.llama_metrics()[METRIC] - before
        return {"first_token_ms": round(((first or ended) - started) * 1000, 1), "reply": reply, "read": int(read),
                "prompt_tokens": usage.get("prompt_tokens")}


def scripted_conversation(turns: int) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": CARD}]
    for i in range(turns):
        topic = TOPICS[i % len(TOPICS)]
        messages.append({"role": "user", "content": f"Tell me about {topic}, please. What do you remember?"})
        messages.append({"role": "assistant", "content": f"Ah, {topic}. " + (
            f"I remember it well: the keeper's log has {i + 3} pages on it, written by lamplight, and the wind "
            f"that year came from the north-east for {i + 2} days. ") * 3})
    return messages


def part_resume(textgen: TextgenServer, turns: int, restarts: int) -> dict[str, Any]:
    """Each restart is measured from the same prompt cache (the one the first request left) and the median
    is reported: one request's first token moves by ~100 ms from run to run on this machine."""
    client = Client(textgen)
    messages = scripted_conversation(turns) + [{"role": "user", "content": "What happened after that?"}]
    _progress(f"(a) first request of the conversation ({len(messages)} messages)")
    first = client.chat(messages)
    wait_for_entries(textgen)
    following = messages + [{"role": "assistant", "content": first["reply"]},
                            {"role": "user", "content": "And what did you write in the log that night?"}]
    cache = textgen.store_root / "prompt-cache"
    with tempfile.TemporaryDirectory(prefix="api-bench-cache-") as kept:
        shutil.copytree(cache, Path(kept) / "prompt-cache")
        cached, reread = [], []
        for r in range(restarts):
            _progress(f"(a) restart {r + 1} of {restarts}; the next message with the prompt cache")

            def as_first_left() -> None:  # the cache as the first request left it, not as the last one did
                shutil.rmtree(cache, ignore_errors=True)
                shutil.copytree(Path(kept) / "prompt-cache", cache)
            restart(textgen, while_stopped=as_first_left)
            cached.append(client.chat(following))
    for r in range(restarts):
        _progress(f"(a) restart {r + 1} of {restarts}; the same message with the prompt cache folder removed")
        restart(textgen, while_stopped=lambda: shutil.rmtree(cache, ignore_errors=True))
        reread.append(client.chat(following))
    middle_cached, middle_reread = _median_run(cached), _median_run(reread)
    return {"conversation_tokens": middle_cached["prompt_tokens"], "first_request": first, "cached": middle_cached,
            "reread": middle_reread, "cached_runs_ms": [r["first_token_ms"] for r in cached],
            "reread_runs_ms": [r["first_token_ms"] for r in reread],
            "speedup": round(middle_reread["first_token_ms"] / middle_cached["first_token_ms"], 1)}


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda run: run["first_token_ms"])[len(runs) // 2]


def part_turns(textgen: TextgenServer, rounds: int) -> dict[str, Any]:
    client = Client(textgen)
    conversations = [scripted_conversation(4), scripted_conversation(4)]  # other cards than (a)'s: no shared start
    conversations[0][0] = {"role": "system", "content": CARD.replace("Maren", "Edda").replace("Northern", "Eastern")}
    conversations[1][0] = {"role": "system", "content": CARD.replace("Maren", "Ilse").replace("Northern", "Western")}
    runs: list[list[dict[str, Any]]] = [[], []]
    for r in range(rounds):
        for which, messages in enumerate(conversations):
            _progress(f"(b) round {r + 1}, conversation {'AB'[which]}")
            messages.append({"role": "user", "content": f"Question {r + 1}: what did the log say about it?"})
            run = client.chat(messages)
            messages.append({"role": "assistant", "content": run["reply"]})
            runs[which].append({k: run[k] for k in ("read", "prompt_tokens", "first_token_ms")})
    return {"A": runs[0], "B": runs[1]}


def part_shared(textgen: TextgenServer, questions: int) -> dict[str, Any]:
    client = Client(textgen)
    system = "".join(RULES.format(i=i) for i in range(1, 38))
    runs = []
    for i in range(questions):
        if i == questions // 2:
            _progress("(c) restart")
            wait_for_entries(textgen)
            restart(textgen)
        _progress(f"(c) question {i + 1}")
        run = client.chat([{"role": "system", "content": system},
                           {"role": "user", "content": f"Question {i + 1}: what does rule {i + 1} ask of visitors?"}])
        runs.append({k: run[k] for k in ("read", "prompt_tokens", "first_token_ms")})
    system_tokens = min(r["prompt_tokens"] for r in runs) - 30
    return {"system_tokens_about": system_tokens, "runs": runs,
            "system_prompt_reads": sum(1 for r in runs if r["read"] >= system_tokens // 2)}


def restart(textgen: TextgenServer, attempts: int = 4, while_stopped: Callable[[], None] | None = None) -> None:
    """(Re)start, and let Gradio's own launch check (up to 5 HEAD requests of 3 s each, after textgen has
    answered) pass: on a saturated machine it can time out and end textgen, even after the harness saw it start.
    ``while_stopped`` changes the prompt cache folder as a user's would be when textgen starts."""
    for _ in range(attempts):
        textgen.stop()
        if while_stopped is not None:
            while_stopped()
        try:
            textgen.start()
        except RuntimeError as exc:
            _progress(f"textgen did not start ({str(exc).splitlines()[0]}); starting it again")
            continue
        deadline = time.monotonic() + LAUNCH_SETTLE_S
        while time.monotonic() < deadline and textgen.proc is not None and textgen.proc.poll() is None:
            time.sleep(0.5)
        if textgen.proc is not None and textgen.proc.poll() is None:
            return
        _progress("textgen ended during Gradio's launch check; starting it again")
    raise RuntimeError("textgen did not stay up")


def wait_for_entries(textgen: TextgenServer, timeout: float = 120) -> None:
    """The entry of the last request is saved once the engine is idle: before a restart, wait for it."""
    folder = textgen.store_root / "prompt-cache"
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        sizes = sum(p.stat().st_size for p in folder.glob("*/*.kv"))
        if sizes and sizes == seen:
            return
        seen = sizes
        time.sleep(1.0)
    raise RuntimeError("the prompt cache saved nothing")


def tables(result: dict[str, Any]) -> str:
    out = []
    if "resume" in result:
        a = result["resume"]
        out += ["| (a) after a restart, streamed | conversation tokens | first token (median) | prompt tokens read |",
                "|---|---:|---:|---:|",
                f"| with the prompt cache | {a['conversation_tokens']:,} | {a['cached']['first_token_ms']:,.0f} ms "
                f"| {a['cached']['read']:,} |",
                f"| re-reading | {a['conversation_tokens']:,} | {a['reread']['first_token_ms']:,.0f} ms "
                f"| {a['reread']['read']:,} |",
                f"| faster | | {a['speedup']:.0f}x | |", "",
                f"(a) first token in each of {len(a['cached_runs_ms'])} restarts, with the cache: "
                f"{', '.join(f'{ms:,.0f}' for ms in a['cached_runs_ms'])} ms; re-reading: "
                f"{', '.join(f'{ms:,.0f}' for ms in a['reread_runs_ms'])} ms (the median above)", ""]
    if "turns" in result:
        b = result["turns"]
        out += ["| (b) two conversations taking turns | prompt tokens per request (read / sent) |", "|---|---|"]
        for name in ("A", "B"):
            out.append(f"| {name} | " + ", ".join(f"{r['read']:,} / {r['prompt_tokens']:,}" for r in b[name]) + " |")
        out.append("")
    if "shared" in result:
        c = result["shared"]
        reads = [r["read"] for r in c["runs"]]
        out += ["| (c) shared system prompt | system prompt (tokens) | requests that read it "
                "| tokens read per request |", "|---|---:|---:|---|",
                f"| {len(reads)} questions, a restart after the {len(reads) // 2}th | ~{c['system_tokens_about']:,} "
                f"| {c['system_prompt_reads']} of {len(reads)} | {', '.join(map(str, reads))} |"]
    return "\n".join(out)


def main() -> None:
    args = _parse_args()
    install = find_or_install(_progress)
    commit = (install.textgen_dir / ".commit").read_text().strip() if (install.textgen_dir / ".commit").exists() \
        else "unknown"
    started, load_before = time.time(), os.getloadavg()
    result: dict[str, Any] = {"textgen": commit, "model": install.model.name, "threads": 2,
                              "cpu_count": os.cpu_count(), "machine": platform.platform()}
    with tempfile.TemporaryDirectory(prefix="api-bench-") as work:
        textgen = TextgenServer(install, args.workdir or Path(work), api=True, extra_flags="--metrics --cache-ram 0")
        try:
            restart(textgen)
            if "a" in args.parts:
                result["resume"] = part_resume(textgen, args.turns, args.restarts)
            if "b" in args.parts:
                result["turns"] = part_turns(textgen, args.rounds)
            if "c" in args.parts:
                result["shared"] = part_shared(textgen, args.questions)
        finally:
            textgen.stop()
    result.update(loadavg_before=load_before, loadavg_after=os.getloadavg(), seconds=round(time.time() - started),
                  started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)))
    out = args.out or ROOT / "bench" / "results" / f"api_resume-{commit}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(tables(result))
    _progress(f"wrote {out}")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="a,b,c", help="which parts to run: a (resume), b (turns), c (shared)")
    parser.add_argument("--turns", type=int, default=18, help="(a) scripted turns: 18 make about 3,000 tokens")
    parser.add_argument("--restarts", type=int, default=3, help="(a) restarts measured each way (median)")
    parser.add_argument("--rounds", type=int, default=3, help="(b) requests per conversation")
    parser.add_argument("--questions", type=int, default=20, help="(c) questions")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep textgen's folder and logs here")
    return parser.parse_args()


if __name__ == "__main__":
    main()
