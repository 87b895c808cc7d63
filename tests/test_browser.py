"""The app in a real browser: headless Chromium (Debian's package) driven by Playwright, on offline tiny models.

Skipped, with the reason shown, only where Chromium or Playwright cannot be had.
"""

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.app

CHROMIUM = os.environ.get("T2VZ_CHROMIUM", "/usr/bin/chromium")
# Flags for a sandboxed, offline machine: no background traffic, no GPU, no first-run UI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TABS = ["Text2Video", "Pose", "Edge", "Edge + DreamBooth", "Depth", "Video Instruct-Pix2Pix", "ModelScope / Zeroscope"]
# The result's <video> has a source served by the app and its media has loaded (metadata at least).
RESULT_LOADED = """id => { const v = document.querySelector(`#${id} video`);
                            return !!v && v.src.includes('/file=') && v.readyState >= 1 && !v.error; }"""


@pytest.fixture(scope="module")
def page(tiny_models, tmp_path_factory):
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")

    from app import build_demo
    from model import Model
    from settings import Settings

    demo = build_demo(Model(settings=Settings.from_env().with_tiny_models()))
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(demo.local_url)
        try:
            yield page
        finally:
            page.screenshot(path=str(tmp_path_factory.mktemp("screens") / "last.png"), full_page=True)
            browser.close()
            demo.close()


def open_tab(page, name: str):
    page.get_by_role("tab", name=name, exact=True).click()
    panel = page.get_by_role("tabpanel").filter(visible=True).first
    panel.wait_for(state="visible")
    return panel


def test_every_tab_opens(page):
    for name in TABS:
        panel = open_tab(page, name)
        assert panel.get_by_role("button", name="Generate").or_(panel.get_by_role("button", name="Edit")).count()


def test_text2video_generates_a_playable_video(page, tmp_path):
    panel = open_tab(page, "Text2Video")
    panel.get_by_label("Prompt").fill("a horse galloping on a street")
    panel.get_by_role("button", name="Generate").click()
    page.wait_for_function(RESULT_LOADED, arg="text2video-result", timeout=120_000)
    page.screenshot(path=str(tmp_path / "text2video.png"), full_page=True)
    assert int(panel.get_by_label("Seed used").input_value()) == 0


def test_edge_tab_with_an_uploaded_video(page, tmp_path):
    from tabs.guided import example

    panel = open_tab(page, "Edge")
    panel.get_by_label("Clear").first.click()  # the tab starts with an example video; upload another
    panel.locator("input[type=file]").first.set_input_files(example("cat_zoom.mp4"))
    panel.get_by_label("Prompt").fill("a tiger, photorealistic")
    panel.get_by_role("button", name="Generate").click()
    page.wait_for_function(RESULT_LOADED, arg="canny-result", timeout=120_000)
    page.screenshot(path=str(tmp_path / "edge.png"), full_page=True)
