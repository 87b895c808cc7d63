"""Cross-step feature reuse: the deep blocks (and a ControlNet) run at every k-th step only, every chunking gives the
same output, interval 1 is the exact method, and every mode takes it."""

from __future__ import annotations

import math

import pytest
import torch

from errors import InputError
from model import Model
from pipelines.feature_reuse import FeatureReuse
from settings import Settings
from tabs.guided import example

RUN = dict(prompt="a cat", video_length=5, height=64, width=64, output_type="latent", t0=None, t1=None)


def counter(module: torch.nn.Module) -> list[int]:
    """How often the block `module` really runs (a hook on its first resnet: the block's own hook would fire for
    reused calls too)."""
    calls: list[int] = []
    module.resnets[0].register_forward_hook(lambda *args: calls.append(1))
    return calls


@pytest.fixture
def pipe(t2v_pipe):
    return type(t2v_pipe)(**t2v_pipe.components)


def test_interval_one_is_the_exact_method(pipe):
    exact = pipe(**RUN, num_inference_steps=6, generator=torch.Generator().manual_seed(0)).frames
    same = pipe(**RUN, num_inference_steps=6, feature_reuse=1, generator=torch.Generator().manual_seed(0)).frames
    assert torch.equal(exact, same)


@pytest.mark.parametrize("interval", [2, 3])
def test_deep_blocks_run_every_k_steps_and_chunking_changes_nothing(tiny_models, interval):
    from pipelines import TextToVideoZeroPipeline

    pipe = TextToVideoZeroPipeline.from_pretrained(tiny_models["sd"])
    pipe.set_progress_bar_config(disable=True)
    mid, shallow = counter(pipe.unet.mid_block), counter(pipe.unet.up_blocks[-1])
    steps = 12
    run = dict(**RUN, num_inference_steps=steps, feature_reuse=interval)
    whole = pipe(**run, generator=torch.Generator().manual_seed(0)).frames
    exact = pipe(**{**run, "feature_reuse": 1}, generator=torch.Generator().manual_seed(0)).frames
    from pipelines.text_to_video_zero import motion_step_indices

    index_t, index_t_prime = motion_step_indices(pipe.fresh_scheduler(steps, "cpu").timesteps)
    # Three loops (the anchor to T, to T', all frames from T), each starting with a full step.
    phases = [index_t, index_t_prime - index_t, steps - index_t]
    full_steps = sum(math.ceil(n / interval) for n in phases)
    assert len(mid) == full_steps + sum(phases)  # reused (this run) + exact (every step)
    assert len(shallow) == 2 * sum(phases)  # the shallow end runs at every step in both runs
    mid.clear()
    chunked = pipe(**run, chunk_size=2, generator=torch.Generator().manual_seed(0)).frames
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)
    assert not torch.equal(whole, exact)  # reused features are not the exact method's
    assert len(mid) == sum(math.ceil(n / interval) * (1 if i < 2 else 3) for i, n in enumerate(phases))


def test_the_controlnet_runs_at_the_full_steps_only(tiny_models):
    from annotators.canny import canny
    from pipelines import ControlNetVideoPipeline
    from utils.video import load_video

    model = Model(settings=Settings.from_env().with_tiny_models())
    pipe = model.controlnet_pipeline("tiny-sd", "tiny-controlnet-canny")
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe, ControlNetVideoPipeline)
    frames = canny(load_video(example("cat_zoom.mp4"), 64, max_frames=3).frames, 100, 200)
    calls = counter(pipe.controlnet.down_blocks[0])
    pipe("a cat", frames, num_inference_steps=6, feature_reuse=3, output_type="latent")
    assert len(calls) == 2  # steps 0 and 3


def test_modelscope_reuses_its_deep_blocks(tiny_models):
    model = Model(settings=Settings.from_env().with_tiny_models())
    pipe = model.modelscope_pipeline("tiny-modelscope")
    pipe.set_progress_bar_config(disable=True)
    calls = counter(pipe.unet.mid_block)
    latents = pipe("a cat", num_frames=3, num_inference_steps=4, feature_reuse=2, output_type="latent").frames
    assert len(calls) == 2 and torch.isfinite(latents).all()


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_every_mode_takes_feature_reuse_and_bad_values_are_refused(tiny_models):
    model = Model(settings=Settings.from_env().with_tiny_models())
    result = model.text2video("a cat", resolution=64, video_length=2, num_inference_steps=4, feature_reuse=2)
    guided = model.controlnet_depth(example("cat_zoom.mp4"), "a cat", resolution=64, max_frames=2, feature_reuse=3)
    edited = model.pix2pix(example("cat_zoom.mp4"), "night", resolution=64, max_frames=2, feature_reuse=2)
    assert all(r.path.endswith(".mp4") for r in (result, guided, edited))
    for bad in (0, 11, "often", 2.5):
        with pytest.raises(InputError, match="Feature reuse"):
            model.text2video("a cat", feature_reuse=bad)


def test_remember_keeps_values_per_call_until_the_next_full_step():
    from types import SimpleNamespace

    reuse = FeatureReuse(SimpleNamespace(down_blocks=[], up_blocks=[]), 2)  # type: ignore[arg-type]
    seen = []
    for n in range(4):
        reuse.begin_step(n)
        for key in (0, 3):
            reuse.key = key
            seen.append(reuse.remember("x", lambda n=n, key=key: (n, key)))
    assert seen == [(0, 0), (0, 3), (0, 0), (0, 3), (2, 0), (2, 3), (2, 0), (2, 3)]
