"""The app in a real browser: headless Chromium (Debian's package) driven by Playwright, on offline tiny models.

Skipped, with the reason shown, only where Chromium or Playwright cannot be had.
"""

import dataclasses
import json
import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = [pytest.mark.app, pytest.mark.slow]

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
TRANSFORMERS = "Video transformers"
TABS = [
    "Text2Video",
    "Pose",
    "Edge",
    "Edge + DreamBooth",
    "Depth",
    "Video Instruct-Pix2Pix",
    TRANSFORMERS,
    "ModelScope / Zeroscope",
]
INNER = {TRANSFORMERS: "Trained video", "ModelScope / Zeroscope": "Trained video"}  # tabs inside a tab
# The result's <video> has a source served by the app and its media has loaded (metadata at least).
RESULT_LOADED = """id => { const v = document.querySelector(`#${id} video`);
                            return !!v && v.src.includes('/file=') && v.readyState >= 1 && !v.error; }"""


@pytest.fixture(scope="module")
def app(tiny_models, tmp_path_factory):
    """The app on tiny models (its Model, its URL) and a headless browser."""
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")

    from app import build_demo
    from model import Model
    from settings import Settings

    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models(), output_dir=tmp_path_factory.mktemp("browser-outputs")
    )
    model = Model(settings=settings)
    demo = build_demo(model)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield model, demo.local_url, browser
        finally:
            browser.close()
            demo.close()


def new_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(url)
    return page


@pytest.fixture(scope="module")
def page(app, tmp_path_factory):
    _, url, browser = app
    page = new_page(browser, url)
    try:
        yield page
    finally:
        page.screenshot(path=str(tmp_path_factory.mktemp("screens") / "last.png"), full_page=True)


def open_tab(page, name: str):
    """Open a tab (the tab around it first, for a tab inside a tab); its panel."""
    if name in INNER:
        page.get_by_role("tab", name=INNER[name], exact=True).click()
    page.get_by_role("tab", name=name, exact=True).click()
    visible = page.get_by_role("tabpanel").filter(visible=True)
    panel = visible.last if name in INNER else visible.first  # the innermost: after its outer panel
    panel.wait_for(state="visible")
    return panel


def open_section(panel, title: str) -> None:
    """Open (or close) a tab's closed section by its title."""
    title_only = re.compile(rf"^\s*{re.escape(title)}\s*▼?\s*$")  # the header shows the title and an arrow
    panel.locator("button.label-wrap").filter(has_text=title_only).first.click()


def test_every_tab_opens(page):
    for name in TABS:
        panel = open_tab(page, name)
        assert panel.get_by_role("button", name="Generate").or_(panel.get_by_role("button", name="Edit")).count()


def test_text2video_generates_a_playable_video(page, tmp_path):
    panel = open_tab(page, "Text2Video")
    panel.get_by_label("Prompt", exact=True).fill("a horse galloping on a street")
    panel.get_by_role("button", name="Generate").click()
    page.wait_for_function(RESULT_LOADED, arg="text2video-result", timeout=120_000)
    page.screenshot(path=str(tmp_path / "text2video.png"), full_page=True)
    assert int(panel.get_by_label("Seed used").input_value()) == 0


def test_edge_tab_with_an_uploaded_video(page, tmp_path):
    from tabs.guided import example

    panel = open_tab(page, "Edge")
    panel.get_by_label("Clear").first.click()  # the tab starts with an example video; upload another
    panel.locator("input[type=file]").first.set_input_files(example("cat_zoom.mp4"))
    panel.get_by_label("Prompt", exact=True).fill("a tiger, photorealistic")
    panel.get_by_role("button", name="Generate").click()
    page.wait_for_function(RESULT_LOADED, arg="canny-result", timeout=120_000)
    page.screenshot(path=str(tmp_path / "edge.png"), full_page=True)


@pytest.fixture
def slow_steps(monkeypatch):
    """Every denoising step takes `delay[0]` s more (0.3), and is counted: a generation long enough to stop."""
    import model as model_module
    from utils.jobs import on_step

    steps: list[int] = []
    running = threading.Event()
    delay = [0.3]

    def slow_step(pipe, step, timestep, tensors):
        steps.append(step)
        running.set()
        time.sleep(delay[0])
        return on_step(pipe, step, timestep, tensors)

    monkeypatch.setattr(model_module, "on_step", slow_step)
    return steps, running, delay


def wait_for_new_result(page, elem_id: str, before: str, timeout: float = 120_000) -> None:
    """Wait until the result box `elem_id` plays a video other than `before` (its src before the click)."""
    page.wait_for_function(
        f"id => ({RESULT_LOADED})(id) && document.querySelector(`#${{id}} video`).src !== {before!r}",
        arg=elem_id,
        timeout=timeout,
    )


def wait_until_stopped(model, steps: list[int]) -> int:
    """Wait for the worker to let go of the device; the number of steps it ran, which must then stay put."""
    assert model._lock.acquire(timeout=60)
    model._lock.release()
    stopped_at = len(steps)
    time.sleep(0.7)
    assert len(steps) == stopped_at
    return stopped_at


def test_stop_ends_a_running_generation_and_the_next_one_runs(app, page, slow_steps):
    model, _, _ = app
    steps, running, _ = slow_steps
    outputs = set(model.settings.output_dir.iterdir())
    panel = open_tab(page, "Text2Video")
    before = page.evaluate("() => document.querySelector('#text2video-result video')?.src || ''")
    panel.get_by_label("Prompt", exact=True).fill("a long walk")
    panel.get_by_role("button", name="Generate").click()
    assert running.wait(60)
    panel.get_by_role("button", name="Stop").click()
    assert wait_until_stopped(model, steps) < 10  # the tiny profile's 10 steps were not all run
    assert set(model.settings.output_dir.iterdir()) == outputs  # nothing written
    # In place of the result: where it stopped, counted in the steps the user asked for; no old video or seed.
    note = page.locator("#text2video-result-status")
    note.wait_for(state="visible", timeout=30_000)
    assert re.fullmatch(r"Stopped at step \d+ of 10; nothing was written\.", note.inner_text().strip())
    assert not page.locator("#text2video-result video").is_visible()
    assert panel.get_by_label("Seed used").input_value() == ""
    assert panel.get_by_role("button", name="Stop").is_disabled()
    steps.clear()
    panel.get_by_role("button", name="Generate").click()  # the worker is free for the next request
    wait_for_new_result(page, "text2video-result", before, timeout=120_000)
    new = set(model.settings.output_dir.iterdir()) - outputs
    assert len(steps) >= 10 and sorted(path.suffix for path in new) == [".json", ".mp4"]  # the video and its card
    assert not page.locator("#text2video-result-status").is_visible()


def test_stop_is_active_only_while_a_generation_runs(app, page, slow_steps):
    _, running, _ = slow_steps
    panel = open_tab(page, "Text2Video")
    stop = panel.get_by_role("button", name="Stop")
    assert stop.is_disabled()
    panel.get_by_label("Prompt", exact=True).fill("a paper boat on a river")
    panel.get_by_role("button", name="Generate").click()
    assert running.wait(60)
    page.wait_for_function("e => !e.disabled", arg=stop.element_handle(), timeout=10_000)
    page.wait_for_function("e => e.disabled", arg=stop.element_handle(), timeout=120_000)  # after the result


def test_every_result_offers_its_card_and_the_card_makes_the_clip_again(app, page, tmp_path):
    import json

    model, _, _ = app
    panel = open_tab(page, "Text2Video")
    panel.get_by_label("Prompt", exact=True).fill("a card for a cormorant")
    link = page.locator("#text2video-result-card a").first
    earlier = link.get_attribute("href") if link.is_visible() else None  # an earlier result's card
    panel.get_by_role("button", name="Generate").click()
    page.wait_for_function(
        f"() => {{ const a = document.querySelector('#text2video-result-card a');"
        f" return !!a && a.offsetParent !== null && a.getAttribute('href') !== {json.dumps(earlier)}; }}",
        timeout=120_000,
    )
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "card.json"
    download.value.save_as(saved)
    card = json.loads(saved.read_text())
    assert card["mode"] == "text2video" and card["parameters"]["prompt"] == "a card for a cormorant"
    # The downloaded card, dropped back, fills the controls.
    panel.get_by_label("Prompt", exact=True).fill("something else")
    panel.locator("#text2video-card input[type=file]").set_input_files(str(saved))
    prompt = panel.get_by_label("Prompt", exact=True)
    page.wait_for_function("e => e.value === 'a card for a cormorant'", arg=prompt.element_handle(), timeout=10_000)
    panel.locator("#text2video-card").get_by_label("Clear").click()  # the box takes the next card


def test_an_error_leaves_no_empty_preview_and_stop_inactive(app, page):
    panel = open_tab(page, "Text2Video")
    panel.get_by_label("Prompt", exact=True).fill("")  # refused: a prompt is needed
    panel.get_by_role("button", name="Generate").click()
    page.get_by_text("prompt", exact=False).filter(has_text="Error").or_(page.locator(".toast-body")).first.wait_for(
        timeout=30_000
    )
    page.wait_for_timeout(1500)  # past the preview timer's ticks
    assert not page.locator("#text2video-result-preview").is_visible()
    assert panel.get_by_role("button", name="Stop").is_disabled()


def test_closing_the_tab_stops_its_generation(app, slow_steps, monkeypatch):
    model, url, browser = app
    steps, running, delay = slow_steps
    delay[0] = 1.0
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "1")  # how soon the server notices a closed tab
    outputs = set(model.settings.output_dir.iterdir())
    closing = new_page(browser, url)
    panel = open_tab(closing, "Text2Video")
    panel.get_by_label("Prompt", exact=True).fill("nobody will watch this")
    panel.get_by_role("button", name="Generate").click()
    assert running.wait(60)
    closing.close()
    assert wait_until_stopped(model, steps) < 10
    assert set(model.settings.output_dir.iterdir()) == outputs


SCREENS = os.environ.get("T2VZ_SCREENSHOTS")  # where the screenshots of every tab go (default: pytest's tmp)
PROGRESS = """id => Array.from(document.querySelectorAll(`#${id} [data-testid=status-tracker]`))
                         .map(e => e.innerText.replace(/\\s+/g, ' ')).join(' ')"""


def test_progress_advances_through_the_steps_then_the_writing(app, page, slow_steps, monkeypatch):
    from pipelines.base import VideoPipelineBase
    from utils.video import VideoWriter

    original = VideoWriter.write

    def slow_write(self, frames):
        time.sleep(0.4)
        return original(self, frames)

    monkeypatch.setattr(VideoWriter, "write", slow_write)
    # The anchor's bar is open for one step (one callback's 0.3 s): held 1.5 s, so a busy machine's page still sees it.
    bar = VideoPipelineBase.extra_steps_bar

    @contextmanager
    def held_bar(self, total, what):
        with bar(self, total, what) as opened:
            yield opened
            time.sleep(1.5)

    monkeypatch.setattr(VideoPipelineBase, "extra_steps_bar", held_bar)
    panel = open_tab(page, "Text2Video")
    before = page.evaluate("() => document.querySelector('#text2video-result video')?.src || ''")
    panel.get_by_label("Prompt", exact=True).fill("a walk in the park")
    panel.get_by_role("button", name="Generate").click()
    texts: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = page.evaluate(PROGRESS, "text2video-result")
        if text and (not texts or texts[-1] != text):
            texts.append(text)
        if page.evaluate("() => document.querySelector('#text2video-result video')?.src || ''") not in ("", before):
            break
        page.wait_for_timeout(100)
    steps = {m for t in texts if "Generating" in t for m in re.findall(r"(\d+)/\d+ steps", t)}
    assert len(steps) >= 3, texts  # the step count advances on the page
    # Counted in the steps the user set (the tiny profile's 10); the anchor's extra steps on a bar of their own.
    totals = {int(total) for t in texts for total in re.findall(r"\d+/(\d+) steps", t)}
    assert 10 in totals and all(total <= 10 for total in totals), texts
    assert any("Anchor frame" in t for t in texts), texts
    assert any("Writing the video" in t for t in texts), texts  # then the second phase


def test_a_webm_result_plays_in_the_page(app, page):
    panel = open_tab(page, "Text2Video")
    before = page.evaluate("() => document.querySelector('#text2video-result video')?.src || ''")
    panel.get_by_label("Prompt", exact=True).fill("a boat at sea")
    open_section(panel, "Output")
    panel.get_by_label("webm").check()
    panel.get_by_role("button", name="Generate").click()
    wait_for_new_result(page, "text2video-result", before, timeout=120_000)
    assert page.evaluate("() => document.querySelector('#text2video-result video').src").endswith(".webm")
    panel.get_by_label("mp4").check()
    open_section(panel, "Output")


def test_the_pose_photo_example_runs_with_its_pose_detected(app, page):
    panel = open_tab(page, "Pose")
    before = page.evaluate("() => document.querySelector('#pose-result video')?.src || ''")
    panel.get_by_text("a woman in a red dress, oil painting").click()  # the photo example
    skeleton = panel.get_by_label("The video already is a skeleton drawing (use it as it is)")
    page.wait_for_function("e => !e.checked", arg=skeleton.element_handle(), timeout=10_000)
    assert panel.get_by_label("Prompt", exact=True).input_value() == "a woman in a red dress, oil painting"
    panel.get_by_role("button", name="Generate").click()
    wait_for_new_result(page, "pose-result", before, timeout=180_000)
    assert not page.get_by_text("No person was found").count()  # the detector found the astronaut


def test_switching_styles_replaces_the_trigger_and_examples_set_the_style(app, page):
    panel = open_tab(page, "Edge + DreamBooth")
    prompt = panel.get_by_label("Prompt", exact=True)
    assert prompt.input_value() == "1girl, "  # the first style's trigger from the start
    prompt.fill("1girl, a dancer on a stage")
    panel.get_by_label("Arcane").check()
    page.wait_for_function("e => e.value === 'arcane style, a dancer on a stage'", arg=prompt.element_handle())
    panel.get_by_label("GTA-5").check()
    page.wait_for_function("e => e.value === 'gtav style, a dancer on a stage'", arg=prompt.element_handle())
    panel.get_by_text("avatar style, a cup of coffee on a wooden table").click()
    page.wait_for_function(
        "e => e.value === 'avatar style, a cup of coffee on a wooden table'", arg=prompt.element_handle()
    )
    assert panel.get_by_label("Avatar").is_checked()  # the example's style, so its model, comes with it
    # The examples table reads as a table: short column names (the controls' labels), the prompts in full.
    headers = [h.inner_text().strip() for h in panel.locator("table thead th").all()]
    assert headers == ["Input video", "Prompt", "Style", "DreamBooth model"], headers
    rows = panel.locator("table tbody tr")
    assert "arcane style, a cat looking into the camera" in rows.nth(1).inner_text()


def test_generate_right_after_an_example_click_uses_the_example(app):
    """The example's values come back from the server; the generation goes after the page's own first listener,
    one round trip later, and reads them."""
    from tabs.text2video import EXAMPLES

    _, url, browser = app
    fresh = new_page(browser, url)
    try:
        panel = open_tab(fresh, "Text2Video")
        assert panel.get_by_label("Prompt", exact=True).input_value() == ""
        panel.get_by_text(EXAMPLES[1]).click()
        panel.get_by_role("button", name="Generate").click(no_wait_after=True)
        fresh.wait_for_function(RESULT_LOADED, arg="text2video-result", timeout=120_000)  # no empty-prompt error
        assert panel.get_by_label("Prompt", exact=True).input_value() == EXAMPLES[1]
    finally:
        fresh.close()


def test_a_typed_value_beyond_a_slider_is_set_to_its_bound_with_a_note(page):
    panel = open_tab(page, "Text2Video")
    box = panel.get_by_label("number input for Video length (frames)")
    box.fill("9999")
    panel.get_by_label("Prompt", exact=True).first.click()  # leaving the box sets it
    assert box.input_value() == "128"
    note = panel.locator(".t2vz-clamp-note")
    assert note.inner_text() == "Video length (frames): 9999 is above its maximum, 128; it is set to 128."
    box.fill("8")


def test_examples_cached_lazily_are_made_on_the_first_click_only(app, tmp_path):
    """On real models the examples are cached lazily (T2VZ_CACHE_EXAMPLES); here the tiny ones stand in."""
    from app import build_demo
    from model import Model
    from settings import Settings
    from tabs.text2video import EXAMPLES

    _, _, browser = app
    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models(),
        output_dir=tmp_path / "outputs",
        cache_examples=True,
        examples_cache_dir=tmp_path / "examples",
    )
    model = Model(settings=settings)
    calls = []
    original = model.text2video
    model.text2video = lambda **kwargs: calls.append(kwargs["prompt"]) or original(**kwargs)  # type: ignore[method-assign]
    demo = build_demo(model)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        for _visitor in range(2):  # two visitors click the same example
            page = new_page(browser, demo.local_url)
            panel = open_tab(page, "Text2Video")
            panel.get_by_text(EXAMPLES[2]).click()
            page.wait_for_function(RESULT_LOADED, arg="text2video-result", timeout=120_000)
            assert panel.get_by_label("Prompt", exact=True).input_value() == EXAMPLES[2]
            page.close()
        assert calls == [EXAMPLES[2]]  # made once, for the first visitor
        assert any((tmp_path / "examples").rglob("*.mp4"))
    finally:
        demo.close()


def test_the_fast_preset_sets_the_scheduler_steps_and_guidance_and_generates(app, page):
    model, _, _ = app
    panel = open_tab(page, "Text2Video")
    before = page.evaluate("() => document.querySelector('#text2video-result video')?.src || ''")
    panel.get_by_label("Prompt", exact=True).fill("a paper boat on a river")
    panel.get_by_label("Fast (4-8 steps)").check()
    steps = panel.get_by_label("number input for Denoising steps")
    page.wait_for_function("e => e.value === '4'", arg=steps.element_handle(), timeout=10_000)
    assert panel.get_by_label("number input for Guidance scale").input_value() == "1"
    panel.get_by_role("button", name="Generate").click()
    wait_for_new_result(page, "text2video-result", before, timeout=120_000)
    panel.get_by_label("Quality").check()  # back to the tab's defaults for the other tests
    page.wait_for_function("e => e.value === '10'", arg=steps.element_handle(), timeout=10_000)


def test_a_card_dropped_on_a_tab_fills_its_controls(app, page, tmp_path):
    from clip_files import sidecar

    model, _, _ = app
    made = model.text2video(
        "a red kite over the dunes", resolution=64, video_length=3, num_inference_steps=4, seed=1234, motion_zoom=0.05
    )
    panel = open_tab(page, "Text2Video")
    panel.locator("#text2video-card input[type=file]").set_input_files(str(sidecar(made.path)))
    prompt = panel.get_by_label("Prompt", exact=True)
    page.wait_for_function("e => e.value === 'a red kite over the dunes'", arg=prompt.element_handle(), timeout=10_000)
    page.locator(".toast-body").filter(has_text="Filled").first.wait_for(timeout=10_000)  # the note says so
    open_section(panel, "Camera detail")
    assert panel.get_by_label("Seed", exact=True).input_value() == "1234"
    assert panel.get_by_label("number input for Zoom per frame", exact=False).input_value() == "0.05"
    camera = panel.locator("#camera-preset input")  # the card's camera is no preset's: its strength will not touch it
    page.wait_for_function("e => e.value === 'Custom'", arg=camera.element_handle(), timeout=10_000)
    open_section(panel, "Camera detail")


def test_a_live_preview_appears_during_a_generation_and_goes_with_the_result(app, page, slow_steps):
    steps, running, delay = slow_steps
    delay[0] = 0.5
    panel = open_tab(page, "Text2Video")
    before = page.evaluate("() => document.querySelector('#text2video-result video')?.src || ''")
    panel.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
    panel.get_by_role("button", name="Generate").click()
    # A picture of the estimate, served by the app, while the steps run.
    page.wait_for_function(
        "() => { const i = document.querySelector('#text2video-result-preview img');"
        " return !!i && i.complete && i.naturalWidth > 0; }",
        timeout=60_000,
    )
    assert len(steps) < 10  # before the tiny profile's 10 steps were done
    wait_for_new_result(page, "text2video-result", before, timeout=120_000)
    page.wait_for_function("() => !document.querySelector('#text2video-result-preview img')", timeout=10_000)


def test_a_gif_result_shows_in_the_page(app, page):
    panel = open_tab(page, "Text2Video")
    panel.get_by_label("Prompt", exact=True).fill("a kite in the wind")
    open_section(panel, "Output")
    panel.get_by_label("gif").check()
    panel.get_by_role("button", name="Generate").click()
    page.wait_for_function(
        "() => { const i = document.querySelector('#text2video-result-gif img');"
        " return !!i && i.src.includes('.gif') && i.complete && i.naturalWidth > 0; }",
        timeout=120_000,
    )
    panel.get_by_label("mp4").check()
    open_section(panel, "Output")


@pytest.mark.parametrize(
    "tab, button, result",
    [
        ("Text2Video", "Generate", "text2video-result"),
        ("Pose", "Generate", "pose-result"),
        ("Edge", "Generate", "canny-result"),
        ("Edge + DreamBooth", "Generate", "canny_db-result"),
        ("Depth", "Generate", "depth-result"),
        ("Video Instruct-Pix2Pix", "Edit", "pix2pix-result"),
        (TRANSFORMERS, "Generate", "trained_video-result"),
        ("ModelScope / Zeroscope", "Generate", "modelscope-result"),
    ],
)
def test_screenshots_of_every_tab_during_and_after_a_generation(app, page, slow_steps, tmp_path, tab, button, result):
    """What a person sees: the tab before, the progress during a generation, then the result (the folder:
    T2VZ_SCREENSHOTS)."""
    steps, running, delay = slow_steps
    delay[0] = 0.4
    folder = Path(SCREENS) if SCREENS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"\W+", "-", tab.lower()).strip("-")
    panel = open_tab(page, tab)
    page.screenshot(path=str(folder / f"{name}-before.png"), full_page=True)
    before = page.evaluate(f"() => document.querySelector('#{result} video')?.src || ''")
    panel.get_by_label("Prompt", exact=True).or_(panel.get_by_label("Instruction")).first.fill("a fox in the snow")
    panel.get_by_role("button", name=button).click()
    assert running.wait(120)
    # During: the progress bar and, once the first picture is in, the live preview.
    page.wait_for_function(
        f"() => {{ const i = document.querySelector('#{result}-preview img'); return !!i && i.naturalWidth > 0; }}",
        timeout=60_000,
    )
    page.screenshot(path=str(folder / f"{name}-during.png"), full_page=True)
    wait_for_new_result(page, result, before, timeout=180_000)
    page.screenshot(path=str(folder / f"{name}-after.png"), full_page=True)
    assert (folder / f"{name}-after.png").stat().st_size > 10_000


def test_behind_a_login_the_login_page_loads_and_the_app_follows(app, tmp_path):
    """Every route but the login page needs the login: the login page itself still loads all it needs, and once
    logged in, the page works."""
    from settings import Settings
    from tests.helpers import serving_with_login

    _, _, browser = app
    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models().with_auth("ann:secret"), output_dir=tmp_path / "outputs"
    )
    with serving_with_login(settings) as (url, _):
        open_behind_the_login(browser, url)


def open_behind_the_login(browser, url: str) -> None:
    """The login page loads without a refusal, and after the login, the tabs."""
    refused: list[str] = []
    page = browser.new_page()
    try:
        page.on("response", lambda response: refused.append(response.url) if response.status == 401 else None)
        page.goto(url)
        page.locator("input[type=password]").wait_for(timeout=30_000)
        assert refused == []  # the login page loaded nothing it was refused
        page.locator("input[type=text]").first.fill("ann")
        page.locator("input[type=password]").fill("secret")
        page.get_by_role("button", name="Login").click()
        page.get_by_role("tab", name="Text2Video", exact=True).wait_for(timeout=30_000)
        outer = {INNER.get(tab, tab) for tab in TABS}  # the tabs inside a tab show once it opens
        assert page.get_by_role("tab").count() == len(outer) and refused == []
    finally:
        page.close()


def wait_until_playable(page, elem_id: str) -> None:
    """Wait until the video box `elem_id` holds a video whose media has loaded (a player that can play it)."""
    page.wait_for_function(
        "id => { const v = document.querySelector(`#${id} video`); return !!v && v.readyState >= 1 && !v.error; }",
        arg=elem_id,
        timeout=30_000,
    )


def test_a_gif_goes_in_wherever_a_video_does(app, page, tmp_path):
    """The app's own GIF results are inputs too: the video box takes video/* only, its "Use a GIF" button the GIF."""
    import numpy as np
    from PIL import Image

    frames = [Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8)) for i in range(4)]
    gif = tmp_path / "walk.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=125, loop=0)
    panel = open_tab(page, "Edge")
    panel.get_by_label("Clear").first.click()
    with page.expect_file_chooser() as chooser:
        panel.get_by_role("button", name="Use a GIF").click()
    chooser.value.set_files(str(gif))
    wait_until_playable(page, "canny-video")
    panel.get_by_label("Prompt", exact=True).fill("a tiger")
    panel.get_by_role("button", name="Generate").click()
    page.wait_for_function(RESULT_LOADED, arg="canny-result", timeout=120_000)
    assert not page.locator(".toast-body").filter(has_text="Error").count()


def test_a_gif_result_becomes_the_clip_to_upscale_and_the_upscale_keeps_its_shape(app, page):
    panel = open_tab(page, "ModelScope / Zeroscope")
    panel.get_by_label("Prompt", exact=True).fill("a square fox")
    open_section(panel, "Output")
    panel.get_by_label("gif").check()
    panel.get_by_role("button", name="Generate").click()
    page.wait_for_function(
        "() => { const i = document.querySelector('#modelscope-result-gif img'); return !!i && i.naturalWidth > 0; }",
        timeout=120_000,
    )
    # The clip box plays the GIF's frames (no "Video not playable"), and the size follows the square clip.
    wait_until_playable(page, "modelscope_upscale-clip")
    assert not page.get_by_text("not playable", exact=False).count()
    width = panel.get_by_label("number input for Upscale width")
    page.wait_for_function("e => e.value === '128'", arg=width.element_handle(), timeout=10_000)
    assert panel.get_by_label("number input for Upscale height").input_value() == "128"  # 64x64 -> 128x128
    panel.get_by_role("button", name="Upscale").click()
    page.wait_for_function(
        """() => { const v = [...document.querySelectorAll('video')].find(v => v.closest('[id]') &&
                   v.closest('.block')?.innerText.includes('Upscaled video') && v.readyState >= 1);
                   return !!v && v.videoWidth === 128 && v.videoHeight === 128; }""",
        timeout=180_000,
    )
    panel.get_by_label("mp4").check()
    open_section(panel, "Output")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("pose.json", '{"mode": "pose", "parameters": {"prompt": "x"}}', "This card is for the pose mode"),
        ("broken.json", '{"mode": "text2video", "parameters": ', "not valid JSON"),
        ("unknown.json", '{"mode": "text2video", "parameters": {"prompt": "x", "sparkle": 1}}', "sparkle"),
        ("plain.mp4", None, "card"),
    ],
)
def test_a_card_that_fails_says_why_and_changes_nothing(app, page, tmp_path, name, content, message):
    from tabs.guided import example

    panel = open_tab(page, "Text2Video")
    prompt = panel.get_by_label("Prompt", exact=True)
    prompt.fill("kept as it was")
    path = tmp_path / name
    if content is None:
        shutil.copy(example("cat_zoom.mp4"), path)  # a video made elsewhere: no card inside
    else:
        path.write_text(content)
    box = panel.locator("#text2video-card")
    if box.get_by_label("Clear").count():  # a card left by an earlier test
        box.get_by_label("Clear").click()
    box.locator("input[type=file]").set_input_files(str(path))
    toast = page.locator(".toast-body").filter(has_text=message)
    toast.first.wait_for(timeout=30_000)
    assert prompt.input_value() == "kept as it was"
    controls = page.locator("#text2video-controls")
    badges = controls.locator("[data-testid=status-tracker]").filter(has_text=re.compile(r"^\s*Error\s*$"))
    assert not badges.count(), [badge.evaluate("e => e.closest('.block')?.innerText") for badge in badges.all()]
    for close in page.locator(".toast-close").all():
        close.click()
    box.get_by_label("Clear").click()


# What each tab shows by default: what a person sets for every clip (and the result side); the rest sits in the
# closed sections, the same on every tab.
GUIDED_VIEW = [
    "Input video", "Prompt", "Base model", "Motion source", "Strength (motion module)", "Preset", "Consistency",
    "Max frames", "Frames per second to sample",
    "Resolution (long side)", "Seed", "Denoising steps", "Guidance scale", "ControlNet conditioning scale",
]  # fmt: skip
GUIDED_SECTIONS = [
    "Part of the input video",
    "Negative prompt, scheduler and LoRA",
    "Consistency and memory",
    "Output",
]
IN_VIEW = {
    "Text2Video": (
        ["Prompt", "Model", "Motion source", "Preset", "Consistency", "Video length (frames)", "Frames per second",
         "Resolution", "Seed", "Camera", "Camera strength", "Denoising steps", "Guidance scale"],
        ["Start from an image (image-to-video)", "Camera detail", "Negative prompt, scheduler and LoRA",
         "Consistency and memory", "Output", "Paper ablations and timesteps"],
    ),
    "Pose": (GUIDED_VIEW[:2] + ["Pose detector for videos of people"] + GUIDED_VIEW[2:], GUIDED_SECTIONS),
    "Edge": (GUIDED_VIEW[:2] + ["Canny low threshold", "Canny high threshold"] + GUIDED_VIEW[2:], GUIDED_SECTIONS),
    "Edge + DreamBooth": (
        GUIDED_VIEW[:2] + ["Style", "DreamBooth model", "Canny low threshold", "Canny high threshold"]
        + GUIDED_VIEW[3:],
        GUIDED_SECTIONS,
    ),
    "Depth": (GUIDED_VIEW, GUIDED_SECTIONS),
    "Video Instruct-Pix2Pix": (
        ["Input video", "Instruction", "Instruct-Pix2Pix model", "Consistency", "Max frames", "Output frame rate",
         "Resolution (long side)", "Seed", "Denoising steps", "Image guidance", "Instruction guidance"],
        ["Part of the input video", "Scheduler and LoRA", "Consistency and memory", "Output"],
    ),
    "ModelScope / Zeroscope": (
        ["Prompt", "Model", "Frames", "Frames per second", "Width", "Height", "Seed", "Denoising steps",
         "Guidance scale"],
        ["Negative prompt and scheduler", "Output"],
    ),
    TRANSFORMERS: (
        ["Prompt", "Model", "Frames", "Frames per second", "Width", "Height", "Seed", "Denoising steps",
         "Guidance scale"],
        ["First frame, negative prompt, LoRA and shift", "Output"],
    ),
}  # fmt: skip
MODES = {
    "Text2Video": "text2video",
    "Pose": "pose",
    "Edge": "canny",
    "Edge + DreamBooth": "canny_db",
    "Depth": "depth",
    "Video Instruct-Pix2Pix": "pix2pix",
    "ModelScope / Zeroscope": "modelscope",
    TRANSFORMERS: "trained_video",
}
SHOWN_LABELS = """p => [...p.querySelectorAll('[data-testid=block-info], [data-testid=block-label]')]
                         .filter(e => e.offsetParent !== null).map(e => e.innerText.trim())"""
SECTIONS = "p => [...p.querySelectorAll('button.label-wrap')].map(e => e.innerText.replace('▼', '').trim())"


@pytest.mark.parametrize("tab", list(IN_VIEW))
def test_each_tab_shows_what_every_clip_sets_and_closes_the_rest_in_named_sections(page, tab):
    panel = open_tab(page, tab)
    view, sections = IN_VIEW[tab]
    shown = page.locator(f"#{MODES[tab]}-controls").evaluate(SHOWN_LABELS)  # the controls' side of the tab
    assert shown == view, shown
    assert page.locator(f"#{MODES[tab]}-controls").evaluate(SECTIONS) == sections
    assert all(stop.is_disabled() for stop in panel.get_by_role("button", name="Stop").all())  # nothing runs


def test_the_camera_preset_shows_custom_once_its_numbers_are_changed_and_then_sets_nothing(page):
    panel = open_tab(page, "Text2Video")
    camera = panel.locator("#camera-preset input")
    open_section(panel, "Camera detail")
    zoom = panel.get_by_label("number input for Zoom per frame", exact=False)
    zoom.fill("0.05")
    zoom.press("Enter")
    page.wait_for_function("e => e.value === 'Custom'", arg=camera.element_handle(), timeout=10_000)
    strength = panel.get_by_label("number input for Camera strength")
    strength.fill("8")
    strength.press("Enter")
    page.wait_for_timeout(1000)
    assert zoom.input_value() == "0.05"  # a custom camera's strength changes none of its numbers
    camera.click()
    page.get_by_role("option", name="Zoom in").click()
    page.wait_for_function("e => e.value === '0.08'", arg=zoom.element_handle(), timeout=10_000)  # 0.01 x 8
    assert camera.input_value() == "Zoom in"
    camera.click()
    page.get_by_role("option", name="Diagonal pan (the paper's)").click()
    strength.fill("5")
    strength.press("Enter")
    page.wait_for_function("e => e.value === '0'", arg=zoom.element_handle(), timeout=10_000)
    open_section(panel, "Camera detail")


def test_the_history_keeps_this_session_s_results_to_watch_download_and_reuse(app, page, tmp_path):
    import json

    panel = open_tab(page, "Text2Video")
    seed = panel.get_by_label("Seed", exact=True)
    history = page.locator("#text2video-result-history")
    before = history.locator("img, video").count()
    for prompt, number in (("the first clip of the history", "11"), ("the second clip of the history", "22")):
        panel.get_by_label("Prompt", exact=True).fill(prompt)
        seed.fill(number)
        panel.get_by_role("button", name="Generate").click()
        page.wait_for_function(
            "([id, n]) => document.querySelectorAll(`#${id} img, #${id} video`).length >= n",
            arg=["text2video-result-history", before + 1],
            timeout=120_000,
        )
        before += 1
    captions = history.inner_text()
    assert captions.index("the second clip") < captions.index("the first clip")  # newest first
    # Reopen the first: its video, its seed and its card come back.
    shown = page.evaluate("() => document.querySelector('#text2video-result video')?.src || ''")
    history.locator("button.thumbnail-item, .thumbnail-item").nth(1).click()
    page.wait_for_function(
        f"() => (document.querySelector('#text2video-result video')?.src || '') !== {shown!r}", timeout=30_000
    )
    page.wait_for_function("() => document.querySelector('#text2video-result-card a')", timeout=30_000)
    assert panel.get_by_label("Seed used").input_value() == "11"
    with page.expect_download() as download:
        page.locator("#text2video-result-card a").first.click()
    saved = tmp_path / "first.json"
    download.value.save_as(saved)
    assert json.loads(saved.read_text())["parameters"]["prompt"] == "the first clip of the history"
    folder = Path(SCREENS) if SCREENS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "text2video-history.png"), full_page=True)
    # Its settings back into the controls.
    panel.get_by_label("Prompt", exact=True).fill("something else")
    seed.fill("0")
    page.locator("#text2video-result-history-use").click()
    prompt = panel.get_by_label("Prompt", exact=True)
    page.wait_for_function("e => e.value === 'the first clip of the history'", arg=prompt.element_handle())
    assert seed.input_value() == "11"
    seed.fill("0")


def generate_for_card(page, panel, model, result_id: str) -> dict:
    """Click Generate, wait for the new clip in `result_id` and return its card (the one new card file)."""
    import json

    outputs = set(model.settings.output_dir.iterdir())
    before = page.evaluate(f"() => document.querySelector('#{result_id} video')?.src || ''")
    panel.get_by_role("button", name="Generate").click()
    wait_for_new_result(page, result_id, before, timeout=180_000)
    card = next(path for path in set(model.settings.output_dir.iterdir()) - outputs if path.suffix == ".json")
    return json.loads(card.read_text())


def test_the_consistency_level_sets_the_coherence_options_and_goes_with_the_clip(app, page):
    model, _, _ = app
    panel = open_tab(page, "Depth")
    open_section(panel, "Consistency and memory")
    fusion = panel.get_by_label("number input for Flow fusion")
    smoother = panel.get_by_label("Interleaved-frame smoother")
    assert fusion.input_value() == "0" and not smoother.is_checked()
    panel.get_by_label("balanced").check()
    page.wait_for_function("e => e.value === '0.5'", arg=fusion.element_handle(), timeout=10_000)
    assert smoother.is_checked()
    fusion.fill("0.3")  # a value set by hand goes with the request as it is
    fusion.press("Enter")
    panel.get_by_label("Prompt", exact=True).fill("a fox in the snow")
    parameters = generate_for_card(page, panel, model, "depth-result")["parameters"]
    assert (parameters["consistency"], parameters["flow_fusion"], parameters["frame_smoother"]) == (
        "balanced",
        0.3,
        True,
    )
    panel.get_by_label("off").check()  # back to the defaults for the other tests
    page.wait_for_function("e => e.value === '0'", arg=fusion.element_handle(), timeout=10_000)
    assert not smoother.is_checked()
    open_section(panel, "Consistency and memory")


def test_the_motion_source_switches_to_a_motion_adapter_and_back(app, page):
    model, _, _ = app
    panel = open_tab(page, "Text2Video")
    source = panel.locator("#text2video-motion-source input")
    source.click()
    page.get_by_role("option", name="tiny-motion-adapter", exact=True).click()
    page.wait_for_function("e => e.value === 'tiny-motion-adapter'", arg=source.element_handle(), timeout=10_000)
    camera = panel.locator("#camera-preset input")
    camera.click()
    page.get_by_role("option", name="Zoom in", exact=True).click()  # with a motion module: its camera LoRA
    lora = panel.locator("#camera-lora input")
    opened = not lora.is_visible()  # an earlier test may have left the section open
    if opened:
        open_section(panel, "Camera detail")
    page.wait_for_function(
        "e => e.value.includes('tiny-motion-lora-zoom-in')", arg=lora.element_handle(), timeout=10_000
    )
    panel.get_by_label("Prompt", exact=True).fill("a paper boat on a river")
    made = generate_for_card(page, panel, model, "text2video-result")
    assert made["parameters"]["motion_adapter"] == "tiny-motion-adapter" and "motion_adapter" in made["models"]
    assert made["parameters"]["motion_lora"] == "tiny-motion-lora-zoom-in" and "motion_lora" in made["models"]
    camera.click()
    page.get_by_role("option", name="Diagonal pan (the paper's)").click()  # the default again: no camera LoRA
    page.wait_for_function("e => e.value === 'none'", arg=lora.element_handle(), timeout=10_000)
    if opened:
        open_section(panel, "Camera detail")  # closed again, as it was
    source.click()
    page.get_by_role("option", name="zero-shot (Text2Video-Zero)").click()  # back, for the other tests
    page.wait_for_function("e => e.value.startsWith('zero-shot')", arg=source.element_handle(), timeout=10_000)


def test_a_guided_tab_switches_its_motion_source_and_sets_a_strength(app, page):
    model, _, _ = app
    panel = open_tab(page, "Depth")
    source = panel.locator("#depth-motion-source input")
    source.click()
    page.get_by_role("option", name="tiny-motion-adapter", exact=True).click()
    page.wait_for_function("e => e.value === 'tiny-motion-adapter'", arg=source.element_handle(), timeout=10_000)
    strength = panel.get_by_label("number input for Strength (motion module)", exact=False)
    strength.fill("0.6")
    strength.press("Enter")
    panel.get_by_label("Prompt", exact=True).fill("0: a fox in the snow | 3: a wolf in the snow")  # prompt travel
    made = generate_for_card(page, panel, model, "depth-result")
    assert made["parameters"]["motion_adapter"] == "tiny-motion-adapter" and "motion_adapter" in made["models"]
    assert made["parameters"]["strength"] == 0.6 and made["parameters"]["prompt"].startswith("0: a fox")
    source.click()
    page.get_by_role("option", name="zero-shot (Text2Video-Zero)").click()  # back, for the other tests
    page.wait_for_function("e => e.value.startsWith('zero-shot')", arg=source.element_handle(), timeout=10_000)
    strength.fill("1")
    strength.press("Enter")


def test_clips_of_two_families_then_a_restyle_with_the_sd_model(app, page):
    """Wan, then LTX-Video on the trained-video tab; "Restyle with my SD model (depth)" opens the Depth tab with the
    clip as its input video, and the restyled clip's card carries the trained clip's."""
    model, _, _ = app
    panel = open_tab(page, TRANSFORMERS)
    panel.get_by_label("Prompt", exact=True).fill("a fox in the snow")
    made = []
    for family in ("tiny-wan", "tiny-ltx"):
        before = page.evaluate("() => document.querySelector('#trained_video-result video')?.src || ''")
        dropdown = panel.locator("#trained_video-model input")
        dropdown.click()
        page.get_by_role("option", name=family, exact=True).click()
        page.wait_for_function(f"e => e.value === '{family}'", arg=dropdown.element_handle(), timeout=10_000)
        panel.get_by_role("button", name="Generate").click()
        wait_for_new_result(page, "trained_video-result", before, timeout=180_000)
        made.append(page.evaluate("() => document.querySelector('#trained_video-result video').src"))
    assert made[0] != made[1]
    page.locator("#trained_video-restyle-depth").click()
    depth = page.get_by_role("tabpanel").filter(visible=True).first
    wait_until_playable(page, "depth-video")
    assert page.get_by_role("tab", name="Depth", exact=True).get_attribute("aria-selected") == "true"
    before = page.evaluate("() => document.querySelector('#depth-result video')?.src || ''")
    depth.get_by_label("Prompt", exact=True).fill("a paper-cut fox")
    depth.get_by_role("button", name="Generate").click()
    wait_for_new_result(page, "depth-result", before, timeout=180_000)
    newest = max(model.settings.output_dir.glob("*.json"), key=lambda card: card.stat().st_mtime)
    card = json.loads(newest.read_text())
    assert card["mode"] == "depth" and card["source"]["models"]["model"]["name"] == "tiny-ltx"
