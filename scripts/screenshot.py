"""Drive the demo to a realistic state in headless Chromium and save menus_preview.png.

Run: .venv/bin/python scripts/screenshot.py [output.png]

Starts the demo on a free port with a temporary data folder, writes a story, stops it, saves
labelled checkpoints, then captures the Notebook tab (with the quick bar) above the Session
Manager tab (session list, checkpoint picker, JSON preview), 1400 px wide.
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

                # 1. Where people write: the Default view and its quick bar.
                page.get_by_role("tab", name="Notebook").click()
                time.sleep(1)
                top = shoot(page, clip_to=".sm-status:visible")

                # 2. The manager: sessions, checkpoint picker, JSON preview.
                page.get_by_role("tab", name="Session Manager").click()
                page.get_by_text("Checkpoint JSON").click()
                expect(visible(page, ".cm-content")).to_contain_text('"label": "Lily meets the fox"')
                time.sleep(0.5)
                bottom = shoot(page)
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
