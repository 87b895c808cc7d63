"""ModelScope/Zeroscope text-to-video and Zeroscope upscaling on tiny offline UNet3D models."""

import numpy as np
import pytest
import torch

from errors import InputError, ModelLoadError
from model import Model
from pipelines.modelscope import SCHEDULERS, ModelScopePipeline
from utils.video import read_video


@pytest.fixture(scope="module")
def pipe(tiny_models):
    pipe = ModelScopePipeline.from_pretrained(tiny_models["modelscope"])
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, seed=0, **kwargs):
    args = {"num_frames": 6, "height": 64, "width": 96, "num_inference_steps": 6, **kwargs}
    return pipe("a panda eating bamboo", generator=torch.Generator().manual_seed(seed), **args).frames


def test_the_tiny_model_has_modelscope_s_layout(tiny_models, pipe):
    assert (tiny_models["modelscope"] / "unet" / "config.json").exists()
    assert type(pipe.unet).__name__ == "UNet3DConditionModel"


def test_frames_sizes_and_determinism(pipe):
    frames = generate(pipe)
    assert frames.shape == (6, 64, 96, 3) and 0 <= frames.min() and frames.max() <= 1
    assert np.array_equal(frames, generate(pipe))
    assert np.abs(frames - generate(pipe, seed=1)).max() > 1e-3


def test_every_scheduler_runs_and_forward_chunking_changes_nothing(pipe):
    outputs = {}
    for name in SCHEDULERS:
        pipe.set_scheduler(name)
        outputs[name] = generate(pipe, num_frames=3)
    assert np.abs(outputs["ddim"] - outputs["dpm++"]).max() > 1e-4
    pipe.unet.enable_forward_chunking(chunk_size=1, dim=1)
    try:
        np.testing.assert_allclose(generate(pipe, num_frames=3), outputs["unipc"], atol=1e-5)
    finally:
        pipe.unet.disable_forward_chunking()
    with pytest.raises(ValueError, match="scheduler"):
        pipe.set_scheduler("plms")


def test_video_to_video_keeps_part_of_the_input(pipe):
    clip = torch.rand(4, 3, 64, 64)
    light = pipe(
        "a cat", video=clip, strength=0.2, num_inference_steps=10, generator=torch.Generator().manual_seed(0)
    ).frames
    heavy = pipe(
        "a cat", video=clip, strength=1.0, num_inference_steps=10, generator=torch.Generator().manual_seed(0)
    ).frames
    assert light.shape == (4, 64, 64, 3)
    source = clip.permute(0, 2, 3, 1).numpy()
    # A low strength stays nearer the input than a full re-generation does.
    assert np.abs(light - source).mean() < np.abs(heavy - source).mean()
    with pytest.raises(ValueError, match="strength"):
        pipe("a cat", video=clip, strength=0)


@pytest.fixture(scope="module")
def model(tiny_models):
    from settings import Settings

    return Model(settings=Settings.from_env().with_tiny_models())


def test_process_modelscope_writes_the_clip_at_the_model_s_size(model):
    path = model.process_modelscope("a panda", num_frames=5, num_inference_steps=4, fps=6)
    frames, fps = read_video(path)
    assert frames.shape == (5, 64, 64, 3) and fps == 6  # the tiny model's native size
    path = model.process_modelscope("a panda", num_frames=3, num_inference_steps=4, width=96, height=48)
    assert read_video(path)[0].shape == (3, 48, 96, 3)


def test_upscale_a_given_clip(model):
    clip = model.process_modelscope("a panda", num_frames=4, num_inference_steps=4, fps=4)
    upscaled = model.process_modelscope_upscale(clip, "a panda", width=128, height=72, num_inference_steps=4)
    frames, fps = read_video(upscaled)
    assert frames.shape == (4, 72, 128, 3) and fps == 4
    assert model.loaded_name("modelscope").endswith("tiny-modelscope-xl")
    again = model.process_modelscope_upscale(clip, "a panda", width=64, height=64, strength=1.0, num_inference_steps=2)
    assert read_video(again)[0].shape == (4, 64, 64, 3)


def test_an_upscale_keeps_the_clip_s_shape_unless_a_size_is_chosen(model):
    from cards import Card
    from clip_files import sidecar

    square = model.process_modelscope("a panda", num_frames=2, num_inference_steps=2)  # 64 x 64
    wide = model.process_modelscope("a panda", num_frames=2, num_inference_steps=2, width=96, height=48)
    fast = {"num_inference_steps": 2}
    # Neither size: the clip's shape at the upscale model's long side (the tiny XL model's 128).
    assert read_video(model.process_modelscope_upscale(square, "a panda", **fast))[0].shape[1:3] == (128, 128)
    upscaled = model.process_modelscope_upscale(wide, "a panda", **fast)
    assert read_video(upscaled)[0].shape[1:3] == (64, 128)
    # One size: the other follows the clip's aspect ratio; both: as chosen.
    assert read_video(model.process_modelscope_upscale(wide, "a panda", width=64, **fast))[0].shape[1:3] == (32, 64)
    assert read_video(model.process_modelscope_upscale(square, "a panda", height=72, **fast))[0].shape[1:3] == (72, 72)
    chosen = model.process_modelscope_upscale(square, "a panda", width=128, height=72, **fast)
    assert read_video(chosen)[0].shape[1:3] == (72, 128)
    # The card records the size made, so the clip is made again at it.
    card = Card.read(sidecar(upscaled))
    assert (card.parameters["width"], card.parameters["height"]) == (128, 64)


def test_upscaling_with_no_clip_says_so_even_after_another_clip(model):
    # The Model keeps no "last clip": one caller's clip is never upscaled for another.
    model.process_modelscope("a panda", num_frames=2, num_inference_steps=2)
    with pytest.raises(InputError, match="No clip to upscale: generate a clip first .* or upload one"):
        model.process_modelscope_upscale(None, "a panda")
    assert not hasattr(model, "last_modelscope_clip")


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(prompt=""), InputError, "Prompt"),
        (dict(num_frames=0), InputError, "Frames"),
        (dict(num_frames=100_000), InputError, "Frames"),
        (dict(width=100), InputError, "multiple of 8"),
        (dict(height=61), InputError, "multiple of 8"),
        (dict(scheduler="plms"), InputError, "Scheduler"),
        (dict(model_name="nobody/no-such-t2v-model"), ModelLoadError, "nobody/no-such-t2v-model"),
        (dict(model_name="tiny-sd"), ModelLoadError, "'tiny-sd' is not a ModelScope"),
    ],
)
def test_bad_input(model, kwargs, error, words):
    with pytest.raises(error, match=words):
        model.process_modelscope(**{"prompt": "a panda", "num_frames": 2, "num_inference_steps": 2, **kwargs})


@pytest.mark.parametrize("strength", [0, -0.5, 1.5])
def test_strength_outside_its_range(model, strength):
    with pytest.raises(InputError, match="Strength"):
        model.process_modelscope_upscale(None, "a panda", strength=strength)


def test_a_64_frame_clip_with_forward_chunking(model):
    path = model.process_modelscope("a panda", num_frames=64, num_inference_steps=2, width=64, height=64)
    assert read_video(path)[0].shape == (64, 64, 64, 3)
    unet = model.modelscope_pipeline("tiny-modelscope").unet
    chunked = [m for m in unet.modules() if getattr(m, "_chunk_size", None) == 1]
    assert chunked and all(m._chunk_dim == 1 for m in chunked)  # feed-forward runs frame by frame
