"""The motion source of text-to-video: zero-shot, or an AnimateDiff motion adapter on the same SD checkpoint. The
motion-module pipeline equals diffusers' AnimateDiffPipeline on identical components; through the Model it has what
every mode has (steps, previews, Stop, cards and reproducing, the command line), and bad pairings are refused."""

import numpy as np
import pytest
import torch
from diffusers import AnimateDiffPipeline, MotionAdapter

from errors import InputError, ModelLoadError
from model import Model
from pipelines import MotionModulePipeline, TextToVideoZeroPipeline
from pipelines.motion_module import animatediff_scheduler, motion_unet
from utils.jobs import Cancelled, Job, job_scope

FAST = dict(resolution=64, video_length=8, num_inference_steps=3, motion_adapter="tiny-motion-adapter")


@pytest.fixture(scope="module")
def parts(tiny_models):
    components = TextToVideoZeroPipeline.from_pretrained(tiny_models["sd"]).components
    return components, MotionAdapter.from_pretrained(tiny_models["motion-adapter"])


@pytest.fixture(scope="module")
def model(tiny_models):
    from settings import Settings

    return Model(settings=Settings.from_env().with_tiny_models())


@pytest.mark.parametrize("guidance_scale, free_init", [(7.5, 0), (1.0, 0), (7.5, 1)])
def test_the_motion_module_pipeline_equals_diffusers_animatediff(parts, guidance_scale, free_init):
    components, adapter = parts
    scheduler = animatediff_scheduler(components["scheduler"].config)
    shared = {name: components[name] for name in ("vae", "text_encoder", "tokenizer")}
    ours = MotionModulePipeline(**shared, unet=motion_unet(components["unet"], adapter), scheduler=scheduler)
    reference = AnimateDiffPipeline(**shared, unet=components["unet"], motion_adapter=adapter, scheduler=scheduler)
    run = dict(num_frames=8, height=64, width=64, num_inference_steps=4, guidance_scale=guidance_scale)
    for pipe in (ours, reference):
        pipe.set_progress_bar_config(disable=True)
    if free_init:  # diffusers counts the first pass among its iterations
        reference.enable_free_init(num_iters=free_init + 1)
    mine = ours(
        "a cat on a wall",
        **run,
        negative_prompt="blurry",
        free_init_iterations=free_init,
        generator=torch.Generator().manual_seed(3),
    )
    theirs = reference(
        "a cat on a wall",
        **run,
        negative_prompt="blurry",
        generator=torch.Generator().manual_seed(3),
        output_type="np",
    )
    assert np.abs(mine.frames - theirs.frames[0]).max() < 1e-5
    assert np.abs(np.diff(mine.frames, axis=0)).mean() > 1e-4  # a clip, not one picture


def test_a_motion_module_clip_has_its_adapter_on_the_card_and_reproduces(model, tmp_path):
    from cards import Card
    from cli import main
    from clip_files import sidecar
    from utils.video import load_video

    made = model.text2video("a kite", **FAST)
    card = Card.read(sidecar(made.path))
    assert card.parameters["motion_adapter"] == "tiny-motion-adapter"
    assert card.models["motion_adapter"].revision.startswith("sha256:")
    again = tmp_path / "again.mp4"
    assert main(["--tiny-models", "--quiet", "reproduce", str(sidecar(made.path)), "--out", str(again)]) == 0
    assert np.array_equal(load_video(str(again), 64).frames, load_video(made.path, 64).frames)
    zero_shot = model.text2video("a kite", **{**FAST, "motion_adapter": "zero-shot"})
    plain = model.text2video("a kite", **{**FAST, "motion_adapter": None})
    assert Card.read(sidecar(zero_shot.path)).parameters["motion_adapter"] is None
    assert np.array_equal(load_video(zero_shot.path, 64).frames, load_video(plain.path, 64).frames)
    assert not np.array_equal(load_video(made.path, 64).frames, load_video(plain.path, 64).frames)
    out = tmp_path / "cli.mp4"
    command = ["--tiny-models", "--quiet", "generate", "text2video", "--prompt", "a kite", "--resolution", "64"]
    assert (
        main([*command, "--motion_adapter", "tiny-motion-adapter", "--num_inference_steps", "2", "--out", str(out)])
        == 0
    )
    assert Card.read(sidecar(out)).parameters["motion_adapter"] == "tiny-motion-adapter"


def test_steps_previews_and_stop_work_as_in_every_mode(model, capsys):
    import dataclasses

    previews: list[np.ndarray] = []
    every_step = Model(settings=dataclasses.replace(model.settings, preview_every=1))
    with job_scope(Job(preview=previews.append)):
        every_step.text2video("a kite", **FAST)
    assert len(previews) == FAST["num_inference_steps"] and previews[0].shape == (8, 8 * 4, 3)  # 4 frames shown
    from tests.helpers import stopping_after

    with stopping_after(2) as (job, calls), job_scope(job), pytest.raises(Cancelled):
        model.text2video("a kite", **{**FAST, "num_inference_steps": 10})
    assert len(calls) == 2


def test_zero_shot_options_are_named_in_a_note_and_bad_pairings_are_refused(model):
    made = model.text2video("a kite", **FAST, motion_zoom=0.05, consistency="balanced")
    assert any("motion_zoom" in note and "flow_fusion" in note for note in made.notes)
    assert not any("do not apply" in note for note in model.text2video("a kite", **FAST).notes)
    cases = [
        (dict(motion_adapter="tiny-controlnet-canny"), ModelLoadError, "not a motion adapter"),
        (dict(motion_adapter="tiny-sd"), ModelLoadError, "not a motion adapter"),
        (dict(model_name="tiny-sd2"), ModelLoadError, "SD 2.x base"),
        (dict(model_name="tiny-sdxl"), ModelLoadError, "SDXL"),
        (dict(context_length=33), InputError, "Context length 33 is above .* use at most 32"),
    ]
    for bad, error, words in cases:
        with pytest.raises(error, match=words):
            model.text2video("a kite", **{**FAST, **bad})
    assert model.loaded_name("base").endswith("tiny-sd") or "tiny-sd" in model.loaded_name("base")
    model.text2video("a kite", **FAST)  # nothing half-swapped: the next clip is made
