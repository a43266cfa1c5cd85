"""Session files of the original session_manager extension (github bekkayya/session_manager).

It kept each session as one JSON file, ``extensions/session_manager/output/<name>.json``, named
``<%Y-%m-%d@%H-%M-%S>_<first words of the prompt>`` padded with part of a uuid. The file maps
checkpoint times (same stamp, local time) to::

    {"model": "<model name>", "prompt": "<input>", "reply": "<text>",
     "parameters": {<textgen's interface state: sampling and model settings>,
                    "output_textbox": "<page output>", "textbox-default": "<input>"}}

``reply`` is the continuation when the checkpoint was made at the end of a generation, and the
whole output box when it was made by hand. ``"auto_save"`` holds the rolling autosave,
``{"timestamp", "prompt", "reply"}`` with the continuation only; the extension restored it with
the newest checkpoint's parameters and model, and so does this reader.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ..errors import NothingToImport
from ..models import Checkpoint, ModelInfo, new_checkpoint_id
from ..store.bundle import SessionBundle
from .bundle_builder import has_text, session_bundle
from .common import Source, parse_time, require

AUTOSAVE_KEY = "auto_save"
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}@\d{2}-\d{2}-\d{2}$")
_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2}@\d{2}-\d{2}-\d{2})_(.*)$")
# new_session() padded the part after the stamp to 37 characters with the start of "_" + a uuid4.
_PADDING_TEMPLATE = "_xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
# Page text, not parameters: the checkpoint holds it as its text.
_TEXT_KEYS = {"output_textbox", "textbox-default", "textbox-notebook", "textbox", "prompt_menu-default",
              "prompt_menu-notebook", "history"}
# textgen's model-menu elements (old and current names): the model settings of a checkpoint.
_MODEL_KEYS = {
    "loader", "filter_by_loader", "cpu_memory", "gpu_memory", "auto_devices", "disk", "cpu", "bf16", "load_in_8bit",
    "load_in_4bit", "trust_remote_code", "no_use_fast", "use_flash_attention_2", "use_eager_attention",
    "compute_dtype", "quant_type", "use_double_quant", "wbits", "groupsize", "triton", "desc_act",
    "no_inject_fused_mlp", "no_use_cuda_fp16", "disable_exllama", "disable_exllamav2", "cfg_cache", "no_flash_attn",
    "no_xformers", "no_sdpa", "num_experts_per_token", "cache_8bit", "cache_4bit", "autosplit", "enable_tp", "threads",
    "threads_batch", "n_batch", "batch_size", "ubatch_size", "no_mmap", "mlock", "no_mul_mat_q", "n_gpu_layers",
    "gpu_layers", "tensor_split", "n_ctx", "ctx_size", "max_seq_len", "gpu_split", "compress_pos_emb", "alpha_value",
    "rope_freq_base", "numa", "logits_all", "no_offload_kqv", "no_kv_offload", "row_split", "tensorcores",
    "flash_attn", "streaming_llm", "attention_sink_size", "cache_type", "split_mode", "extra_flags", "parallel",
    "attn_implementation", "cpu_moe", "fit_target", "model_draft", "draft_max", "gpu_layers_draft", "device_draft",
    "ctx_size_draft", "mmproj", "ik", "hqq_backend", "llama_cpp_seed",
}


def looks_like_legacy(data: Any) -> bool:
    """A JSON object whose keys are checkpoint stamps (or the autosave) and whose values are objects."""
    if not isinstance(data, dict) or not data:
        return False
    keys = [key for key in data if key != AUTOSAVE_KEY]
    return all(isinstance(key, str) and _STAMP.match(key) for key in keys) and all(
        isinstance(value, dict) for value in data.values())


def read_legacy(source: Source) -> SessionBundle:
    """One session of the original extension as a bundle; ImportFailed says why when it cannot be one."""
    data = source.json
    name = source.name
    require(isinstance(data, dict), f"{name} is not a session file of the original session_manager extension "
                                    "(it holds no checkpoints)")
    if not data:
        raise NothingToImport(f"{name} is an empty session: it has no checkpoints")
    require(looks_like_legacy(data), f"{name} is not a session file of the original session_manager extension "
                                     "(expected checkpoints keyed by time)")
    stamps = sorted(key for key in data if key != AUTOSAVE_KEY)
    checkpoints = [_checkpoint(name, key, data[key], source.mtime) for key in stamps]
    newest = checkpoints[-1] if checkpoints else None
    autosave = _autosave(name, data.get(AUTOSAVE_KEY), newest, source.mtime)
    kept = [c for c in checkpoints if has_text(c)]
    if not kept and autosave is None:
        raise NothingToImport(f"{name} is an empty session: none of its {len(checkpoints)} checkpoint(s) "
                              "holds any text")
    label, named_at = _name_and_time(source.path.stem)
    starts = [c.created for c in kept] + ([named_at] if named_at else [])
    return session_bundle(label, kept, origin=source.origin, mode="default", autosave=autosave,
                          created=min(starts) if starts else None)


def _checkpoint(file: str, key: str, entry: dict[str, Any], fallback: datetime) -> Checkpoint:
    prompt = _text(file, key, entry, "prompt")
    reply = _text(file, key, entry, "reply")
    model_name = _text(file, key, entry, "model")
    parameters = entry.get("parameters")
    parameters = {} if parameters is None else parameters
    require(isinstance(parameters, dict), f"{file}: checkpoint {key} has parameters that are not an object")
    page_output = parameters.get("output_textbox") if isinstance(parameters.get("output_textbox"), str) else ""
    page_input = parameters.get("textbox-default") if isinstance(parameters.get("textbox-default"), str) else ""
    input_text = prompt or page_input or ""
    whole = bool(reply) and (reply == page_output or (bool(input_text) and reply.startswith(input_text)))
    if whole:
        output_text, trigger = reply, "manual"
    elif reply:
        output_text, trigger = input_text + reply, "stop"
    else:
        output_text, trigger = page_output, "manual"
    created = parse_time(key) or fallback
    return Checkpoint(id=new_checkpoint_id(created), created=created, mode="default", trigger=trigger,
                      input_text=input_text, output_text=output_text, params=_params(parameters),
                      model=_model(model_name, parameters), seed=_seed(parameters))


def _autosave(file: str, entry: Any, newest: Checkpoint | None, fallback: datetime) -> Checkpoint | None:
    if entry is None:
        return None
    require(isinstance(entry, dict), f"{file}: its autosave is not an object")
    prompt = _text(file, AUTOSAVE_KEY, entry, "prompt") or ""
    reply = _text(file, AUTOSAVE_KEY, entry, "reply") or ""
    if not (prompt.strip() or reply.strip()):
        return None
    created = parse_time(entry.get("timestamp")) or fallback
    base = {"params": newest.params, "model": newest.model, "seed": newest.seed} if newest else {}
    return Checkpoint(id=new_checkpoint_id(created), created=created, mode="default", trigger="autosave",
                      input_text=prompt, output_text=prompt + reply, **base)


def _text(file: str, key: str, entry: dict[str, Any], field: str) -> str | None:
    value = entry.get(field)
    require(value is None or isinstance(value, str), f"{file}: checkpoint {key} has a {field} that is not text")
    return None if value in (None, "None") and field == "model" else value


def _params(parameters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in parameters.items() if k not in _TEXT_KEYS and k not in _MODEL_KEYS}


def _model(name: str | None, parameters: dict[str, Any]) -> ModelInfo:
    loader = parameters.get("loader")
    settings = {k: v for k, v in parameters.items() if k in _MODEL_KEYS and k not in ("loader", "filter_by_loader")}
    return ModelInfo(name=name or None, loader=loader if isinstance(loader, str) else None, settings=settings)


def _seed(parameters: dict[str, Any]) -> int | None:
    seed = parameters.get("seed")
    return int(seed) if isinstance(seed, (int, float)) and not isinstance(seed, bool) else None


def _name_and_time(stem: str) -> tuple[str, datetime | None]:
    """The label and creation time from a file name; a renamed file keeps its name as the label."""
    match = _NAME.match(stem)
    if not match:
        return stem, None
    stamp, tail = match.groups()
    label = " ".join(_strip_padding(tail).replace("_", " ").split())
    day, clock = stamp.split("@")
    return label or f"Session of {day} {clock.replace('-', ':')}", parse_time(stamp)


def _strip_padding(tail: str) -> str:
    """Drop the longest end of ``tail`` that is a start of "_<uuid4>" (file names of 37 characters or more)."""
    if len(tail) < len(_PADDING_TEMPLATE):
        return tail
    for size in range(len(_PADDING_TEMPLATE), 0, -1):
        if _is_padding(tail[-size:]):
            return tail[:-size]
    return tail


def _is_padding(end: str) -> bool:
    template = _PADDING_TEMPLATE[:len(end)]
    return all(ch == t if t in "_-" else ch in "0123456789abcdef" for ch, t in zip(end, template, strict=True))
