"""Video Instruct-Pix2Pix: pipeline (three guidance branches), Model and tab, on tiny offline models."""

from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from errors import InputError
from model import Model
from pipelines import InstructPix2PixVideoPipeline
from pipelines.cross_frame_attention import CrossFrameAttnProcessor
from utils.video import read_video

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"


@pytest.fixture(scope="module")
def pipe(tiny_models):
    pipe = InstructPix2PixVideoPipeline.from_pretrained(tiny_models["pix2pix"])
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def frames():
    image = data.astronaut()[::4, ::4]
    return np.stack([np.roll(image, 4 * k, axis=1)[:64, :64] for k in range(5)])


def edit(pipe, frames, seed=0, **kwargs):
    args = {"num_inference_steps": 10, **kwargs}
    return pipe("make it night", frames, generator=torch.Generator().manual_seed(seed), **args).frames


def test_the_tiny_model_is_an_8_channel_unet_with_euler_ancestral(pipe):
    assert pipe.unet.config.in_channels == 8
    assert type(pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"


@pytest.mark.parametrize(
    "kwargs, branches",
    [
        (dict(guidance_scale=7.5, image_guidance_scale=1.5), 3),
        (dict(guidance_scale=1.0), 1),
        (dict(guidance_scale=7.5, image_guidance_scale=0.5), 1),
    ],
)
def test_cross_frame_attention_is_grouped_by_the_branches_that_run(pipe, frames, kwargs, branches):
    """With three branches, frame k of every branch must read its own branch's anchor: the processors see a batch
    of branches x frames and record one anchor per branch."""
    seen = []

    def spy(pipe, step, timestep, tensors):
        processor = next(p for p in pipe.unet.attn_processors.values() if isinstance(p, CrossFrameAttnProcessor))
        seen.append((processor.state.num_branches, processor.anchor_key.shape[0]))

    edit(pipe, frames, callback_on_step_end=spy, num_inference_steps=2, **kwargs)
    assert seen == [(branches, branches)] * 2


def test_frames_are_edited_per_frame_and_seeds_repeat(pipe, frames):
    edited = edit(pipe, frames)
    assert edited.shape == (5, 64, 64, 3) and edited.dtype == np.float32
    assert np.array_equal(edited, edit(pipe, frames))
    assert np.abs(edited - edit(pipe, frames, seed=1)).max() > 1e-3
    assert np.abs(edited[0] - edited[3]).max() > 0.05  # each frame keeps its own content
    assert np.abs(edited - edit(pipe, frames, image_guidance_scale=2.0)).max() > 1e-3


@pytest.mark.parametrize(
    "kwargs", [dict(image_guidance_scale=1.5), pytest.param(dict(guidance_scale=1.0), marks=pytest.mark.slow)]
)
def test_chunked_output_equals_unchunked(pipe, frames, kwargs):
    whole = edit(pipe, frames, num_inference_steps=20, **kwargs)
    chunked = edit(pipe, frames, num_inference_steps=20, chunk_size=2, **kwargs)
    assert np.abs(whole - chunked).max() <= 1e-3


def test_chunking_is_exact_in_float64(tiny_models, frames):
    pipe = InstructPix2PixVideoPipeline.from_pretrained(tiny_models["pix2pix"], dtype=torch.float64)
    pipe.set_progress_bar_config(disable=True)
    whole = edit(pipe, frames, output_type="latent")
    assert (whole - edit(pipe, frames, chunk_size=3, output_type="latent")).abs().max().item() <= 1e-12


@pytest.fixture(scope="module")
def model(tiny_models):
    from settings import Settings

    return Model(settings=Settings.from_env().with_tiny_models())


FAST = dict(resolution=128, num_inference_steps=3, max_frames=4)


def test_process_pix2pix_writes_the_edited_video_at_the_input_rate(model):
    path = model.process_pix2pix(EXAMPLES / "cat_zoom.mp4", "make it Van Gogh Starry Night style", **FAST)
    frames, fps = read_video(path)
    assert frames.shape == (4, 88, 128, 3) and fps == 8  # the example runs at 8 fps
    frames, fps = read_video(model.process_pix2pix(EXAMPLES / "cat_zoom.mp4", "make it night", out_fps=4, **FAST))
    assert fps == 4


@pytest.mark.slow
def test_pix2pix_and_the_sd_pipelines_take_turns(model):
    model.process_text2video("a cat", resolution=64, num_inference_steps=4, t0=1, t1=2, video_length=2)
    assert "base" in model.slots
    model.process_pix2pix(EXAMPLES / "coffee_pan.mp4", "make it night", **FAST)
    assert set(model.slots) == {"pix2pix"}
    model.process_text2video("a cat", resolution=64, num_inference_steps=4, t0=1, t1=2, video_length=2)
    assert set(model.slots) == {"base"}


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(prompt=""), "Instruction"),
        (dict(image_guidance_scale=-1), "Image guidance"),
        (dict(image_guidance_scale=11), "Image guidance"),
        (dict(out_fps=0), "Frame rate"),
        (dict(video=None), "No video"),
        (dict(video=__file__), "not a video"),
        (dict(start_t=1.5, end_t=1), "after the start"),
        (dict(model_name="tiny-sd"), "'tiny-sd' is not an Instruct-Pix2Pix model"),
    ],
)
def test_bad_input_gets_a_message(model, kwargs, words):
    args = {"video": EXAMPLES / "coffee_pan.mp4", "prompt": "make it night", **FAST, **kwargs}
    with pytest.raises((InputError, RuntimeError), match=words):
        model.pix2pix(**args)


def test_every_frame_starts_from_one_noise_unless_asked_for_one_each(pipe, frames):
    """A still video: with the shared starting noise (the default) every frame is edited alike; with noise per frame
    (the original's choice, `shared_noise=False`) they differ."""
    still = np.stack([frames[0]] * 3)
    deterministic = type(pipe)(**pipe.components)
    deterministic.set_scheduler("ddim")  # Euler ancestral adds fresh noise per frame at every step
    shared = edit(deterministic, still, num_inference_steps=4, use_cf_attn=False)
    assert np.abs(shared[1:] - shared[:1]).max() < 1e-5
    own = edit(deterministic, still, num_inference_steps=4, use_cf_attn=False, shared_noise=False)
    assert np.abs(own[1] - own[0]).max() > 1e-3
