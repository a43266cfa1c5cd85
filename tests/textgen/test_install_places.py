"""Where textgen finds the extension: its own extensions/ folder instead of user_data/extensions/.

textgen/ is a private copy here (the shared install's folder is left as it is), with the
extension linked in as extensions/session_manager.
"""

from __future__ import annotations

from playwright.sync_api import expect

from .textgen_page import INPUT, generate, new_stop_checkpoint, open_textgen, status, wait_until_idle
from .textgen_server import SETUP_LINE, TextgenServer

TEXTGEN = {"extension_in": "textgen", "settings": {"auto_max_new_tokens": False, "max_new_tokens": 16}}


def test_the_extension_runs_from_textgens_own_extensions_folder(textgen: TextgenServer, context) -> None:
    assert (textgen.textgen_dir / "extensions" / "session_manager" / "script.py").exists()
    assert not (textgen.user_data / "extensions" / "session_manager").exists()
    assert f"{SETUP_LINE} {textgen.store_root}" in textgen.log_text()
    page = context.new_page()
    open_textgen(page, textgen.url)
    generate(page, INPUT, "Loaded from the extensions folder, the extension saves this:")
    wait_until_idle(page)
    _, checkpoint = new_stop_checkpoint(textgen.store(), 0)
    assert checkpoint.input_text == "Loaded from the extensions folder, the extension saves this:"
    expect(status(page)).to_contain_text("Saved on stop", timeout=30_000)
