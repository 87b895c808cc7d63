"""Camera moves for motion modules: AnimateDiff's motion LoRAs (zoom, pan, tilt, roll), picked by the Text2Video
tab's camera presets when a motion adapter makes the clip, at a strength. Fused into the motion UNet, the output
equals diffusers' AnimateDiffPipeline with the LoRA loaded at the same weight; taking it out restores the plain clip
exactly; an image LoRA is refused by name."""

import numpy as np
import pytest
import torch
from diffusers import AnimateDiffPipeline, MotionAdapter

from errors import ModelLoadError
from pipelines import TextToVideoZeroPipeline
from pipelines.motion_module import animatediff_scheduler

CLIP = dict(resolution=64, video_length=8, num_inference_steps=3, motion_adapter="tiny-motion-adapter")


@pytest.fixture(scope="module")
def model(tiny_models):
    from model import Model
    from settings import Settings

    return Model(settings=Settings.from_env().with_tiny_models())


def test_a_motion_lora_equals_diffusers_with_the_lora_loaded(model, tiny_models):
    components = TextToVideoZeroPipeline.from_pretrained(tiny_models["sd"]).components
    adapter = MotionAdapter.from_pretrained(tiny_models["motion-adapter"])
    reference = AnimateDiffPipeline(
        **{name: components[name] for name in ("vae", "text_encoder", "tokenizer")},
        unet=components["unet"],
        motion_adapter=adapter,
        scheduler=animatediff_scheduler(components["scheduler"].config),
    )
    reference.set_progress_bar_config(disable=True)
    reference.load_lora_weights(str(tiny_models["motion-lora-zoom-in"]), adapter_name="zoom")
    reference.set_adapters(["zoom"], [0.7])
    lora = dict(motion_lora="tiny-motion-lora-zoom-in", motion_lora_weight=0.7)
    pipe = model.motion_pipeline("tiny-sd", "tiny-motion-adapter", **lora)
    pipe.set_progress_bar_config(disable=True)
    run = dict(num_frames=8, height=64, width=64, num_inference_steps=3, guidance_scale=7.5)
    mine = pipe("a harbour", generator=torch.Generator().manual_seed(2), **run).frames
    theirs = reference("a harbour", generator=torch.Generator().manual_seed(2), output_type="np", **run).frames[0]
    assert np.abs(mine - theirs).max() < 1e-5
    plain = model.motion_pipeline("tiny-sd", "tiny-motion-adapter")  # the LoRA taken out: the plain UNet again
    plain.set_progress_bar_config(disable=True)
    reference.disable_lora()
    without = reference("a harbour", generator=torch.Generator().manual_seed(2), output_type="np", **run).frames[0]
    assert np.abs(plain("a harbour", generator=torch.Generator().manual_seed(2), **run).frames - without).max() < 1e-5


def test_camera_loras_go_on_the_card_reproduce_and_leave_no_trace(model, tmp_path):
    from cards import Card
    from cli import main
    from clip_files import sidecar
    from utils.video import load_video

    before = load_video(model.text2video("a harbour", **CLIP).path, 64).frames
    zoom = model.text2video("a harbour", **CLIP, motion_lora="tiny-motion-lora-zoom-in", motion_lora_weight=1.2)
    card = Card.read(sidecar(zoom.path))
    assert (
        card.parameters["motion_lora"] == "tiny-motion-lora-zoom-in" and card.parameters["motion_lora_weight"] == 1.2
    )
    assert card.models["motion_lora"].revision.startswith("sha256:")
    pan = model.text2video("a harbour", **CLIP, motion_lora="tiny-motion-lora-pan-left")
    frames = {name: load_video(made.path, 64).frames for name, made in (("zoom", zoom), ("pan", pan))}
    assert not np.array_equal(frames["zoom"], before) and not np.array_equal(frames["zoom"], frames["pan"])
    again = tmp_path / "again.mp4"
    assert main(["--tiny-models", "--quiet", "reproduce", str(sidecar(zoom.path)), "--out", str(again)]) == 0
    assert np.array_equal(load_video(str(again), 64).frames, frames["zoom"])
    # With FreeNoise's windows too (they swap the temporal layers the LoRA was fused into).
    model.text2video(
        "a harbour", **{**CLIP, "video_length": 12}, context_length=8, motion_lora="tiny-motion-lora-pan-left"
    )
    assert np.array_equal(load_video(model.text2video("a harbour", **CLIP).path, 64).frames, before)  # no trace


def test_what_is_not_a_motion_lora_is_refused_and_zero_shot_names_it(model, tiny_models, tmp_path):
    from tests.test_lora import make_lora

    image_lora = make_lora(tiny_models["sd"], tmp_path / "image-lora")
    with pytest.raises(ModelLoadError, match="not a motion LoRA"):
        model.text2video("a harbour", **CLIP, motion_lora=str(image_lora.parent))
    with pytest.raises(ModelLoadError, match="no-such-camera-lora"):
        model.text2video("a harbour", **CLIP, motion_lora="nobody/no-such-camera-lora")
    made = model.text2video("a harbour", **{**CLIP, "motion_adapter": None}, motion_lora="tiny-motion-lora-zoom-in")
    assert any("motion module only" in note and "motion_lora" in note for note in made.notes)
    model.text2video("a harbour", **CLIP)  # nothing half-loaded
