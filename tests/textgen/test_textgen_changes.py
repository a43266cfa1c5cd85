"""When a textgen update changes what the extension relies on, it says so instead of silently stopping.

textgen/ is a private copy here, with modules/text_generation.py's ``_generate_reply`` renamed: the
hooks can then no longer tell a page generation from an API call.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from .textgen_page import INPUT, generate, open_textgen, status, wait_until_idle
from .textgen_server import TextgenServer


def rename_generate_reply(textgen_dir: Path) -> None:
    source = textgen_dir / "modules" / "text_generation.py"
    text, count = re.subn(r"\b_generate_reply\(", "_generate_reply_v2(", source.read_text(encoding="utf-8"))
    assert count == 2, f"expected the definition and one call of _generate_reply, found {count}"
    source.write_text(text, encoding="utf-8")


TEXTGEN = {"patch_textgen": rename_generate_reply,
           "settings": {"auto_max_new_tokens": False, "max_new_tokens": 16}}


def test_a_renamed_generation_function_is_reported_once(textgen: TextgenServer, context) -> None:
    """Issue 7.12: warn once in textgen's log and in the panel, however many generations follow."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    for prompt in ("The first generation after the update:", "The second generation after the update:"):
        generate(page, INPUT, prompt)
        wait_until_idle(page)
    warnings = [line.rstrip() for line in textgen.log_text().splitlines()
                if "Session Manager" in line and "WARNING" in line and "_generate_reply" in line]
    assert len(warnings) == 1, f"expected one warning naming _generate_reply in textgen's log, found {warnings}"
    expect(status(page)).to_contain_text("Warning", timeout=30_000)
