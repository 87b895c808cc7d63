"""Exact speed options: channels-last layout and regional torch.compile of the denoising networks, as the settings
choose them. Their speed shows on a GPU; here, that they are applied, that the output stays that of the plain
networks up to rounding, and that new chunk sizes do not recompile."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

import utils.compilation as compilation
from model import Model
from settings import Settings
from tabs.guided import example
from tests.test_lora import make_lora
from utils.compilation import REPEATED_BLOCKS, is_compiled
from utils.video import read_video


def model_with(tmp_path, **settings) -> Model:
    base = Settings.from_env().with_tiny_models()
    return Model(settings=dataclasses.replace(base, output_dir=tmp_path / "out", **settings))


def latents(model: Model, video_length: int = 5, **kwargs) -> torch.Tensor:
    pipe = model.text2video_pipeline("tiny-sd")
    generator = torch.Generator().manual_seed(0)
    call = dict(video_length=video_length, height=64, width=64, num_inference_steps=4, output_type="latent")
    return pipe("a cat", generator=generator, **call, **kwargs).frames


def blocks(network: torch.nn.Module) -> list[torch.nn.Module]:
    return [block for block in network.modules() if type(block).__name__ in REPEATED_BLOCKS]


def four_d_weights(network: torch.nn.Module) -> list[torch.Tensor]:
    return [p for p in network.parameters() if p.ndim == 4]


def graphs() -> int:
    return counters["stats"]["unique_graphs"]


def test_settings_read_the_speed_knobs():
    settings = Settings.from_env({"T2VZ_COMPILE": "1", "T2VZ_CHANNELS_LAST": "on"})
    assert (settings.compile, settings.channels_last) == (True, "on")
    default = Settings.from_env({})
    assert (default.compile, default.channels_last) == (False, "auto")
    assert Settings.from_env({"T2VZ_CHANNELS_LAST": "sideways"}).channels_last == "auto"  # unknown: the default


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_channels_last_weights_give_the_same_video(tmp_path):
    plain, nhwc = model_with(tmp_path), model_with(tmp_path, channels_last="on")
    unet = nhwc.base_components("tiny-sd")["unet"]
    assert four_d_weights(unet) and all(
        w.is_contiguous(memory_format=torch.channels_last) for w in four_d_weights(unet)
    )
    assert not plain.base_components("tiny-sd")["unet"].conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(latents(nhwc, chunk_size=2), latents(plain, chunk_size=2), atol=1e-5, rtol=1e-4)
    controlnet = nhwc.controlnet("tiny-controlnet-canny")
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in four_d_weights(controlnet))
    assert nhwc.controlnet_canny(example("cat_zoom.mp4"), "a cat", resolution=64, max_frames=2).path
    # ModelScope's 3-D UNet: its 2-D convolutions change layout, its temporal (3-D) ones keep theirs.
    assert nhwc.modelscope("a cat", num_frames=4, num_inference_steps=2, height=64, width=64).path
    unet3d = nhwc.modelscope_pipeline("tiny-modelscope").unet
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in four_d_weights(unet3d))
    assert any(p.ndim == 5 for p in unet3d.parameters())


def test_channels_last_is_on_by_default_on_cuda_only(tmp_path):
    """auto: on CUDA (simulated: model offloading leaves the modules in CPU memory there), not on a CPU."""
    on_cpu = model_with(tmp_path).base_components("tiny-sd")["unet"]
    assert not on_cpu.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    model = model_with(tmp_path, offload="model")
    model.device = torch.device("cuda")
    assert model.base_components("tiny-sd")["unet"].conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    off = model_with(tmp_path, offload="model", channels_last="off")
    off.device = torch.device("cuda")
    assert not off.base_components("tiny-sd")["unet"].conv_in.weight.is_contiguous(memory_format=torch.channels_last)


def test_without_a_compiler_the_networks_run_uncompiled_with_a_log_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(compilation.shutil, "which", lambda name: None)
    model = model_with(tmp_path, compile=True)
    with caplog.at_level("WARNING"):
        unet = model.base_components("tiny-sd")["unet"]
    assert "needs a C/C++ compiler" in caplog.text
    assert not any(is_compiled(block) for block in blocks(unet))
    assert model.text2video("a cat", model_name="tiny-sd", resolution=64, video_length=2, num_inference_steps=2).path


def test_the_first_run_says_it_compiles(tmp_path, monkeypatch):
    """The first run of a compiled model is slow (minutes with real models): its progress bar says why, once."""
    monkeypatch.setattr(compilation, "BACKEND", "eager")
    model = model_with(tmp_path, compile=True)
    first = model.text2video_pipeline("tiny-sd")._progress_bar_config["desc"]
    again = model.text2video_pipeline("tiny-sd")._progress_bar_config["desc"]
    assert "compiling on this first run" in first and again == "Generating (text2video)"
    guided = model.controlnet_pipeline("tiny-sd", "tiny-controlnet-canny")._progress_bar_config["desc"]
    assert "compiling on this first run" in guided  # the ControlNet is new: it compiles
    plain = model_with(tmp_path).text2video_pipeline("tiny-sd")._progress_bar_config["desc"]
    assert plain == "Generating (text2video)"


@pytest.mark.slow
def test_compiled_blocks_give_the_same_video_and_new_chunk_sizes_do_not_recompile(tmp_path):
    """The real path: inductor (C++ kernels on a CPU, Triton on CUDA)."""
    torch._dynamo.reset()  # a fresh cache and count: nothing compiled by another test counts here
    plain, compiled = model_with(tmp_path), model_with(tmp_path, compile=True)
    unet = compiled.base_components("tiny-sd")["unet"]
    assert blocks(unet) and all(is_compiled(block) for block in blocks(unet))
    assert not any(is_compiled(block) for block in blocks(plain.base_components("tiny-sd")["unet"]))
    for chunk_size in (None, 2):  # the second batch size seen makes the batch dimension dynamic
        torch.testing.assert_close(latents(compiled, chunk_size=chunk_size), latents(plain, chunk_size=chunk_size))
    assert graphs() > 0  # the blocks did compile
    seen = graphs()
    for chunk_size, video_length in ((3, 5), (4, 5), (2, 7)):
        expected = latents(plain, video_length, chunk_size=chunk_size)
        torch.testing.assert_close(latents(compiled, video_length, chunk_size=chunk_size), expected)
    assert graphs() == seen  # new chunk sizes and lengths ran on the compiled code, without recompiling


def video(result) -> np.ndarray:
    return read_video(result.path)[0].astype(int)


@pytest.mark.slow
def test_every_mode_and_option_runs_through_compiled_blocks(tmp_path, monkeypatch, tiny_models):
    """What the blocks meet in the app: token merging, feature reuse, sparse-causal attention, a LoRA, SDXL,
    ControlNet, Instruct-Pix2Pix and ModelScope. Traced by torch.compile and run through AOT autograd (inductor's
    front end, without generating kernels, to keep this short): the videos equal the uncompiled ones."""
    monkeypatch.setattr(compilation, "BACKEND", "aot_eager")
    torch._dynamo.reset()
    plain, compiled = model_with(tmp_path), model_with(tmp_path, compile=True)
    for options in (
        dict(merging_ratio=0.5, chunk_size=2),
        dict(feature_reuse=2),
        dict(cross_frame="sparse-causal", chunk_size=2),
        dict(use_cf_attn=False),
    ):
        torch.testing.assert_close(latents(compiled, **options), latents(plain, **options), atol=1e-5, rtol=1e-4)
    assert graphs() > 0
    lora = str(make_lora(tiny_models["sd"], tmp_path / "lora"))
    text = dict(model_name="tiny-sd", resolution=64, video_length=3, num_inference_steps=4, lora=lora)
    clip = example("cat_zoom.mp4")
    modes = (
        lambda model: model.text2video("a cat", **text),
        lambda model: model.text2video("a cat", **{**text, "model_name": "tiny-sdxl", "lora": ""}),
        lambda model: model.controlnet_canny(clip, "a cat", resolution=64, max_frames=2, num_inference_steps=2),
        lambda model: model.pix2pix(clip, "night", resolution=64, max_frames=2, num_inference_steps=2),
        lambda model: model.modelscope("a cat", num_frames=4, num_inference_steps=2, height=64, width=64),
    )
    for run in modes:
        assert np.abs(video(run(compiled)) - video(run(plain))).max() <= 2  # rounding, then the video codec
    assert all(is_compiled(block) for block in blocks(compiled.controlnet("tiny-controlnet-canny")))
