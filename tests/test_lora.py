"""LoRAs: random low-rank weights made here, loaded like a downloaded LoRA; their effect, weight, swaps, refusals."""

import numpy as np
import pytest
import torch

from catalogue import TINY_SD_MODEL
from errors import InputError, ModelLoadError
from model import Model
from settings import Settings
from utils.video import read_video

ARGS = dict(model_name=TINY_SD_MODEL, resolution=64, num_inference_steps=6, t0=3, t1=5, video_length=3)


def make_lora(base_folder, out, seed=0, sdxl=False):
    """A LoRA for the base's UNet attention with random (non-zero) low-rank weights, saved as diffusers does."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(base_folder, subfolder="unet")
    unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    )
    pipeline = StableDiffusionXLPipeline if sdxl else StableDiffusionPipeline
    pipeline.save_lora_weights(out, unet_lora_layers=get_peft_model_state_dict(unet), safe_serialization=True)
    return out / "pytorch_lora_weights.safetensors"


@pytest.fixture(scope="module")
def loras(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("loras")
    return {
        "a": make_lora(tiny_models["sd"], root / "a", seed=0),
        "b": make_lora(tiny_models["sd"], root / "b", seed=1),
        "sdxl": make_lora(tiny_models["sdxl"], root / "sdxl", seed=2, sdxl=True),
    }


@pytest.fixture(scope="module")
def model(tiny_models):
    return Model(settings=Settings.from_env().with_tiny_models())


def frames(model, **kwargs):
    return read_video(model.process_text2video("a cat", **ARGS, **kwargs))[0].astype(int)


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_a_lora_changes_the_video_by_its_weight_and_leaves_cleanly(model, loras):
    plain = frames(model)
    with_a = frames(model, lora=str(loras["a"]))
    assert np.abs(with_a - plain).max() > 3
    assert np.array_equal(frames(model, lora=str(loras["a"]), lora_weight=0.0), plain)
    half = frames(model, lora=str(loras["a"]), lora_weight=0.5)
    assert 0 < np.abs(half - plain).mean() < np.abs(with_a - plain).mean()
    assert not np.array_equal(frames(model, lora=str(loras["b"])), with_a)  # swapped, not stacked
    assert np.array_equal(frames(model), plain)  # removed


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_a_lora_in_a_guided_mode(model, loras):
    from tabs.guided import example

    args = dict(resolution=64, num_inference_steps=2, max_frames=2)
    plain = read_video(model.process_controlnet_canny(example("coffee_pan.mp4"), "a cup", **args))[0].astype(int)
    styled = model.process_controlnet_canny(example("coffee_pan.mp4"), "a cup", lora=str(loras["a"]), **args)
    assert np.abs(read_video(styled)[0].astype(int) - plain).max() > 3


def test_loras_that_do_not_fit_are_refused_and_the_model_keeps_working(model, loras, tmp_path):
    with pytest.raises(ModelLoadError, match="another family"):
        frames(model, lora=str(loras["sdxl"]))  # an SDXL LoRA on an SD 1.x base
    pickled = tmp_path / "style.ckpt"
    pickled.write_bytes(b"\x80\x04not really")
    with pytest.raises(InputError, match="pickle"):
        frames(model, lora=str(pickled))
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="could not be applied"):
        frames(model, lora=str(bogus))
    with pytest.raises(InputError, match="LoRA weight"):
        frames(model, lora=str(loras["a"]), lora_weight=3)
    assert frames(model).shape == (3, 64, 64, 3)


@pytest.mark.slow
def test_a_base_swap_drops_the_lora(model, loras):
    frames(model, lora=str(loras["a"]))
    model.process_text2video("a cat", **{**ARGS, "model_name": "tiny-sd-dreambooth"})
    assert not model.loras  # the swapped-out base took its LoRA along


@pytest.mark.slow
def test_a_lora_in_the_pix2pix_mode_stays_with_its_model(model, loras):
    """The pix2pix model and the SD base each keep their own LoRA; neither leaks into the other."""
    from tabs.guided import example

    def edit(**kwargs):
        args = dict(resolution=64, num_inference_steps=2, max_frames=2)
        return read_video(model.process_pix2pix(example("coffee_pan.mp4"), "make it night", **args, **kwargs))[0]

    plain_edit, plain_video = edit().astype(int), frames(model)
    styled = edit(lora=str(loras["a"])).astype(int)
    assert np.abs(styled - plain_edit).max() > 3
    assert np.array_equal(frames(model), plain_video)  # the SD base has no LoRA
    assert np.abs(frames(model, lora=str(loras["b"])) - plain_video).max() > 3
    assert np.array_equal(edit(lora=str(loras["a"])).astype(int), styled)  # still LoRA a, at the same weight
    assert np.array_equal(edit().astype(int), plain_edit)  # removed
    assert np.array_equal(frames(model), plain_video)


@pytest.mark.slow
def test_an_sdxl_lora_on_an_sdxl_base(model, loras):
    args = {**ARGS, "model_name": "tiny-sdxl"}
    plain = read_video(model.process_text2video("a cat", **args))[0].astype(int)
    styled = read_video(model.process_text2video("a cat", lora=str(loras["sdxl"]), **args))[0].astype(int)
    assert np.abs(styled - plain).max() > 3


def test_a_lora_is_fused_for_speed_and_unfused_exactly(model, loras, monkeypatch):
    """Fused, the LoRA's layers cost nothing extra; the video is the unfused one's up to rounding; and the base
    weights come back bit for bit when it leaves (or its weight changes)."""
    from loading import ModelLoader, lora_layers

    unet = model.base_components(TINY_SD_MODEL)["unet"]
    before = {name: p.detach().clone() for name, p in unet.named_parameters()}
    fused = frames(model, lora=str(loras["a"]), lora_weight=0.7)
    layers = lora_layers(unet)
    assert layers and all(module.merged for _, module in layers)
    frames(model, lora=str(loras["a"]), lora_weight=0.3)  # a new weight: unfused, then fused again
    frames(model)  # removed
    after = dict(unet.named_parameters())
    assert all(torch.equal(before[name], after[name]) for name in before)
    monkeypatch.setattr(ModelLoader, "_fuse", lambda self, pipe: None)  # the LoRA layers run unfused
    monkeypatch.setattr(ModelLoader, "_unfuse", lambda self, pipe: None)
    unfused = frames(model, lora=str(loras["a"]), lora_weight=0.7)
    # Rounding apart (the mp4 encoder may turn a rounding difference into a few levels here and there).
    assert np.abs(fused - unfused).mean() < 0.2 and np.abs(fused - unfused).max() <= 8
    frames(model)
