"""One checked call per mode: parameter names (the original ones, diffusers' as aliases), unknown names, limits."""

import pytest

from errors import InputError
from modes import GuidedCall, ModelScopeCall, Pix2PixCall, Text2VideoCall
from settings import Settings

SETTINGS = Settings.from_env({}).with_tiny_models()


def test_diffusers_names_are_aliases_of_the_original_ones():
    call = Text2VideoCall.checked(SETTINGS, prompt="a", negative_prompt="blurry", num_frames=3, save_path="x.mp4")
    assert (call.n_prompt, call.video_length, call.path) == ("blurry", 3, "x.mp4")
    call = GuidedCall.checked(SETTINGS, prompt="a", video="in.mp4", fps=8, path="y.mp4", negative_prompt="dark")
    assert (call.video_path, call.input_fps, call.save_path, call.n_prompt) == ("in.mp4", 8, "y.mp4", "dark")
    call = Pix2PixCall.checked(SETTINGS, prompt="a", video_path="in.mp4", fps=8)
    assert (call.video, call.out_fps) == ("in.mp4", 8)
    call = ModelScopeCall.checked(SETTINGS, prompt="a", n_prompt="dark", video_length=3)
    assert (call.negative_prompt, call.num_frames) == ("dark", 3)


def test_two_names_of_one_parameter_or_an_unknown_name_are_refused_by_name():
    with pytest.raises(InputError, match="negative_prompt and n_prompt name the same parameter"):
        Text2VideoCall.checked(SETTINGS, prompt="a", n_prompt="x", negative_prompt="y")
    with pytest.raises(InputError, match="Unknown parameter colour: this mode takes .*video_length"):
        Text2VideoCall.checked(SETTINGS, prompt="a", colour="red")


def test_one_clamping_policy_with_a_note():
    call = Text2VideoCall.checked(SETTINGS, prompt="a", video_length=3, chunk_size=8)
    assert call.chunk_size == 3 and call.notes == ["Chunk size 8 exceeds the video's 3 frames: using 3."]
