"""Long clips and prompt travel with a motion module: FreeNoise's context windows equal diffusers'
`enable_free_noise` on identical components (with prompts that change at given frames, too), split inference equals
the unsplit run, and every option leaves the shared motion UNet as it found it."""

import numpy as np
import pytest
import torch
from diffusers import AnimateDiffPipeline, MotionAdapter
from diffusers.models.attention import BasicTransformerBlock
from diffusers.pipelines.free_noise_utils import SplitInferenceModule

from pipelines import MotionModulePipeline, TextToVideoZeroPipeline
from pipelines.motion_module import animatediff_scheduler, motion_unet

RUN = dict(height=64, width=64, num_inference_steps=3, guidance_scale=7.5, negative_prompt="blurry")
TRAVEL = {0: "a calm sea", 9: "a storm at sea"}


@pytest.fixture(scope="module")
def parts(tiny_models):
    components = TextToVideoZeroPipeline.from_pretrained(tiny_models["sd"]).components
    adapter = MotionAdapter.from_pretrained(tiny_models["motion-adapter"])
    shared = {name: components[name] for name in ("vae", "text_encoder", "tokenizer")}
    scheduler = animatediff_scheduler(components["scheduler"].config)
    ours = MotionModulePipeline(**shared, unet=motion_unet(components["unet"], adapter), scheduler=scheduler)
    ours.set_progress_bar_config(disable=True)

    def reference() -> AnimateDiffPipeline:  # a fresh one per use: its `disable_free_noise` fails on this UNet
        pipe = AnimateDiffPipeline(**shared, unet=components["unet"], motion_adapter=adapter, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    return ours, reference


def seed() -> dict:
    return dict(generator=torch.Generator().manual_seed(11))


def temporal_blocks(unet) -> list:
    return [
        block
        for module in unet.modules()
        if hasattr(module, "transformer_blocks")
        for block in module.transformer_blocks
    ]


@pytest.mark.parametrize("prompt, frames, length, stride", [("a lighthouse", 20, 8, 4), (TRAVEL, 16, 8, 2)])
def test_free_noise_equals_diffusers(parts, prompt, frames, length, stride):
    ours, reference = parts
    mine = ours(prompt, num_frames=frames, context_length=length, context_stride=stride, **RUN, **seed()).frames
    free_noise = reference()
    free_noise.enable_free_noise(context_length=length, context_stride=stride)
    theirs = free_noise(prompt, num_frames=frames, output_type="np", **RUN, **seed()).frames[0]
    assert np.abs(mine - theirs).max() < 1e-5
    assert all(type(block) is BasicTransformerBlock for block in temporal_blocks(ours.unet))  # given back


def test_prompt_travel_changes_the_prompt_along_the_clip(parts):
    ours, _ = parts
    embeds = ours.travel_embeds(TRAVEL, 12, "cpu")
    calm, storm = ours._encode_text("a calm sea", "cpu")[0], ours._encode_text("a storm at sea", "cpu")[0]
    assert torch.allclose(embeds[0], calm) and torch.allclose(embeds[9], storm) and torch.allclose(embeds[11], storm)
    assert torch.allclose(embeds[3], calm + (storm - calm) / 3, atol=1e-6)  # a third of the way at frame 3
    travelling = ours(TRAVEL, num_frames=12, **RUN, **seed()).frames
    calm_only = ours("a calm sea", num_frames=12, **RUN, **seed()).frames
    assert np.abs(travelling[0] - calm_only[0]).max() < np.abs(travelling[-1] - calm_only[-1]).max()
    for bad in ({1: "late start"}, {0: "a", 12: "past the end"}):
        with pytest.raises(ValueError, match="keyframes"):
            ours(bad, num_frames=12, **RUN)


def test_split_inference_equals_the_unsplit_run_and_unwraps(parts):
    ours, _ = parts
    frames = dict(num_frames=20, context_length=8, context_stride=4)
    plain = ours("a lighthouse", **frames, **RUN, **seed()).frames
    split = ours("a lighthouse", **frames, split_inference=True, **RUN, **seed()).frames
    assert np.abs(plain - split).max() < 1e-5
    assert not any(isinstance(module, SplitInferenceModule) for module in ours.unet.modules())
    assert np.array_equal(ours("a lighthouse", **frames, **RUN, **seed()).frames, plain)  # the UNet as it was


def test_context_windows_are_checked_and_a_failed_call_gives_the_unet_back(parts):
    ours, _ = parts
    with pytest.raises(ValueError, match="adapter's length, 32"):
        ours("a lighthouse", num_frames=40, context_length=33, **RUN)
    with pytest.raises(ValueError, match="context_stride"):
        ours("a lighthouse", num_frames=40, context_length=8, context_stride=9, **RUN)
    with pytest.raises(ValueError):
        ours("", num_frames=20, context_length=8, split_inference=True, **RUN)  # fails inside the windows
    assert all(type(block) is BasicTransformerBlock for block in temporal_blocks(ours.unet))
    assert not any(isinstance(module, SplitInferenceModule) for module in ours.unet.modules())
