"""A restore and textgen's own save of its prompt file, in textgen's own Python with its own modules.

textgen saves the Default/Notebook text one second after its last change (a timer in
modules/ui_notebook.py). Text typed just before a Restore is still waiting in that timer when the Restore
writes the file; it must not land over the restored text, or a restart brings the typed text back.
No server and no page: the race is timed by textgen's timer, so the test calls what the page's events call.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .textgen_install import TextgenInstall

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys, time
from pathlib import Path
user_data, repo, restored, typed = sys.argv[1:5]
sys.argv = ["server.py", "--portable", "--user-data-dir", user_data]
sys.path[:0] = [".", repo]
from modules import shared, ui_notebook
from session_manager.hosts.textgen.prompts import PromptFiles
from session_manager.models import ModelInfo
from session_manager.recording.page_mirror import Page, PageContent

shared.user_data_dir = Path(user_data)
shared.settings["prompt-notebook"] = "story"
files = PromptFiles(Path(user_data))
ui_notebook.store_notebook_state_and_debounce(typed, "story")  # the typed text's change event
files.write_through(Page("tab/text"), PageContent(input_text=restored).to_checkpoint("manual", ModelInfo()))
time.sleep(1.5)  # textgen's pending save is due after 1 s
print(files.path("story").read_text(encoding="utf-8"))
"""


def test_text_typed_just_before_a_restore_does_not_overwrite_the_restored_prompt(
        textgen_install: TextgenInstall, tmp_path: Path) -> None:
    user_data = tmp_path / "user_data"
    (user_data / "logs" / "notebook").mkdir(parents=True)
    restored, typed = "The keeper's first log entry:", "Later notes, typed by hand."
    run = subprocess.run([str(textgen_install.python), "-c", SCRIPT, str(user_data), str(REPO), restored, typed],
                         cwd=textgen_install.textgen_dir, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.rstrip("\n") == restored, \
        f"textgen's pending save wrote the replaced text over the restored prompt: {run.stdout!r}"
