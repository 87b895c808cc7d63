"""SDXL motion adapters (AnimateDiff's SDXL beta) on SDXL bases: equal to diffusers' AnimateDiffSDXLPipeline on
identical components; through the Model with its card; an SD 1.x adapter on SDXL (and the reverse) refused by name."""

import numpy as np
import pytest
import torch
from diffusers import AnimateDiffSDXLPipeline, MotionAdapter

from errors import InputError, ModelLoadError
from pipelines import MotionSDXLPipeline, TextToVideoZeroSDXLPipeline
from pipelines.motion_module import animatediff_scheduler, motion_unet

CLIP = dict(model_name="tiny-sdxl", resolution=64, video_length=8, num_inference_steps=3)
CLIP.update(motion_adapter="tiny-motion-adapter-sdxl")


@pytest.mark.parametrize("negative", ["blurry", None])
def test_the_sdxl_motion_pipeline_equals_diffusers(tiny_models, negative):
    components = TextToVideoZeroSDXLPipeline.from_pretrained(tiny_models["sdxl"]).components
    adapter = MotionAdapter.from_pretrained(tiny_models["motion-adapter-sdxl"])
    scheduler = animatediff_scheduler(components["scheduler"].config)
    shared = {name: components[name] for name in ("vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2")}
    ours = MotionSDXLPipeline(**shared, unet=motion_unet(components["unet"], adapter), scheduler=scheduler)
    # diffusers' own conversion (`UNetMotionModel.from_unet2d`) leaves SDXL's added-conditioning projection random:
    # the reference gets a motion UNet built as here (a copy of its own), which it takes as it is.
    reference = AnimateDiffSDXLPipeline(
        **shared, unet=motion_unet(components["unet"], adapter), motion_adapter=adapter, scheduler=scheduler
    )
    for pipe in (ours, reference):
        pipe.set_progress_bar_config(disable=True)
    run = dict(num_frames=8, height=64, width=64, num_inference_steps=3, guidance_scale=7.5, negative_prompt=negative)
    mine = ours("a lighthouse", generator=torch.Generator().manual_seed(6), **run).frames
    theirs = reference("a lighthouse", generator=torch.Generator().manual_seed(6), output_type="np", **run).frames[0]
    assert np.abs(mine - theirs).max() < 1e-5


def test_the_motion_unet_keeps_the_sdxl_base_s_added_conditioning(tiny_models):
    from diffusers import UNetMotionModel

    base = TextToVideoZeroSDXLPipeline.from_pretrained(tiny_models["sdxl"]).unet
    adapter = MotionAdapter.from_pretrained(tiny_models["motion-adapter-sdxl"])
    own = base.add_embedding.linear_1.weight
    assert torch.equal(motion_unet(base, adapter).add_embedding.linear_1.weight, own)
    assert not torch.equal(UNetMotionModel.from_unet2d(base, adapter).add_embedding.linear_1.weight, own)  # diffusers'


def test_an_sdxl_motion_clip_has_its_card_and_families_are_kept_apart(tiny_models):
    from model import Model
    from settings import Settings

    model = Model(settings=Settings.from_env().with_tiny_models())
    made = model.text2video("a lighthouse", **CLIP)
    assert (
        made.card.parameters["motion_adapter"] == "tiny-motion-adapter-sdxl" and "motion_adapter" in made.card.models
    )
    with pytest.raises(ModelLoadError, match="'tiny-motion-adapter' does not fit 'tiny-sdxl': an SDXL base"):
        model.text2video("a lighthouse", **{**CLIP, "motion_adapter": "tiny-motion-adapter"})
    with pytest.raises(ModelLoadError, match="does not fit 'tiny-sd': an SD 1.x base"):
        model.text2video("a lighthouse", **{**CLIP, "model_name": "tiny-sd"})
    with pytest.raises(ModelLoadError, match="SparseCtrl .* SD 1.x bases only"):
        model.text2video("a lighthouse", **CLIP, image=np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(InputError, match="SD 1.x motion adapters"):
        model.text2video("0: a lighthouse | 4: a storm", **CLIP)
    with pytest.raises(ModelLoadError, match="does not fit this motion module"):
        model.text2video("a lighthouse", **CLIP, motion_lora="tiny-motion-lora-zoom-in")
    model.text2video("a lighthouse", **CLIP)  # nothing half-swapped
