"""The Model on offline tiny models: loading, validation before loading, video files, seeds."""

import re

import pytest
import torch

from catalogue import TINY_SD_MODEL
from errors import InputError, ModelLoadError
from loading import pick_device
from model import Model
from settings import Settings
from utils.video import read_video

FAST = dict(model_name=TINY_SD_MODEL, resolution=64, num_inference_steps=6, t0=3, t1=5, video_length=4)


@pytest.fixture
def model(settings, tiny_models):
    return Model(settings=settings)


def test_device_and_dtype_are_picked_automatically():
    device, dtype = pick_device()
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert device.type == expected
    assert dtype == (torch.float16 if expected == "cuda" else torch.float32)
    assert pick_device("cpu", torch.float64) == (torch.device("cpu"), torch.float64)


def test_construction_loads_nothing(settings):
    model = Model(settings=settings)
    assert model.slots == {}


def test_process_text2video_writes_an_mp4_that_decodes_back(model, tmp_path):
    path = model.process_text2video("a cat walking on grass", **FAST, fps=5)
    frames, fps = read_video(path)
    assert frames.shape == (4, 64, 64, 3) and fps == 5
    assert path.startswith(str(model.settings.output_dir))
    # An explicit path is honoured; a GIF works too.
    gif = model.process_text2video("a cat", **FAST, path=str(tmp_path / "x.gif"))
    assert gif == str(tmp_path / "x.gif")


def test_each_request_gets_its_own_file_and_seeds_reproduce(model):
    first = model.text2video("a cat", **FAST, seed=7)
    second = model.text2video("a cat", **FAST, seed=7)
    other = model.text2video("a cat", **FAST, seed=8)
    assert first.path != second.path
    a, b, c = (read_video(r.path)[0].astype(int) for r in (first, second, other))
    assert (a == b).all() and abs(a - c).max() > 10


def test_random_seed_is_drawn_and_reported(model):
    result = model.text2video("a cat", **FAST, seed=-1)
    assert 0 <= result.seed < 2**31
    again = model.text2video("a cat", **FAST, seed=result.seed)
    assert (read_video(result.path)[0] == read_video(again.path)[0]).all()


def test_pipeline_is_cached_between_requests(model):
    model.process_text2video("a cat", **FAST)
    unet = model.base_components(TINY_SD_MODEL)["unet"]
    model.process_text2video("a dog", **FAST)
    assert model.base_components(TINY_SD_MODEL)["unet"] is unet


def test_chunk_size_above_the_video_length_is_clamped_with_a_note(model):
    result = model.text2video("a cat", **{**FAST, "video_length": 3}, chunk_size=8)
    assert any("Chunk size 8" in note for note in result.notes)
    assert read_video(result.path)[0].shape[0] == 3


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(prompt=""), "Prompt"),
        (dict(prompt="   "), "Prompt"),
        (dict(t0=5, t1=3), "t0"),
        (dict(t0=3, t1=6), "t1"),
        (dict(t0=-1, t1=5), "t0"),
        (dict(chunk_size=1), "Chunk size"),
        (dict(video_length=0), "Video length"),
        (dict(video_length=10_000), "Video length"),
        (dict(resolution=100), "multiple of 8"),
        (dict(resolution=4096), "Resolution"),
        (dict(merging_ratio=0.95), "Merging ratio"),
        (dict(merging_ratio=-0.1), "Merging ratio"),
        (dict(num_inference_steps=1), "Steps"),
        (dict(fps=0), "fps"),
        (dict(guidance_scale=float("inf")), "Guidance"),
        (dict(motion_field_strength_x="fast"), "Motion"),
        (dict(seed=-2), "seed"),
        (dict(seed=1.5), "seed"),
        (dict(path="out.avi"), "path"),
        (dict(model_name="   "), "model_name"),
    ],
)
def test_bad_input_is_refused_before_any_model_loads(model, bad, words):
    kwargs = {**FAST, "prompt": "a cat", **bad}
    with pytest.raises(InputError, match=words):
        model.process_text2video(**kwargs)
    assert model.slots == {}


def test_t0_t1_error_suggests_values_that_work(model):
    with pytest.raises(InputError, match=r"For 20 steps try t0=\d+, t1=\d+") as error:
        model.process_text2video("a cat", **{**FAST, "num_inference_steps": 20, "t0": 44, "t1": 47})
    t0, t1 = map(int, re.search(r"try t0=(\d+), t1=(\d+)", str(error.value)).groups())  # type: ignore[union-attr]
    assert read_video(model.process_text2video("a cat", **{**FAST, "num_inference_steps": 20, "t0": t0, "t1": t1}))


def test_an_unknown_model_names_the_model_and_the_fixes_and_the_previous_model_stays(model, tmp_path):
    model.process_text2video("a cat", **FAST)
    loaded = model.slots["base"]
    with pytest.raises(ModelLoadError) as error:
        model.process_text2video("a cat", **{**FAST, "model_name": "nobody/no-such-model-xyz"})
    message = str(error.value)
    for words in ("nobody/no-such-model-xyz", "HF_HUB_OFFLINE", "local", "offline tiny models in the list"):
        assert words in message
    assert "--tiny-models" not in message  # already on: what applies is suggested
    assert model.slots["base"] is loaded
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(ModelLoadError, match="not a complete diffusers folder"):
        model.process_text2video("a cat", **{**FAST, "model_name": str(broken)})
    assert read_video(model.process_text2video("a cat", **FAST))[0].shape[0] == 4


def test_a_local_folder_loads_through_from_pretrained(model, tiny_sd):
    path = model.process_text2video("a cat", **{**FAST, "model_name": str(tiny_sd)})
    assert read_video(path)[0].shape == (4, 64, 64, 3)


def test_settings_parse_and_clamp_the_environment():
    settings = Settings.from_env(
        {
            "T2VZ_TINY_MODELS": "yes",
            "T2VZ_MAX_FRAMES": "100000",
            "T2VZ_MAX_RESOLUTION": "777",
            "T2VZ_QUEUE_SIZE": "many",
            "T2VZ_SD_MODEL": " my/model ",
        }
    )
    assert settings.tiny_models and settings.max_frames == 1024
    assert settings.max_resolution == 776 and settings.queue_size == 20
    assert settings.sd_model == "my/model"
    assert settings.default_sd_model == TINY_SD_MODEL
    defaults = Settings.from_env({})
    assert not defaults.tiny_models
    from tabs.defaults import sd_model_choices

    assert sd_model_choices(defaults)[0] == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert "dreamlike-art/dreamlike-photoreal-2.0" in sd_model_choices(defaults)
