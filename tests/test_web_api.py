"""The web API as clients use it: the endpoint as first published still served (new parameters go last), and
every bad value, sent raw or through the client, named in its message."""

from __future__ import annotations

from pathlib import Path

import pytest

from errors import InputError
from model import Model
from tabs.guided import example
from tests.helpers import TEXT2VIDEO_VALUES, call_raw, video_of
from utils.video import read_video

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(model_name="tiny-sd", resolution=64, num_inference_steps=3, t0=0, t1=1, video_length=2)


# ---------------------------------------------------------------------- clients of the first published API
def test_clients_of_the_endpoint_as_first_published_are_served_and_new_parameters_go_last(shared_app):
    """The payload lists the values in the order the endpoint was published; output_format, smooth_fps, scheduler
    and feature_reuse came later, in that order, and go after randomize_seed: without them, their defaults; with
    them, they count."""
    assert "event: complete" in call_raw(shared_app, "text2video", TEXT2VIDEO_VALUES)
    with_new = TEXT2VIDEO_VALUES[:-1] + ', "mp4", 0, "lcm", 2]'
    assert "event: complete" in call_raw(shared_app, "text2video", with_new)
    wrong = TEXT2VIDEO_VALUES[:-1] + ', "mp4", 0, "fast", 2]'
    assert "Scheduler must be one of" in call_raw(shared_app, "text2video", wrong)


# ----------------------------------------------------------------------- 9-10. every bad value names its field
@pytest.mark.parametrize(
    "endpoint, change, message",
    [
        ("/text2video", dict(prompt=["a cat"]), "Prompt must be text, got list"),
        ("/text2video", dict(prompt={"text": "a cat"}), "Prompt must be text, got dict"),
        ("/text2video", dict(prompt=None), "Prompt is missing"),
        ("/text2video", dict(num_inference_steps="many"), "Steps must be a whole number, got 'many'"),
        ("/text2video", dict(num_inference_steps=None), "Steps must be a whole number, got None"),
        ("/text2video", dict(resolution=[64]), "Resolution must be a whole number"),
        ("/text2video", dict(seed=1.5), "seed must be a whole number, got 1.5"),
        ("/text2video", dict(randomize_seed="no"), "randomize_seed must be true or false, got 'no'"),
        ("/text2video", dict(model_name={"id": "x"}), "Model must be text, got dict"),
        ("/text2video", dict(num_inference_steps=20, t0=17, t1=19), "ok"),  # above the page's default bound
        ("/canny", dict(show_condition="yes"), "show_condition must be true or false, got 'yes'"),
        ("/canny", dict(show_condition=1), "show_condition must be true or false, got 1"),
        ("/pose", dict(is_skeleton="no"), "is_skeleton must be true or false, got 'no'"),
        ("/canny", dict(video_path="clip.mp4"), "video_path must be an uploaded video file"),
        ("/canny", dict(video_path=5), "video_path must be an uploaded video file"),
    ],
)
def test_wrong_types_get_a_message_naming_the_parameter(shared_app, endpoint, change, message):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    url = shared_app
    client = Client(url, verbose=False)
    base = (
        {"prompt": "a cat", **FAST}
        if endpoint == "/text2video"
        else {
            "video_path": handle_file(example("coffee_pan.mp4")),
            "prompt": "a cup",
            "resolution": 64,
            "num_inference_steps": 2,
            "max_frames": 2,
        }
    )
    if message == "ok":
        assert read_video(video_of(client.predict(**{**base, **change}, api_name=endpoint)))[0].shape[0] >= 1
        return
    with pytest.raises(AppError, match=message) as error:
        client.predict(**{**base, **change}, api_name=endpoint)
    assert "upstream" not in str(error.value) and "TypeError" not in str(error.value)


def test_missing_values_and_nan_over_raw_http_name_the_parameter(shared_app):
    url = shared_app
    assert "Missing value for model_name" in call_raw(url, "text2video", '["a cat"]')
    with_nan = TEXT2VIDEO_VALUES.replace('"tiny-sd", 12,', '"tiny-sd", NaN,')
    assert "Motion strength x must be a finite number, got nan" in call_raw(url, "text2video", with_nan)


def test_flags_as_text_are_refused_by_the_python_api_too(tiny_settings):
    model = Model(settings=tiny_settings)
    for flag in ("use_cf_attn", "use_motion_field"):
        with pytest.raises(InputError, match=f"{flag} must be true or false, got 'no'"):
            model.text2video("a cat", **FAST, **{flag: "no"})
