"""The guided modes through the Model: video in, condition, ControlNet, video out; model swaps; bad input."""

from pathlib import Path

import numpy as np
import pytest

from catalogue import TINY_DREAMBOOTH_MODEL, TINY_SD_MODEL
from errors import InputError, ModelLoadError
from model import Model
from utils.video import read_video

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
FAST = dict(resolution=128, num_inference_steps=3, max_frames=4, input_fps=4)


@pytest.fixture(scope="module")
def model(tiny_models):
    from settings import Settings

    return Model(settings=Settings.from_env().with_tiny_models())


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_each_guided_mode_writes_a_video(model):
    coffee = EXAMPLES / "coffee_pan.mp4"  # 384x288, 2 s
    for path in (
        model.process_controlnet_canny(coffee, "a cup of tea", **FAST),
        model.process_controlnet_depth(coffee, "a cup of tea", **FAST),
        model.process_controlnet_pose(EXAMPLES / "skeleton_walk.mp4", "a man walking", is_skeleton=True, **FAST),
        model.process_controlnet_pose(EXAMPLES / "astronaut_pan.mp4", "a woman", pose_detector="mediapipe", **FAST),
        model.process_controlnet_canny_db(TINY_DREAMBOOTH_MODEL, coffee, "1girl", **FAST),
    ):
        frames, fps = read_video(path)
        assert len(frames) == 4 and fps == 4
        assert frames.shape[1] in (96, 128) and frames.shape[2] in (96, 128)


def test_condition_is_shown_beside_the_result(model):
    result = model.controlnet_canny(EXAMPLES / "coffee_pan.mp4", "a cup", show_condition=True, **FAST)
    frames, _ = read_video(result.path)
    assert frames.shape[1:3] == (96, 256)  # condition (128 wide) | result (128 wide)
    left = frames[0, :, :128].astype(int)
    assert set(np.unique(left > 127)) == {False, True}  # an edge map: black with white lines


@pytest.mark.slow
def test_switching_guided_tabs_swaps_only_the_controlnet_and_a_base_swap_keeps_it(model):
    coffee = EXAMPLES / "coffee_pan.mp4"
    model.process_text2video(
        "a cat", model_name=TINY_SD_MODEL, resolution=64, num_inference_steps=4, t0=1, t1=2, video_length=2
    )
    unet = model.base_components(TINY_SD_MODEL)["unet"]
    model.process_controlnet_canny(coffee, "a cup", **FAST)
    canny_net = model.slots["controlnet"][1]
    model.process_controlnet_depth(coffee, "a cup", **FAST)
    assert model.base_components(TINY_SD_MODEL)["unet"] is unet  # base reused across text2video, canny, depth
    assert model.slots["controlnet"][1] is not canny_net
    assert model.loaded_name("controlnet").endswith("tiny-controlnet-depth")
    depth_net = model.slots["controlnet"][1]
    model.process_controlnet_canny_db(
        TINY_DREAMBOOTH_MODEL, coffee, "1girl", controlnet_name="tiny-controlnet-depth", **FAST
    )
    assert model.loaded_name("base").endswith(TINY_DREAMBOOTH_MODEL)
    assert model.slots["controlnet"][1] is depth_net  # base swap keeps the ControlNet


def test_long_videos_are_capped_with_a_note(model):
    result = model.controlnet_canny(
        EXAMPLES / "coffee_pan.mp4", "a cup", resolution=64, num_inference_steps=2, max_frames=3, input_fps=-1
    )
    assert len(read_video(result.path)[0]) == 3
    assert any("cut to 3 frames" in note for note in result.notes)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(video_path=None), InputError, "No video"),
        (dict(video_path=Path(__file__)), InputError, "not a video"),
        (dict(start_t=30), InputError, "beyond the end"),
        (dict(start_t=1, end_t=0.5), InputError, "after the start"),
        (dict(low_threshold=200, high_threshold=100), InputError, "threshold"),
        (dict(prompt=""), InputError, "Prompt"),
        (dict(resolution=100), InputError, "multiple of 8"),
        (dict(max_frames=0), InputError, "Max frames"),
        (dict(controlnet_conditioning_scale=-1), InputError, "conditioning scale"),
        (dict(model_name="nobody/no-such-dreambooth"), ModelLoadError, "nobody/no-such-dreambooth"),
    ],
)
def test_bad_input_gets_a_clear_message_and_the_next_request_works(model, kwargs, error, words):
    args = {"video_path": EXAMPLES / "coffee_pan.mp4", "prompt": "a cup", **FAST, **kwargs}
    with pytest.raises(error, match=words):
        model.controlnet_canny(**args)
    assert read_video(model.process_controlnet_canny(EXAMPLES / "coffee_pan.mp4", "a cup", **FAST))[0].shape[0] == 4


def test_unknown_pose_detector(model):
    with pytest.raises(InputError, match="Pose detector"):
        model.controlnet_pose(EXAMPLES / "skeleton_walk.mp4", "a man", pose_detector="kinect", **FAST)
