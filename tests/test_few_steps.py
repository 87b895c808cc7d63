"""Few-step generation: LCM and TCD schedulers in every SD mode, the method's T and T' placed on any schedule, and the
Fast preset's plumbing (the distillation LoRAs themselves need the Hub: their loading path is the LoRA path)."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler, LCMScheduler, TCDScheduler

from errors import InputError
from model import Model
from pipelines.text_to_video_zero import MOTION_TIMESTEPS, motion_step_indices, step_indices
from settings import Settings
from tabs.guided import example
from utils.video import read_video

SMALL = dict(video_length=3, height=64, width=64, output_type="latent")


@pytest.fixture(scope="module")
def model(tiny_models):
    return Model(settings=Settings.from_env().with_tiny_models())


@pytest.mark.parametrize("steps", [50, 20, 10])
def test_t_and_t_prime_are_the_method_s_timesteps_on_ddim(steps):
    scheduler = DDIMScheduler(steps_offset=1)
    scheduler.set_timesteps(steps)
    index_t, index_t_prime = motion_step_indices(scheduler.timesteps)
    if steps == 50:  # the original t1=47, t0=44 exactly
        assert (index_t, index_t_prime) == step_indices(50, 44, 47)
    timesteps = [int(t) for t in scheduler.timesteps]
    assert index_t < index_t_prime
    # Each is the schedule's nearest step to T=941 and T'=881 (T' moved one step on where both fall on one).
    assert abs(timesteps[index_t] - MOTION_TIMESTEPS[0]) == min(abs(t - MOTION_TIMESTEPS[0]) for t in timesteps)


@pytest.mark.parametrize("scheduler_class, steps", [(LCMScheduler, 4), (LCMScheduler, 8), (TCDScheduler, 6)])
def test_few_step_schedules_keep_t_before_t_prime(scheduler_class, steps):
    scheduler = scheduler_class()
    scheduler.set_timesteps(steps)
    index_t, index_t_prime = motion_step_indices(scheduler.timesteps)
    assert 0 <= index_t < index_t_prime <= steps - 1
    assert int(scheduler.timesteps[index_t]) >= int(scheduler.timesteps[index_t_prime])


def count_unet_frames(pipe) -> tuple[list[int], object]:
    """Frames through the UNet per call (the batch over guidance branches)."""
    seen: list[int] = []
    handle = pipe.unet.register_forward_hook(lambda module, args, output: seen.append(args[0].shape[0]))
    return seen, handle


@pytest.mark.parametrize("name, cls, steps", [("lcm", LCMScheduler, 4), ("tcd", TCDScheduler, 6)])
def test_few_step_text2video_runs_each_frame_once_per_step_and_chunks_change_nothing(t2v_pipe, name, cls, steps):
    pipe = type(t2v_pipe)(**t2v_pipe.components)
    pipe.set_scheduler(name)
    assert isinstance(pipe.scheduler, cls)
    seen, handle = count_unet_frames(pipe)
    try:
        run = dict(prompt="a cat", num_inference_steps=steps, guidance_scale=1.0, t0=None, t1=None, **SMALL)
        whole = pipe(**run, generator=torch.Generator().manual_seed(0)).frames
        calls_whole = list(seen)
        seen.clear()
        chunked = pipe(**run, chunk_size=2, generator=torch.Generator().manual_seed(0)).frames
    finally:
        handle.remove()
    index_t, index_t_prime = motion_step_indices(pipe.fresh_scheduler(steps, "cpu").timesteps)
    # The anchor alone to T', then every frame once per step from T, guidance off: one branch.
    assert sum(calls_whole) == index_t_prime + 3 * (steps - index_t)
    assert sum(seen) == sum(calls_whole)  # chunking adds no UNet work
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_the_default_t0_t1_give_the_original_output(t2v_pipe):
    pipe = type(t2v_pipe)(**t2v_pipe.components)
    run = dict(prompt="a cat", num_inference_steps=50, **{**SMALL, "video_length": 2})
    auto = pipe(**run, t0=None, t1=None, generator=torch.Generator().manual_seed(1)).frames
    original = pipe(**run, t0=44, t1=47, generator=torch.Generator().manual_seed(1)).frames
    assert torch.equal(auto, original)


# One scheduler states it; the others run in the full suite.
@pytest.mark.parametrize(
    "scheduler", ["lcm", *(pytest.param(s, marks=pytest.mark.slow) for s in ("tcd", "dpm++", "unipc"))]
)
def test_every_sd_mode_takes_the_schedulers(model, scheduler):
    fast = dict(num_inference_steps=4, guidance_scale=1.0, scheduler=scheduler)
    assert read_video(model.text2video("a cat", resolution=64, video_length=2, **fast).path)[0].shape[0] == 2
    guided = model.controlnet_canny(example("cat_zoom.mp4"), "a cat", resolution=64, max_frames=2, **fast)
    assert read_video(guided.path)[0].shape[0] == 2
    edited = model.pix2pix(example("cat_zoom.mp4"), "make it night", resolution=64, max_frames=2, **fast)
    assert read_video(edited.path)[0].shape[0] == 2


def test_the_pix2pix_model_keeps_its_own_scheduler_between_calls(model):
    small = dict(resolution=64, max_frames=1, num_inference_steps=1)
    model.pix2pix(example("cat_zoom.mp4"), "night", scheduler="lcm", **small)
    model.pix2pix(example("cat_zoom.mp4"), "night", **small)
    assert type(model.pix2pix_pipeline(model.settings.default_pix2pix_model).scheduler).__name__ == (
        "EulerAncestralDiscreteScheduler"
    )


@pytest.mark.parametrize(
    "method, args, scheduler, words",
    [
        ("text2video", ("a cat",), "euler", "Scheduler must be one of ddim, dpm\\+\\+, unipc, lcm, tcd"),
        ("text2video", ("a cat",), "fast", "Scheduler must be one of"),
        ("text2video", ("a cat",), ["lcm"], "Scheduler must be one of"),
        ("pix2pix", (example("cat_zoom.mp4"), "night"), "pndm", "Scheduler must be one of .*euler-a"),
    ],
)
def test_unknown_schedulers_are_refused_with_the_choices(model, method, args, scheduler, words):
    with pytest.raises(InputError, match=words):
        getattr(model, method)(*args, scheduler=scheduler)


def test_the_fast_preset_picks_the_family_s_lcm_lora():
    hub = Settings()
    assert hub.fast_lora("stable-diffusion-v1-5/stable-diffusion-v1-5") == "latent-consistency/lcm-lora-sdv1-5"
    assert hub.fast_lora("stabilityai/stable-diffusion-xl-base-1.0") == "latent-consistency/lcm-lora-sdxl"
    assert Settings().with_tiny_models().fast_lora("tiny-sd") == ""  # offline: no distillation LoRA to load
    assert hub.fast_steps == 6
