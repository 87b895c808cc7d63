"""Memory options: fp8 weight storage, group offloading, model offloading and VAE tiling, as the settings choose them.
Their savings show on a GPU only; here their plumbing and their effect on the output."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from model import Model
from settings import Settings
from tabs.guided import example
from utils.video import read_video

FAST = dict(model_name="tiny-sd", resolution=64, video_length=3, num_inference_steps=4)


def model_with(tmp_path, **settings) -> Model:
    base = Settings.from_env().with_tiny_models()
    return Model(settings=dataclasses.replace(base, output_dir=tmp_path / "out", **settings))


def frames(model: Model, **kwargs) -> np.ndarray:
    return read_video(model.text2video("a cat", **FAST, **kwargs).path)[0].astype(int)


def test_settings_read_the_memory_knobs():
    env = {"T2VZ_OFFLOAD": "group", "T2VZ_LAYERWISE_FP8": "1", "T2VZ_VAE_TILING": "on"}
    settings = Settings.from_env(env)
    assert (settings.offload, settings.layerwise_fp8, settings.vae_tiling) == ("group", True, "on")
    assert Settings.from_env({"T2VZ_CPU_OFFLOAD": "1"}).offload == "model"  # the older knob
    assert Settings.from_env({"T2VZ_OFFLOAD": "everything"}).offload == ""  # unknown: off
    assert Settings.from_env({}).vae_tiling == "auto"


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_fp8_storage_halves_the_denoisers_weights_and_still_generates(tmp_path):
    exact, fp8 = model_with(tmp_path), model_with(tmp_path, layerwise_fp8=True)
    plain = frames(exact)
    stored = frames(fp8)
    unet = fp8.base_components("tiny-sd")["unet"]
    assert {p.dtype for p in unet.parameters()} <= {torch.float8_e4m3fn, torch.float32}
    assert any(p.dtype == torch.float8_e4m3fn for p in unet.parameters())
    assert fp8.base_components("tiny-sd")["vae"].dtype == torch.float32  # the VAE keeps its precision
    assert 0 < np.abs(stored - plain).mean() < 40  # 8-bit weights: close, not equal
    guided = fp8.controlnet_canny(example("cat_zoom.mp4"), "a cat", resolution=64, max_frames=2)
    controlnet = fp8.controlnet("tiny-controlnet-canny")
    assert guided.path and any(p.dtype == torch.float8_e4m3fn for p in controlnet.parameters())


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_group_offloading_gives_the_same_video(tmp_path):
    """On a CPU the blocks visit the same device: the hooks run, and the output must not change."""
    plain = frames(model_with(tmp_path))
    offloaded = model_with(tmp_path, offload="group")
    assert np.array_equal(frames(offloaded), plain)
    unet = offloaded.base_components("tiny-sd")["unet"]
    assert getattr(unet, "_diffusers_hook", None) is not None  # the group-offloading hooks are installed
    edited = offloaded.pix2pix(example("cat_zoom.mp4"), "night", resolution=64, max_frames=2, num_inference_steps=2)
    assert edited.path


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_model_offloading_is_set_on_every_pipeline_on_cuda(tmp_path, monkeypatch):
    """accelerate's hooks need a GPU: on one, each call's pipeline gets them and the modules stay in CPU memory."""
    from diffusers import WanPipeline

    from pipelines.base import VideoPipelineBase

    calls = []
    for pipeline_class in (VideoPipelineBase, WanPipeline):
        monkeypatch.setattr(
            pipeline_class, "enable_model_cpu_offload", lambda self, device=None: calls.append(type(self).__name__)
        )
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)  # no GPU here to ask
    model = model_with(tmp_path, offload="model")
    model.device = torch.device("cuda")  # no module is moved: offloading keeps them in CPU memory
    model.text2video_pipeline("tiny-sd")
    model.controlnet_pipeline("tiny-sd", "tiny-controlnet-canny")
    model.pix2pix_pipeline("tiny-pix2pix")
    model.modelscope_pipeline("tiny-modelscope")
    model.video_pipeline("tiny-wan", image=False)
    assert calls == [
        "TextToVideoZeroPipeline",
        "ControlNetVideoPipeline",
        "InstructPix2PixVideoPipeline",
        "ModelScopePipeline",
        "WanPipeline",
    ]


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
@pytest.mark.parametrize("tiling, expected", [("on", True), ("off", False), ("auto", False)])
def test_vae_tiling_follows_the_setting_and_the_frame_size(tmp_path, monkeypatch, tiling, expected):
    import model as model_module

    model = model_with(tmp_path, vae_tiling=tiling)
    seen = []
    original = model_module.Model._write

    def spy(pipe, latents, writer, beside=None):
        seen.append(pipe.vae.use_tiling)
        return original(pipe, latents, writer, beside)

    monkeypatch.setattr(model_module.Model, "_write", staticmethod(spy))
    frames(model)
    assert seen == [expected]
    if tiling == "auto":  # from 1024 px on, tiles
        monkeypatch.setattr(model_module, "VAE_TILING_FROM", 64)
        frames(model)
        assert seen[-1] is True


MOTION = dict(model_name="tiny-sd", resolution=64, video_length=4, num_inference_steps=2)
MOTION.update(motion_adapter="tiny-motion-adapter")


def motion_frames(model: Model, **kwargs) -> np.ndarray:
    return read_video(model.text2video("a cat", **MOTION, **kwargs).path)[0].astype(int)


def test_the_motion_unet_takes_the_memory_options(tmp_path):
    """The second UNet a motion module brings: stored in fp8 and offloaded by groups like the base's."""
    plain = motion_frames(model_with(tmp_path))
    offloaded = model_with(tmp_path, offload="group")
    assert np.array_equal(motion_frames(offloaded), plain)
    assert getattr(offloaded.slots["motion_unet"][1], "_diffusers_hook", None) is not None
    fp8 = model_with(tmp_path, layerwise_fp8=True)
    stored = motion_frames(fp8, context_length=2, context_stride=1)  # FreeNoise too (its blocks: the call's dtype)
    motion = fp8.slots["motion_unet"][1]
    assert any(p.dtype == torch.float8_e4m3fn for p in motion.parameters())
    assert stored.shape == plain.shape
