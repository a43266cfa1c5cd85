"""Drive the demo to a realistic state in headless Chromium and save menus_preview.png and the history's
pictures (docs/history_timeline.png, docs/history_diff.png, docs/history_stats.png).

Run: .venv/bin/python scripts/screenshot.py [output.png]

Starts the demo on a free port with a temporary data folder, writes a story, stops it, saves
labelled checkpoints, notes one and branches from it, steps back once, then captures the Notebook
tab (with the quick bar) above the Session Manager tab (sessions, checkpoints, the history), 1400 px
wide; then the timeline with its branches, a diff side by side, and the stats.
"""

from __future__ import annotations

import io
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from demo_server import CHROMIUM_ARGS, DemoServer  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

DOCS = ROOT / "docs"
WIDTH = 1400
PROMPT = "Once upon a time, in a village at the edge of a great forest, there lived a girl named Lily who"


def visible(page: Page, selector: str):
    return page.locator(f"{selector}:visible").first


def wait_stable(page: Page, selector: str, quiet_s: float = 1.5) -> None:
    box = page.locator(selector)
    last, since = box.input_value(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        time.sleep(0.25)
        now = box.input_value()
        if now != last:
            last, since = now, time.monotonic()


def generate(page: Page, button: str, seconds: float) -> None:
    page.click(button)
    time.sleep(seconds)
    page.click("#stop-default")
    wait_stable(page, "#output-textbox textarea")


def save_labelled(page: Page, label: str) -> None:
    page.get_by_role("tab", name="Session Manager").click()
    visible(page, ".sm-label").locator("textarea, input").first.fill(label)
    visible(page, ".sm-manager-save").click()
    picker = visible(page, ".sm-manager-picker").locator("input")
    expect(picker).to_have_value(re.compile(re.escape(f"“{label}”")), timeout=10_000)


def pick(page: Page, selector: str, text: str) -> None:
    visible(page, selector).locator("input").click()
    page.locator("ul.options li").filter(has_text=text).first.click()


def element(page: Page, selector: str, out: Path) -> None:
    """One part of the page, as the user sees it."""
    page.mouse.move(0, 0)
    time.sleep(0.4)
    visible(page, selector).screenshot(path=str(out))
    print(f"Wrote {out}")


def shoot(page: Page, clip_to: str = "footer") -> Image.Image:
    """The full page, cut just below clip_to (or above Gradio's footer)."""
    page.mouse.move(0, 0)
    time.sleep(0.4)
    png = page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if clip_to:
        box = page.locator(clip_to).last.bounding_box()
        if box:
            bottom = box["y"] - 8 if clip_to == "footer" else box["y"] + box["height"] + 24
            image = image.crop((0, 0, image.width, min(image.height, int(bottom))))
    return image


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="sm-screenshot-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        # Shipped settings: KV snapshots "always", so the picker and the KV line show them.
        server = DemoServer(data).start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": WIDTH, "height": 900}, device_scale_factor=1)
                page.set_default_timeout(20_000)
                page.goto(server.url)
                page.locator("#textbox-default textarea").wait_for(state="visible")
                page.wait_for_timeout(3000)

                page.get_by_role("tab", name="Parameters").click()
                page.get_by_label("seed (-1 = random)").fill("7")
                page.get_by_label("seed (-1 = random)").press("Tab")
                page.get_by_role("tab", name="Notebook").click()

                page.locator("#textbox-default textarea").fill(PROMPT)
                generate(page, "#generate-default", 3.0)
                expect(visible(page, ".sm-status")).to_contain_text("Saved on stop", timeout=8000)

                page.get_by_role("tab", name="Session Manager").click()
                visible(page, ".sm-name").locator("textarea, input").first.fill("Lily and the fox")
                visible(page, ".sm-rename").click()
                expect(visible(page, ".sm-status")).to_contain_text("Renamed", timeout=5000)
                save_labelled(page, "First draft")

                page.get_by_role("tab", name="Notebook").click()
                generate(page, "#continue-default", 2.5)
                expect(visible(page, ".sm-status")).to_contain_text("Saved on stop", timeout=8000)
                save_labelled(page, "Lily meets the fox")

                # The history: a note and a pin, a branch, one step back.
                page.get_by_role("tab", name="Session Manager").click()
                row = page.locator(".sm-tl-row:visible").filter(has_text="First draft").first
                when = row.locator(".sm-tl-time").inner_text()
                row.click()
                expect(visible(page, ".sm-mark-title")).to_contain_text(when, timeout=5000)  # the fields are its
                visible(page, ".sm-mark-note").locator("textarea").fill("Lily before she meets the fox")
                visible(page, ".sm-mark-pinned").locator("input").check()
                visible(page, ".sm-mark-save").click()
                expect(visible(page, ".sm-status")).to_contain_text("Pinned", timeout=5000)
                visible(page, ".sm-session-tags").locator("textarea").fill("fairy tale, draft")
                visible(page, ".sm-session-save").click()
                expect(visible(page, ".sm-status")).to_contain_text("Saved the session's notes", timeout=5000)
                visible(page, ".sm-name").locator("textarea, input").first.fill("Lily and the wolf")
                visible(page, ".sm-branch").click()
                expect(visible(page, ".sm-status")).to_contain_text("Branched", timeout=5000)
                page.locator(".sm-tree-node:visible").filter(has_text="Lily and the fox").first.click()
                expect(visible(page, ".sm-sessions").locator("input")).to_have_value(
                    re.compile("^Lily and the fox"), timeout=5000)
                page.get_by_role("tab", name="Notebook").click()
                visible(page, ".sm-back").click()
                expect(visible(page, ".sm-status")).to_contain_text("Back to", timeout=5000)
                time.sleep(1)

                # 1. Where people write: the Default view and its quick bar.
                top = shoot(page, clip_to=".sm-status:visible")

                # 2. The manager: sessions, checkpoints, the history.
                page.get_by_role("tab", name="Session Manager").click()
                time.sleep(1)
                bottom = shoot(page, clip_to=".sm-history")

                # 3. The history's pictures, one by one.
                DOCS.mkdir(exist_ok=True)
                element(page, ".sm-history", DOCS / "history_timeline.png")
                page.get_by_text("Compare two states (diff)").click()
                pick(page, ".sm-diff-from", "First draft")
                pick(page, ".sm-diff-to", "Lily meets the fox")
                visible(page, ".sm-diff-layout").get_by_text("side by side").click()
                visible(page, ".sm-diff-show").click()
                expect(visible(page, ".sm-diff-out").locator("ins").first).to_be_visible(timeout=5000)
                element(page, ".sm-diff-box", DOCS / "history_diff.png")
                page.get_by_text("Stats", exact=True).click()
                visible(page, ".sm-stats-count").click()
                expect(visible(page, ".sm-stats-out")).to_contain_text("All sessions", timeout=10_000)
                element(page, ".sm-stats-out", DOCS / "history_stats.png")
                browser.close()
        finally:
            server.stop()

    gap = 6
    sheet = Image.new("RGB", (WIDTH, top.height + gap + bottom.height), (203, 213, 225))
    sheet.paste(top, (0, 0))
    sheet.paste(bottom, (0, top.height + gap))
    sheet.save(out, optimize=True)
    print(f"Wrote {out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "menus_preview.png")
