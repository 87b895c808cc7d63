"""The zero-shot pipeline on the offline tiny SD model (loaded with from_pretrained like a hub checkpoint)."""

import re

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from pipelines import TextToVideoZeroPipeline
from pipelines.cross_frame_attention import CrossFrameAttnProcessor
from pipelines.options import suggest_t0_t1
from pipelines.text_to_video_zero import step_indices

FAST = dict(height=64, width=64, num_inference_steps=8, t0=5, t1=7)


def generate(pipe, seed=0, **kwargs):
    args = {"prompt": "a horse galloping", "video_length": 5, **FAST, **kwargs}
    return pipe(generator=torch.Generator().manual_seed(seed), **args).frames


def test_loads_from_a_diffusers_folder_and_uses_ddim(t2v_pipe, tiny_sd):
    # The folder ships PNDM, as the SD 1.5 hub folder does; the method needs a variance-preserving scheduler.
    assert (tiny_sd / "model_index.json").exists()
    assert isinstance(t2v_pipe.scheduler, DDIMScheduler)


def test_frames_are_a_float_array_in_unit_range(t2v_pipe):
    frames = generate(t2v_pipe)
    assert isinstance(frames, np.ndarray) and frames.dtype == np.float32
    assert frames.shape == (5, 64, 64, 3)
    assert 0.0 <= frames.min() and frames.max() <= 1.0


def test_t0_t1_are_step_indices_from_the_end_of_the_schedule(t2v_pipe):
    scheduler = DDIMScheduler.from_config(t2v_pipe.scheduler.config)
    scheduler.set_timesteps(50)
    index_t, index_t_prime = step_indices(50, 44, 47)
    assert int(scheduler.timesteps[index_t]) == 941
    assert int(scheduler.timesteps[index_t_prime]) == 881
    scheduler.set_timesteps(20)
    t0, t1 = suggest_t0_t1(20)
    assert 0 <= t0 < t1 <= 19
    index_t, index_t_prime = step_indices(20, t0, t1)
    assert scheduler.timesteps[index_t] > scheduler.timesteps[index_t_prime]


def test_other_step_counts_work(t2v_pipe):
    frames = generate(t2v_pipe, video_length=2, num_inference_steps=20, t0=17, t1=19)
    assert frames.shape[0] == 2


@pytest.mark.parametrize(
    "bad",
    [
        dict(t0=7, t1=5),
        dict(t0=5, t1=8),  # t1 must be <= steps - 1
        dict(t0=-1, t1=3),
        dict(num_inference_steps=1, t0=0, t1=0),
        dict(chunk_size=0),
        dict(merging_ratio=0.95),
        dict(height=60),
        dict(video_length=0),
        dict(prompt="   "),
        dict(motion_field_strength_x=float("nan")),
    ],
)
def test_impossible_inputs_get_a_clear_error(t2v_pipe, bad):
    with pytest.raises(ValueError) as error:
        generate(t2v_pipe, **bad)
    assert any(name in str(error.value) for name in (*bad, "prompt"))


def test_t0_t1_error_suggests_valid_values(t2v_pipe):
    with pytest.raises(ValueError, match=r"try t0=\d+, t1=\d+"):
        generate(t2v_pipe, num_inference_steps=20, t0=44, t1=47)


@pytest.mark.parametrize("guidance_scale", [7.5, 1.0])
def test_chunked_output_equals_unchunked(t2v_pipe, guidance_scale):
    whole = generate(t2v_pipe, video_length=6, guidance_scale=guidance_scale)
    for chunk_size in (2, 4):
        chunked = generate(t2v_pipe, video_length=6, guidance_scale=guidance_scale, chunk_size=chunk_size)
        assert np.abs(chunked - whole).max() <= 1e-3, chunk_size


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_chunked_output_equals_unchunked_with_the_default_schedule(t2v_pipe):
    """50 steps, t0=44, t1=47, guidance 7.5: the settings users run."""
    default = dict(height=128, width=128, num_inference_steps=50, t0=44, t1=47)
    whole = generate(t2v_pipe, video_length=6, **default)
    chunked = generate(t2v_pipe, video_length=6, chunk_size=2, **default)
    assert np.abs(chunked - whole).max() <= 1e-3


def test_chunking_is_exact_in_float64(tiny_sd):
    """With rounding out of the way, chunked and unchunked runs compute the same numbers."""
    pipe = TextToVideoZeroPipeline.from_pretrained(tiny_sd, dtype=torch.float64)
    pipe.set_progress_bar_config(disable=True)
    whole = generate(pipe, video_length=5, output_type="latent")
    chunked = generate(pipe, video_length=5, chunk_size=2, output_type="latent")
    assert (chunked - whole).abs().max().item() <= 1e-12


def test_chunk_equivalence_holds_for_a_multistep_scheduler(tiny_sd):
    pipe = TextToVideoZeroPipeline.from_pretrained(tiny_sd)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    whole = generate(pipe, video_length=4)
    chunked = generate(pipe, video_length=4, chunk_size=2)
    assert np.abs(chunked - whole).max() <= 1e-3


def test_anchor_runs_once_per_step_and_every_frame_once(t2v_pipe):
    """UNet rows per call: the anchor phase runs 1 frame; each video step runs each frame exactly once."""
    rows = []
    hook = t2v_pipe.unet.register_forward_pre_hook(lambda module, args: rows.append(args[0].shape[0]))
    try:
        generate(t2v_pipe, video_length=5, chunk_size=2, guidance_scale=7.5)
    finally:
        hook.remove()
    index_t, index_t_prime = step_indices(FAST["num_inference_steps"], FAST["t0"], FAST["t1"])
    video_steps = FAST["num_inference_steps"] - index_t
    # Two guidance branches per frame; chunks of 2, 2, 1 frames per video step.
    assert rows == [2] * index_t_prime + [4, 4, 2] * video_steps


@pytest.mark.parametrize(
    "kwargs, slices",
    [
        (dict(decode_chunk_size=2), [2, 2, 1]),
        (dict(chunk_size=3), [3, 2]),  # by default the decoder takes as many frames at a time as the UNet
        (dict(chunk_size=3, decode_chunk_size=1), [1] * 5),
        (dict(), [5]),  # unchunked: all at once
    ],
)
def test_decoding_is_sliced(t2v_pipe, kwargs, slices):
    sizes = []
    hook = t2v_pipe.vae.decoder.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    try:
        generate(t2v_pipe, video_length=5, **kwargs)
    finally:
        hook.remove()
    assert sizes == slices


def test_same_seed_same_video_other_seed_other_video(t2v_pipe):
    first, again, other = generate(t2v_pipe, seed=1), generate(t2v_pipe, seed=1), generate(t2v_pipe, seed=2)
    assert np.array_equal(first, again)
    assert np.abs(first - other).max() > 0.05


def test_token_merging_is_deterministic_active_and_removed(t2v_pipe):
    plain = generate(t2v_pipe, video_length=3)
    merged = generate(t2v_pipe, video_length=3, merging_ratio=0.5)
    merged_again = generate(t2v_pipe, video_length=3, merging_ratio=0.5)
    assert np.array_equal(merged, merged_again)
    assert np.abs(merged - plain).max() > 1e-3  # the patch did something
    assert not any(type(m).__name__ == "ToMeBlock" for m in t2v_pipe.unet.modules())
    assert np.array_equal(generate(t2v_pipe, video_length=3), plain)  # ratio 0 runs the unpatched UNet


def test_ablations_change_the_video(t2v_pipe):
    full = generate(t2v_pipe, video_length=4, motion_field_strength_x=64, motion_field_strength_y=64)
    no_cf = generate(
        t2v_pipe, video_length=4, motion_field_strength_x=64, motion_field_strength_y=64, use_cf_attn=False
    )
    no_motion = generate(
        t2v_pipe, video_length=4, motion_field_strength_x=64, motion_field_strength_y=64, use_motion_field=False
    )
    assert np.abs(full - no_cf).max() > 1e-3
    assert np.abs(full - no_motion).max() > 1e-3
    # The anchor frame's trajectory is the same whatever happens to the others.
    np.testing.assert_allclose(full[0], no_motion[0], atol=1e-4)


def test_a_single_frame_and_a_long_video_work(t2v_pipe):
    assert generate(t2v_pipe, video_length=1).shape[0] == 1
    fast = dict(num_inference_steps=3, t0=1, t1=2)
    latents = generate(t2v_pipe, video_length=64, chunk_size=8, output_type="latent", **fast)
    assert latents.shape == (64, 4, 8, 8)
    assert torch.isfinite(latents).all()


def test_callback_sees_every_step_and_can_replace_latents(t2v_pipe):
    steps = []

    def callback(pipe, step, timestep, tensors):
        steps.append(step)
        return {"latents": tensors["latents"] * 0}

    frames = generate(t2v_pipe, video_length=2, callback_on_step_end=callback)
    index_t, index_t_prime = step_indices(FAST["num_inference_steps"], FAST["t0"], FAST["t1"])
    assert steps == list(range(index_t_prime + FAST["num_inference_steps"] - index_t))
    zeroed = t2v_pipe.decode_latents(torch.zeros(1, 4, 8, 8))
    np.testing.assert_allclose(frames[0], zeroed[0], atol=1e-5)


def test_a_failed_call_leaves_the_unet_as_it_was(t2v_pipe):
    before = dict(t2v_pipe.unet.attn_processors)

    def explode(pipe, step, timestep, tensors):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        generate(t2v_pipe, merging_ratio=0.5, callback_on_step_end=explode)
    assert t2v_pipe.unet.attn_processors == before
    assert not any(isinstance(p, CrossFrameAttnProcessor) for p in t2v_pipe.unet.attn_processors.values())
    assert not any(type(m).__name__ == "ToMeBlock" for m in t2v_pipe.unet.modules())


def test_the_progress_bar_counts_the_steps_asked_for_and_the_anchor_s_extra_steps_apart(t2v_pipe, capsys):
    t2v_pipe.set_progress_bar_config(disable=False)
    try:
        generate(t2v_pipe, video_length=2)
        text_run = capsys.readouterr().err
        generate(t2v_pipe, video_length=2, image=np.full((64, 64, 3), 128, np.uint8), image_strength=1.0)
        image_run = capsys.readouterr().err
    finally:
        t2v_pipe.set_progress_bar_config(disable=True)
    steps = FAST["num_inference_steps"]
    index_t, index_t_prime = step_indices(steps, FAST["t0"], FAST["t1"])
    for err in (text_run, image_run):
        assert f"{steps}/{steps}" in err  # the user's steps, on their own bar
        extra = index_t_prime - index_t
        assert re.search(rf"Anchor frame on to T'[^\n\r]*{extra}/{extra}", err)
        assert f"/{steps + extra}" not in err  # never one bar over both


def test_a_running_job_knows_how_many_of_the_user_s_steps_ran(t2v_pipe):
    from utils.jobs import Job, job_scope

    seen = []
    job = Job()

    def note(pipe, step, timestep, tensors):
        seen.append(job.steps_done())
        return tensors

    with job_scope(job):
        generate(t2v_pipe, video_length=2, callback_on_step_end=note)
    steps = FAST["num_inference_steps"]
    assert job.steps_done() == (steps, steps)
    assert seen[0] == (0, steps) and all(done <= total == steps for done, total in seen)
