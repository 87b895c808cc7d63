"""The consistency level and the coherence options through every surface: the Python API, cards (and reproducing
from one), the command line and batch; each option checked, named in its refusal."""

import json

import numpy as np
import pytest

from errors import InputError
from modes import CONSISTENCY

FAST = dict(resolution=64, num_inference_steps=3)
EXAMPLE = "assets/examples/cat_zoom.mp4"
OPTIONS = ("flow_fusion", "frame_smoother", "vidtome_local", "vidtome_global")


@pytest.fixture(scope="module")
def model(tiny_models):
    from model import Model
    from settings import Settings

    return Model(settings=Settings.from_env().with_tiny_models())


def card_of(path):
    from cards import Card
    from clip_files import sidecar

    return Card.read(sidecar(path)).parameters


def frames(path) -> np.ndarray:
    from utils.video import load_video

    return load_video(str(path), 64).frames


def test_a_level_fills_the_options_left_out_and_a_value_given_wins(model):
    made = model.text2video("a kite", video_length=3, consistency="balanced", vidtome_global=0.0, **FAST)
    card = card_of(made.path)
    assert card["consistency"] == "balanced" and card["vidtome_global"] == 0.0
    assert {name: card[name] for name in (*OPTIONS[:3], "free_init_iterations")} == {
        name: CONSISTENCY["balanced"][name] for name in (*OPTIONS[:3], "free_init_iterations")
    }
    strong = card_of(model.text2video("a kite", video_length=3, consistency="strong", **FAST).path)
    assert strong["free_init_iterations"] == 1 and strong["vidtome_local"] == CONSISTENCY["strong"]["vidtome_local"]
    off = card_of(model.text2video("a kite", video_length=3, **FAST).path)
    assert [off[name] for name in OPTIONS] == [0.0, False, 0.0, 0.0] and off["consistency"] == "off"


@pytest.mark.parametrize("method", ["controlnet_canny", "controlnet_pose", "controlnet_depth", "pix2pix"])
def test_every_video_mode_takes_the_level(model, method):
    made = getattr(model, method)(EXAMPLE, "a tiger", max_frames=3, consistency="strong", **FAST)
    card = card_of(made.path)
    assert [card[name] for name in OPTIONS] == [CONSISTENCY["strong"][name] for name in OPTIONS]
    assert "free_init_iterations" not in card  # text-to-video's own


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(consistency="max"), "Consistency must be one of off, balanced, strong"),
        (dict(flow_fusion=1.5), "Flow fusion"),
        (dict(flow_fusion="lots"), "Flow fusion"),
        (dict(frame_smoother="maybe"), "frame_smoother"),
        (dict(vidtome_local=0.95), "VidToMe local ratio"),
        (dict(vidtome_global=-0.1), "VidToMe global ratio"),
    ],
)
def test_each_option_out_of_range_is_refused_by_name(model, bad, words):
    with pytest.raises(InputError, match=words):
        model.text2video("a kite", video_length=2, **bad, **FAST)
    with pytest.raises(InputError, match=words):
        model.controlnet_canny(EXAMPLE, "a tiger", max_frames=2, **bad, **FAST)


def test_a_clip_with_every_option_reproduces_from_its_card(model, tmp_path):
    from cli import main

    made = model.controlnet_canny(EXAMPLE, "a tiger", max_frames=3, consistency="strong", flow_fusion=0.3, **FAST)
    from clip_files import sidecar

    again = tmp_path / "again.mp4"
    assert main(["--tiny-models", "--quiet", "reproduce", str(sidecar(made.path)), "--out", str(again)]) == 0
    assert card_of(again)["flow_fusion"] == 0.3
    assert np.array_equal(frames(again), frames(made.path))


def test_the_command_line_and_batch_take_the_options(tiny_models, tmp_path):
    from cli import main

    out = tmp_path / "cli.mp4"
    command = ["--tiny-models", "--quiet", "generate", "pix2pix", "--video_path", EXAMPLE, "--prompt", "night"]
    command += ["--max_frames", "2", "--resolution", "64", "--num_inference_steps", "2"]
    assert main([*command, "--consistency", "balanced", "--frame_smoother", "false", "--out", str(out)]) == 0
    card = card_of(out)
    assert (card["consistency"], card["frame_smoother"], card["flow_fusion"]) == ("balanced", False, 0.5)
    assert main([*command, "--vidtome_local", "2", "--out", str(tmp_path / "no.mp4")]) == 2
    jobs = tmp_path / "jobs.jsonl"
    line = {"prompt": "a cat", "video_length": 2, "consistency": "strong", "vidtome_global": 0.1, **FAST}
    jobs.write_text(json.dumps({"mode": "text2video", "parameters": line}))
    assert main(["--tiny-models", "--quiet", "batch", str(jobs), "--out", str(tmp_path / "batch")]) == 0
    (clip,) = (tmp_path / "batch").glob("*.mp4")
    card = card_of(clip)
    assert (card["consistency"], card["vidtome_global"], card["free_init_iterations"]) == ("strong", 0.1, 1)
