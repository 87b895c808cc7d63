"""The app as people use it: progress reaches API clients, results and the seed, examples, output formats and
smoothing, the messages a new user meets."""

from __future__ import annotations

import dataclasses
import time

import httpx
import pytest

from model import Model
from settings import Settings
from tabs.canny_db import with_trigger
from tabs.guided import example
from tests.helpers import serving

pytestmark = pytest.mark.app

FAST = dict(model_name="tiny-sd", resolution=64, num_inference_steps=3, t0=0, t1=1, video_length=2)


@pytest.fixture(scope="module")
def app(tiny_models, tmp_path_factory):
    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models(), output_dir=tmp_path_factory.mktemp("used") / "outputs"
    )
    model = Model(settings=settings)
    with serving(model) as url:
        yield model, url


def test_step_progress_reaches_an_api_client(app, monkeypatch):
    """The handler's progress tracker was keyword-only, which Gradio never feeds: no progress reached anyone."""
    from gradio_client import Client

    import model as model_module
    from utils.jobs import on_step

    def slow_step(*args):
        time.sleep(0.1)
        return on_step(*args)

    monkeypatch.setattr(model_module, "on_step", slow_step)
    _, url = app
    job = Client(url, verbose=False).submit(
        prompt="a cat", **{**FAST, "num_inference_steps": 12}, api_name="/text2video"
    )
    seen, extra = set(), set()
    while not job.done():
        for unit in job.status().progress_data or []:
            if unit.desc and unit.desc.startswith("Generating"):
                seen.add((unit.index, unit.length))
            elif unit.desc and unit.desc.startswith("Anchor frame"):
                extra.add(unit.length)
        time.sleep(0.05)
    assert len({index for index, _ in seen}) >= 3  # several steps of the same bar
    # The user's bar counts the 12 steps asked for; the anchor's way on from T to T' (t1=1, t0=0: one step) has
    # its own.
    assert {length for _, length in seen} == {12} and extra <= {1}


def test_results_are_outputs_and_the_seed_is_empty_until_there_is_one(app):
    _, url = app
    config = httpx.get(f"{url.rstrip('/')}/config").json()
    videos = [c for c in config["components"] if c.get("type") == "video"]
    results = [c for c in videos if c["props"].get("label") in ("Generated video", "Edited video", "Upscaled video")]
    assert len(results) == 9 and all(c["props"]["interactive"] is False for c in results)
    assert all(c["props"].get("loop") for c in results)
    seeds = [c for c in config["components"] if c["props"].get("label") == "Seed used"]
    assert len(seeds) == 8 and all(c["type"] == "textbox" and c["props"]["value"] == "" for c in seeds)


def test_the_pose_photo_example_has_its_pose_detected(app):
    model, url = app
    config = httpx.get(f"{url.rstrip('/')}/config").json()
    rows = [
        sample
        for c in config["components"]
        if c.get("type") == "dataset"
        for sample in c["props"].get("samples", [])
        if len(sample) == 3 and isinstance(sample[2], bool)
    ]
    assert [row[2] for row in rows] == [True, True, False]  # the photo of a person is no skeleton drawing
    result = model.controlnet_pose(
        example("astronaut_pan.mp4"), "a woman", is_skeleton=False, resolution=64, max_frames=2, num_inference_steps=1
    )
    assert not [note for note in result.notes if "No person" in note]


def test_no_person_found_says_so(tiny_models):
    model = Model(settings=Settings.from_env().with_tiny_models())
    result = model.controlnet_pose(
        example("coffee_pan.mp4"), "a dancer", is_skeleton=False, resolution=64, max_frames=2, num_inference_steps=1
    )
    assert any("No person was found in any frame by the mediapipe detector" in note for note in result.notes)


@pytest.mark.parametrize(
    "prompt, trigger, expected",
    [
        ("arcane style, a portrait", "gtav style", "gtav style, a portrait"),  # switching replaces
        ("gtav style, arcane style, a portrait", "1girl", "1girl, arcane style, a portrait"),  # the lead only
        ("", "arcane style", "arcane style"),
        ("a portrait", "avatar style", "avatar style, a portrait"),
        ("gtav style", "arcane style", "arcane style"),
        ("1girl, dancing", "1girl", "1girl, dancing"),
    ],
)
def test_switching_style_replaces_the_trigger(prompt, trigger, expected):
    triggers = ["1girl", "arcane style", "gtav style", "avatar style"]
    assert with_trigger(prompt, trigger, triggers) == expected


def test_mps_is_picked_on_apple_silicon(monkeypatch):
    import torch

    from loading import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == (torch.device("mps"), torch.float16)
    assert pick_device("cpu") == (torch.device("cpu"), torch.float32)


def test_the_no_video_message_lists_every_format_the_reader_takes():
    from errors import InputError
    from utils.video import VIDEO_INPUT_TYPES, load_video

    with pytest.raises(InputError) as error:
        load_video(None, 64)
    assert all(kind.lstrip(".") in str(error.value) for kind in VIDEO_INPUT_TYPES)


def test_t0_t1_follow_a_typed_step_count_before_generating(app):
    from tabs.text2video import rescale_timesteps

    t0, t1 = rescale_timesteps(8, 44, 47)
    assert (
        (t0["value"] if isinstance(t0, dict) else t0.value) < (t1["value"] if isinstance(t1, dict) else t1.value) <= 7
    )
    _, url = app
    config = httpx.get(f"{url.rstrip('/')}/config").json()
    labels = {c["id"]: c["props"].get("label") for c in config["components"]}
    triggers = {(labels.get(t[0]), t[1]) for d in config["dependencies"] for t in d.get("targets", [])}
    assert ("Denoising steps", "change") in triggers  # typing a count moves t0/t1 at once, not on release only


@pytest.mark.parametrize("output_format", ["gif", *(pytest.param(f, marks=pytest.mark.slow) for f in ("mp4", "webm"))])
def test_each_output_format_and_smoothing(tiny_models, tmp_path, output_format):
    from PIL import Image

    from utils.video import read_video

    settings = dataclasses.replace(Settings.from_env().with_tiny_models(), output_dir=tmp_path)
    model = Model(settings=settings)
    plain = model.text2video("a cat", **{**FAST, "video_length": 4}, fps=4, output_format=output_format)
    assert plain.path.endswith(f".{output_format}")
    frames, fps = read_video(plain.path)
    assert len(frames) == 4 and fps == 4
    smooth = model.text2video(
        "a cat", **{**FAST, "video_length": 4}, fps=4, output_format=output_format, smooth_fps=12
    )
    frames, fps = read_video(smooth.path)
    assert len(frames) == 12 and round(fps) in (12, 13)  # 1 s at 12 fps, as the 4 frames at 4 (GIF: 1/100 s delays)
    if output_format == "gif":
        assert Image.open(smooth.path).n_frames == len(frames)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no intermediate file stays


def test_output_options_are_checked_by_name(tiny_models, tmp_path):
    from errors import InputError

    model = Model(settings=Settings.from_env().with_tiny_models())
    with pytest.raises(InputError, match="Output format must be one of mp4, webm, gif, got 'avi'"):
        model.text2video("a cat", **FAST, output_format="avi")
    with pytest.raises(InputError, match="smooth_fps must be between 0.0 and 60"):
        model.text2video("a cat", **FAST, smooth_fps=61)
    with pytest.raises(InputError, match="is a .gif file but output_format is webm"):
        model.text2video("a cat", **FAST, output_format="webm", path=str(tmp_path / "clip.gif"))


def test_a_webm_through_the_api(app):
    from gradio_client import Client

    from utils.video import read_video

    _, url = app
    result, _ = Client(url, verbose=False).predict(
        prompt="a cat", **FAST, output_format="webm", smooth_fps=8, fps=4, api_name="/text2video"
    )
    path = result["video"] if isinstance(result, dict) else result
    assert path.endswith(".webm") and read_video(path)[1] == 8
