"""The guided (ControlNet) pipeline on tiny offline models."""

import numpy as np
import pytest
import torch
from diffusers import ControlNetModel

from pipelines import ControlNetVideoPipeline, TextToVideoZeroPipeline
from pipelines.cross_frame_attention import CrossFrameAttnProcessor


def make_pipe(tiny_models, dtype=torch.float32):
    base = TextToVideoZeroPipeline.from_pretrained(tiny_models["sd"], dtype=dtype)
    controlnet = ControlNetModel.from_pretrained(tiny_models["controlnet-canny"], dtype=dtype)
    pipe = ControlNetVideoPipeline(**base.components, controlnet=controlnet)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def pipe(tiny_models):
    return make_pipe(tiny_models)


@pytest.fixture(scope="module")
def edges():
    rng = np.random.default_rng(0)
    return (rng.random((5, 64, 64, 3)) > 0.85).astype(np.uint8) * 255


def generate(pipe, control, seed=0, **kwargs):
    args = {"num_inference_steps": 10, **kwargs}
    return pipe("a cat", control, generator=torch.Generator().manual_seed(seed), **args).frames


def test_one_frame_per_condition_frame(pipe, edges):
    frames = generate(pipe, edges)
    assert frames.shape == (5, 64, 64, 3) and frames.dtype == np.float32
    # Same noise for every frame: frames differ only because their conditions do.
    assert np.abs(frames[0] - frames[3]).max() > 0.02
    same = generate(pipe, np.repeat(edges[:1], 3, axis=0))
    np.testing.assert_allclose(same[0], same[2], atol=1e-4)


def test_condition_and_seed_matter_and_same_seed_repeats(pipe, edges):
    base = generate(pipe, edges)
    assert np.array_equal(base, generate(pipe, edges))
    assert np.abs(base - generate(pipe, edges, seed=1)).max() > 0.02
    assert np.abs(base - generate(pipe, edges, controlnet_conditioning_scale=0.0)).max() > 0.02


@pytest.mark.parametrize("guidance_scale", [9.0, pytest.param(1.0, marks=pytest.mark.slow)])
def test_chunked_output_equals_unchunked(pipe, edges, guidance_scale):
    whole = generate(pipe, edges, guidance_scale=guidance_scale, num_inference_steps=20)
    for chunk_size in (2, 3):
        chunked = generate(pipe, edges, guidance_scale=guidance_scale, num_inference_steps=20, chunk_size=chunk_size)
        assert np.abs(chunked - whole).max() <= 1e-3


def test_chunking_is_exact_in_float64(tiny_models, edges):
    pipe = make_pipe(tiny_models, torch.float64)
    whole = generate(pipe, edges, output_type="latent")
    chunked = generate(pipe, edges, chunk_size=2, output_type="latent")
    assert (whole - chunked).abs().max().item() <= 1e-12


def test_cross_frame_attention_runs_in_unet_and_controlnet(pipe, edges):
    """Both networks get processors during the call (each layer its own slot) and have their own back after."""
    seen = {}

    def spy(pipe, step, timestep, tensors):
        for name, module in (("unet", pipe.unet), ("controlnet", pipe.controlnet)):
            seen[name] = [p for p in module.attn_processors.values() if isinstance(p, CrossFrameAttnProcessor)]

    before = {name: dict(m.attn_processors) for name, m in (("unet", pipe.unet), ("controlnet", pipe.controlnet))}
    generate(pipe, edges, callback_on_step_end=spy, num_inference_steps=2)
    assert seen["unet"] and seen["controlnet"]
    assert not {id(p) for p in seen["unet"]} & {id(p) for p in seen["controlnet"]}
    assert dict(pipe.unet.attn_processors) == before["unet"]
    assert dict(pipe.controlnet.attn_processors) == before["controlnet"]
    # And it matters: without it, the frames come out otherwise.
    assert np.abs(generate(pipe, edges) - generate(pipe, edges, use_cf_attn=False)).max() > 1e-3


def test_merging_is_deterministic(pipe, edges):
    merged = generate(pipe, edges, merging_ratio=0.5)
    assert np.array_equal(merged, generate(pipe, edges, merging_ratio=0.5))


def test_condition_frames_are_resized_and_checked(pipe, edges):
    frames = generate(pipe, edges, height=128, width=64, num_inference_steps=2)
    assert frames.shape == (5, 128, 64, 3)
    with pytest.raises(ValueError, match="frames"):
        generate(pipe, edges[0])
    with pytest.raises(ValueError, match="prompt"):
        pipe("  ", edges)
