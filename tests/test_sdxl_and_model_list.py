"""SDXL through the zero-shot engine, family detection from the checkpoint, and the model dropdown's list."""

import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from errors import WrongModelError
from model import Model
from pipelines import TextToVideoZeroSDXLPipeline
from settings import Settings
from utils import model_list
from utils.video import read_video


@pytest.fixture(scope="module")
def pipe(tiny_models):
    pipe = TextToVideoZeroSDXLPipeline.from_pretrained(tiny_models["sdxl"])
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, seed=0, **kwargs):
    args = {"video_length": 4, "height": 64, "width": 64, "num_inference_steps": 8, "t0": 5, "t1": 7, **kwargs}
    return pipe("a cat", generator=torch.Generator().manual_seed(seed), **args).frames


def test_tiny_sdxl_has_sdxl_s_shape(tiny_models, pipe):
    assert (tiny_models["sdxl"] / "text_encoder_2").is_dir()
    assert pipe.unet.config.addition_embed_type == "text_time"
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor == 128  # SDXL proper: 1024


def test_sdxl_conditioning_reaches_the_unet(pipe):
    seen = []

    def spy(module, args, kwargs):
        added = kwargs["added_cond_kwargs"]
        seen.append(
            (
                args[0].shape[0],
                tuple(added["text_embeds"].shape),
                tuple(added["time_ids"].shape),
                added["time_ids"][0].tolist(),
            )
        )

    hook = pipe.unet.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        generate(pipe, video_length=3, chunk_size=2, height=64, width=96)
    finally:
        hook.remove()
    assert {(rows, text, ids) for rows, text, ids, _ in seen} == {(2, (2, 32), (2, 6)), (4, (4, 32), (4, 6))}
    assert seen[0][3] == [64, 96, 0, 0, 64, 96]  # original size, crop top-left, target size


def test_sdxl_determinism_and_chunk_equivalence(pipe, tiny_models):
    whole = generate(pipe)
    assert np.array_equal(whole, generate(pipe))
    assert np.abs(whole - generate(pipe, seed=1)).max() > 1e-3
    assert np.abs(whole - generate(pipe, chunk_size=2)).max() <= 1e-3
    exact = TextToVideoZeroSDXLPipeline.from_pretrained(tiny_models["sdxl"], dtype=torch.float64)
    exact.set_progress_bar_config(disable=True)
    a = generate(exact, output_type="latent")
    assert (a - generate(exact, chunk_size=2, output_type="latent")).abs().max().item() <= 1e-12


@pytest.fixture(scope="module")
def model(tiny_models):
    return Model(settings=Settings.from_env().with_tiny_models())


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_the_family_comes_from_the_checkpoint_not_the_name(model, tiny_models, tmp_path):
    disguised = tmp_path / "stable-diffusion-v1-5"
    shutil.copytree(tiny_models["sdxl"], disguised)
    result = model.text2video("a cat", model_name=str(disguised), num_inference_steps=4, t0=1, t1=2, video_length=2)
    assert read_video(result.path)[0].shape == (2, 128, 128, 3)  # the SDXL model's own size when none is asked
    assert "text_encoder_2" in model.slots["base"][1]
    sd = model.text2video("a cat", model_name="tiny-sd", num_inference_steps=4, t0=1, t1=2, video_length=2)
    assert "text_encoder_2" not in model.slots["base"][1]
    assert read_video(sd.path)[0].shape == (2, 128, 128, 3)


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_an_sdxl_base_in_a_guided_mode_says_why_not(model):
    from tabs.guided import example

    with pytest.raises(WrongModelError, match="SDXL"):
        model.controlnet_canny(
            example("coffee_pan.mp4"),
            "a cup",
            model_name="tiny-sdxl",
            resolution=64,
            num_inference_steps=1,
            max_frames=1,
        )


def test_model_list_offline_and_online(tmp_path, monkeypatch):
    (tmp_path / "my-model").mkdir()
    (tmp_path / "my-model" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (tmp_path / "an-editor").mkdir()  # an Instruct-Pix2Pix folder: not for the SD tabs' list
    (tmp_path / "an-editor" / "model_index.json").write_text(
        '{"_class_name": "StableDiffusionInstructPix2PixPipeline"}'
    )
    (tmp_path / "not-a-model").mkdir()
    curated = ["stable-diffusion-v1-5/stable-diffusion-v1-5", "prompthero/openjourney"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert model_list.model_choices(curated, tmp_path) == [*curated, "my-model"]
    assert model_list.local_models(tmp_path, ("pix2pix",)) == ["an-editor"]
    # Online: hub results for the query follow, without duplicates.
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(model_list, "_cache", {})
    monkeypatch.setattr(
        "huggingface_hub.HfApi.list_models",
        lambda self, **kw: [SimpleNamespace(id=i) for i in ("prompthero/openjourney", "a/dreamy")],
    )
    assert model_list.model_choices(curated, tmp_path, "") == [*curated, "my-model", "a/dreamy"]
    assert model_list.model_choices(curated, tmp_path, "dream") == [*curated, "a/dreamy"]


def test_a_failing_hub_search_never_blocks(monkeypatch, tmp_path):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(model_list, "_cache", {})
    monkeypatch.setattr("huggingface_hub.HfApi.list_models", lambda self, **kw: time.sleep(30))
    start = time.monotonic()
    assert model_list.search_hub("x", timeout=0.5) == []
    assert time.monotonic() - start < 5
