"""Trained video transformers (Wan, LTX-Video, CogVideoX, HunyuanVideo-1.5) on their tiny offline models: equal to
diffusers' own pipelines, the family read from the model, its shape rules, refusals, LoRAs, memory options and a decode
that never loses a finished denoising."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch
from PIL import Image

from errors import InputError, ModelLoadError, OutOfMemory, WrongModelError
from model import Model
from pipelines.video_families import family_of, fit_shape, image_pipeline, takes_image
from pipelines.video_models import TrainedVideo, generate
from settings import Settings
from tests.helpers import stopping_after, web
from utils.jobs import Job, job_scope
from utils.video import read_video

FAMILIES = ("wan", "ltx", "cogvideox", "hunyuan15")
SMALL = dict(num_frames=9, height=64, width=64, num_inference_steps=2)


@dataclasses.dataclass
class Asked:
    """A call's clip as the runner reads it (None: the family's own)."""

    video_length: int | None = 9
    height: int | None = 64
    width: int | None = 64
    fps: float | None = None
    num_inference_steps: int | None = 2
    guidance_scale: float | None = None


def loaded(folder):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    index = dict(pipe.config, _class_name=type(pipe).__name__)
    return pipe, family_of(index, str(folder)), index


def picture() -> Image.Image:
    return Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))


def seeded() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def diffusers_clip(pipe, family, shape, image=None) -> np.ndarray:
    """The clip diffusers' pipeline makes for `shape` by itself (the reference), with each pipeline's own arguments:
    LTX's rate, CogVideoX's text length, HunyuanVideo-1.5's guider (no guidance argument; with an image, its size
    from the image)."""
    extra: dict = dict(height=shape.height, width=shape.width, guidance_scale=shape.guidance)
    if family.key == "ltx":
        extra["frame_rate"] = shape.fps
    if family.key == "cogvideox":
        extra["max_sequence_length"] = pipe.transformer.config.max_text_seq_length
    if family.key == "hunyuan15":
        assert pipe.guider.guidance_scale == shape.guidance  # the folder's guider, as the reference runs it
        extra = {} if image is not None else dict(height=shape.height, width=shape.width)
    if image is not None:
        extra["image"] = image
    return pipe(
        prompt="a cat",
        negative_prompt="",
        num_frames=shape.frames,
        num_inference_steps=shape.steps,
        generator=seeded(),
        output_type="np",
        **extra,
    ).frames[0]


def our_clip(pipe, family, shape, image=None) -> np.ndarray:
    latents = generate(pipe, family, "a cat", shape, image, negative_prompt="", generator=seeded())
    return TrainedVideo(pipe, family).decode(latents).numpy()


@pytest.fixture(scope="module")
def model(tiny_models, tmp_path_factory):
    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models(), output_dir=tmp_path_factory.mktemp("video-models")
    )
    return Model(settings=settings)


@pytest.mark.parametrize("key", FAMILIES)
def test_each_family_equals_diffusers_pipeline(tiny_models, key):
    """Our denoising (diffusers' pipeline asked for latents) and decoding equal the pipeline's own video."""
    pipe, family, _ = loaded(tiny_models[key])
    shape = fit_shape(pipe, family, Asked(), [])
    ours, reference = our_clip(pipe, family, shape), diffusers_clip(pipe, family, shape)
    assert ours.shape == reference.shape == (9, 64, 64, 3)
    assert np.abs(ours - reference).max() <= 1e-5


@pytest.mark.parametrize("key, must", [("wan", None), ("ltx", None), ("cogvideox-i2v", True), ("hunyuan15-i2v", True)])
def test_image_to_video_equals_diffusers_pipeline(tiny_models, key, must):
    """Wan 2.2 TI2V's layout and LTX take a first frame with the same weights, through their image pipelines; an
    image-to-video checkpoint (CogVideoX I2V, HunyuanVideo-1.5 I2V) must have one."""
    pipe, family, index = loaded(tiny_models[key])
    assert takes_image(family, index) is must
    image_pipe = image_pipeline(pipe, family)
    image_pipe.set_progress_bar_config(disable=True)
    shape = fit_shape(image_pipe, family, Asked(), [], image=picture())
    ours = our_clip(image_pipe, family, shape, picture())
    reference = diffusers_clip(image_pipe, family, shape, picture())
    assert ours.shape == reference.shape == (9, shape.height, shape.width, 3)
    assert np.abs(ours - reference).max() <= 1e-5


# Other published layouts of each family than the tiny profile's (see the builders): (family, builder options, with
# an image, whether the model takes one: `takes_image`).
LAYOUTS = [
    ("wan", {"layout": "t2v"}, False, False),  # Wan 2.1 T2V: a 16-channel VAE, one timestep per step
    ("wan", {"layout": "a14b"}, False, False),  # Wan 2.2 T2V-A14B: two transformers split at a boundary
    ("wan", {"layout": "i2v"}, True, True),  # Wan 2.1 I2V: a CLIP image encoder
    ("wan", {"layout": "i2v-a14b"}, True, True),  # Wan 2.2 I2V-A14B
    ("ltx", {"layout": "0.9.1"}, False, None),  # a VAE conditioned on the decode's timestep
    ("ltx", {"layout": "0.9.5"}, False, None),  # saved as LTXConditionPipeline: its latents come unpacked
    ("ltx", {"layout": "0.9.5"}, True, None),
    ("cogvideox", {"version": "1.5"}, False, False),  # two latent frames a patch (the front padded), DPM
]
LAYOUT_IDS = [f"{key}-{'-'.join(options.values())}{'-image' * image}" for key, options, image, _ in LAYOUTS]


@pytest.mark.slow
@pytest.mark.parametrize("key, options, with_image, must", LAYOUTS, ids=LAYOUT_IDS)
def test_other_layouts_of_each_family_equal_diffusers_pipeline(tmp_path, key, options, with_image, must):
    """The code reads what it needs from the model, not from the tiny profile's layouts: each published layout of a
    family makes the clip its own diffusers pipeline makes."""
    from utils import tiny_video_models

    folder = getattr(tiny_video_models, f"build_tiny_{key}")(tmp_path / key, seed=3, **options)
    pipe, family, index = loaded(folder)
    assert takes_image(family, index) is must
    if with_image and must is None:
        pipe = image_pipeline(pipe, family)
        pipe.set_progress_bar_config(disable=True)
    image = picture() if with_image else None
    shape = fit_shape(pipe, family, Asked(), [], image=image)
    ours, reference = our_clip(pipe, family, shape, image), diffusers_clip(pipe, family, shape, image)
    assert ours.shape == reference.shape == (9, 64, 64, 3)
    assert np.abs(ours - reference).max() <= 1e-5
    # T2VZ_TEXT_ENCODERS_ON_CPU's path on this layout: the prompt encoded apart, the same latents.
    whole = generate(pipe, family, "a cat", shape, image, negative_prompt="blurry", generator=seeded())
    cpu = torch.device("cpu")
    apart = generate(pipe, family, "a cat", shape, image, negative_prompt="blurry", generator=seeded(), embeds_on=cpu)
    torch.testing.assert_close(apart, whole, rtol=1e-5, atol=1e-5)  # latents reach 5 or more: float32's relative step


@pytest.mark.slow
@pytest.mark.parametrize("key, options, with_image, must", LAYOUTS, ids=LAYOUT_IDS)
def test_other_layouts_make_their_clip_with_previews_and_a_card_through_the_model(
    model, tmp_path, key, options, with_image, must
):
    """The whole path on each other layout: previews while it denoises, the clip decoded and written, and its card
    making the same clip again."""
    from utils import tiny_video_models

    folder = getattr(tiny_video_models, f"build_tiny_{key}")(tmp_path / key, seed=3, **options)
    given = {}
    if with_image:
        picture().save(tmp_path / "first.png")
        given["image"] = str(tmp_path / "first.png")
    shown = []
    with job_scope(Job(preview=shown.append)):
        result = model.trained_video("a cat", model_name=str(folder), **{**SMALL, "num_inference_steps": 6}, **given)
    assert len(shown) >= 2 and all(p.dtype == np.uint8 and p.ndim == 3 for p in shown)
    frames, _ = read_video(result.path)
    assert frames.shape[:3] == (9, 64, 64)
    again = model.run_card(result.card, inputs=tmp_path)  # the image beside the card, or in the folder named
    assert np.array_equal(read_video(again.path)[0], frames)


def test_the_family_is_read_from_the_model_not_its_name(tiny_models):
    assert family_of({"_class_name": "WanImageToVideoPipeline"}, "my-ltx-model").key == "wan"
    assert family_of({"_class_name": "CogVideoXImageToVideoPipeline"}, "wan").key == "cogvideox"
    with pytest.raises(
        WrongModelError, match="'x' is a StableDiffusionPipeline model.*Wan, LTX-Video, CogVideoX, HunyuanVideo-1.5"
    ):
        family_of({"_class_name": "StableDiffusionPipeline"}, "x")


@pytest.mark.parametrize("key", FAMILIES)
def test_a_clip_of_each_family_is_written_with_its_card(model, key):
    result = model.trained_video("a cat", model_name=f"tiny-{key}", **SMALL)
    frames, fps = read_video(result.path)
    assert len(frames) == 9 and frames.shape[1:3] == (64, 64)
    card = result.card
    assert card.mode == "trained_video" and card.models["model"].name == f"tiny-{key}"
    own = {"wan": 24, "ltx": 24, "cogvideox": 8, "hunyuan15": 24}[key]  # the tiny Wan is Wan 2.2 TI2V's layout
    assert card.parameters["fps"] == own == fps  # the family's own rate, recorded as made
    again = model.run_card(card)
    assert np.array_equal(read_video(again.path)[0], frames)  # the card makes the same clip


def test_frames_and_sizes_the_family_cannot_take_are_rounded_with_a_note(model):
    result = model.trained_video("a cat", model_name="tiny-ltx", num_frames=12, height=64, width=96 + 8, **FEW)
    limits = f"at most {model.settings.max_frames} here", f"at most {model.settings.max_resolution} px here"
    assert f"LTX-Video makes clips of k x 8 + 1 frames, {limits[0]}: 12 frames became 9." in result.notes
    assert f"LTX-Video takes sides in multiples of 32 px, {limits[1]}: width 104 became 96." in result.notes
    assert read_video(result.path)[0].shape[:3] == (9, 64, 96)


FEW = dict(num_inference_steps=2)


def test_the_family_s_own_clip_is_kept_within_the_limits(tiny_models):
    """A family's own 81 frames of 832x480 under limits of 16 frames and 128 px: the longest clip of its form."""
    pipe, family, _ = loaded(tiny_models["cogvideox"])
    notes: list[str] = []
    shape = fit_shape(pipe, family, Asked(video_length=81, height=480, width=832), notes, limits=(16, 128))
    assert (shape.frames, shape.height, shape.width) == (13, 128, 128)
    assert notes[0] == "CogVideoX makes clips of k x 4 + 1 frames, at most 16 here: 81 frames became 13."


def test_hunyuan_s_own_size_is_its_pipeline_s_at_its_resolution(tiny_models):
    """HunyuanVideo-1.5's 480p and 720p models share a class: the size left out is the one its pipeline picks for
    the model's resolution (its transformer's target size), as diffusers' pipeline makes it with no size given."""
    pipe, family, _ = loaded(tiny_models["hunyuan15"])
    shape = fit_shape(pipe, family, Asked(height=None, width=None), [])
    latents = pipe("a cat", num_frames=9, num_inference_steps=1, output_type="latent").frames
    ratio = pipe.vae_scale_factor_spatial
    assert (shape.height, shape.width) == (latents.shape[-2] * ratio, latents.shape[-1] * ratio)
    assert shape.width > shape.height  # its 16:9


def test_an_image_where_the_family_takes_one(model, tmp_path):
    path = tmp_path / "first.png"
    picture().save(path)
    result = model.trained_video("a cat", model_name="tiny-wan", image=str(path), **SMALL)
    assert result.card.parameters["image"]["file"] == "first.png"
    with pytest.raises(InputError, match="'tiny-cogvideox' is a CogVideoX text-to-video model: it takes no image"):
        model.trained_video("a cat", model_name="tiny-cogvideox", image=str(path), **SMALL)


def test_an_image_to_video_checkpoint_needs_its_first_frame_and_makes_its_own_size(model, tmp_path):
    """CogVideoX 5B I2V's layout: an image is required, and its learned positions fix the size (with a note)."""
    with pytest.raises(InputError, match="'tiny-cogvideox-i2v' is a CogVideoX image-to-video model: give it a first"):
        model.trained_video("a cat", model_name="tiny-cogvideox-i2v", **SMALL)
    path = tmp_path / "first.png"
    picture().save(path)
    result = model.trained_video("a cat", model_name="tiny-cogvideox-i2v", image=str(path), **{**SMALL, "width": 96})
    assert "This CogVideoX model makes clips of 64x64 only: the size became that." in result.notes
    assert read_video(result.path)[0].shape[:3] == (9, 64, 64)


def test_a_model_of_another_kind_is_refused_by_name(model):
    with pytest.raises(WrongModelError, match="'tiny-sd' is a TextToVideoZeroPipeline model|'tiny-sd' is a"):
        model.trained_video("a cat", model_name="tiny-sd", **SMALL)
    with pytest.raises(InputError, match="single checkpoint file"):
        model.trained_video("a cat", model_name="model.safetensors", **SMALL)


def make_lora(pipe, out, seed: int):
    """A LoRA on the transformer's attention with random (non-zero) weights, saved as diffusers saves one."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    transformer = pipe.transformer
    config = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v"], init_lora_weights=False)
    transformer.add_adapter(config)
    type(pipe).save_lora_weights(
        out, transformer_lora_layers=get_peft_model_state_dict(transformer), safe_serialization=True
    )
    return out / "pytorch_lora_weights.safetensors"


def test_a_lora_of_the_family_changes_the_clip_and_another_familys_is_refused_by_name(model, tiny_models, tmp_path):
    wan_lora = make_lora(loaded(tiny_models["wan"])[0], tmp_path / "wan", seed=0)
    plain = read_video(model.trained_video("a cat", model_name="tiny-wan", **SMALL).path)[0].astype(int)
    styled = read_video(model.trained_video("a cat", model_name="tiny-wan", lora=str(wan_lora), **SMALL).path)[0]
    assert np.abs(styled.astype(int) - plain).max() > 0
    back = read_video(model.trained_video("a cat", model_name="tiny-wan", **SMALL).path)[0]
    assert np.array_equal(back.astype(int), plain)  # removed cleanly
    with pytest.raises(ModelLoadError, match="does not fit this LTX-Video model: it was made for Wan"):
        model.trained_video("a cat", model_name="tiny-ltx", lora=str(wan_lora), **SMALL)


@pytest.mark.parametrize("key", ["wan", "hunyuan15"])  # a step callback; the scheduler's step (no callback)
def test_stop_within_a_step_counts_the_users_steps(model, key):
    with stopping_after(2) as (job, calls), pytest.raises(Exception, match="Stopped"):
        web(model, "trained_video", "a cat", model_name=f"tiny-{key}", job=job, **{**SMALL, "num_inference_steps": 5})
    assert len(calls) == 2 and job.steps_done() == (2, 5)
    assert "step" not in model.slots["video_model"][1].scheduler.__dict__  # the scheduler's own step again


@pytest.mark.parametrize("key", ["ltx", "hunyuan15"])
def test_previews_show_the_first_frames_while_denoising(model, key):
    shown = []
    job = Job(preview=shown.append)
    with job_scope(job):
        model.trained_video("a cat", model_name=f"tiny-{key}", **{**SMALL, "num_inference_steps": 6})
    assert len(shown) >= 2 and all(p.dtype == np.uint8 and p.ndim == 3 for p in shown)


def test_the_work_bound_holds_for_video_models(model):
    with pytest.raises(InputError, match="T2VZ_MAX_WORK"):
        web(model, "trained_video", "a cat", model_name="tiny-wan", num_frames=121, height=512, width=512)


def out_of_memory_at_decode(monkeypatch, until_tiled: bool):
    """Decoding runs out of memory: untiled only (`until_tiled`), or always."""
    original = TrainedVideo.decode
    attempts = []

    def decode(self, latents):
        attempts.append(bool(self.vae.use_tiling))
        if not (until_tiled and self.vae.use_tiling):
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return original(self, latents)

    monkeypatch.setattr(TrainedVideo, "decode", decode)
    return attempts


def test_out_of_memory_at_the_decode_retries_in_tiles(model, monkeypatch):
    attempts = out_of_memory_at_decode(monkeypatch, until_tiled=True)
    result = model.trained_video("a cat", model_name="tiny-cogvideox", **SMALL)
    assert attempts == [False, True]
    assert "Decoding ran out of memory: the clip was decoded again in tiles." in result.notes
    assert len(read_video(result.path)[0]) == 9


def test_a_decode_that_fails_in_tiles_too_keeps_the_latents_where_it_says(model, monkeypatch):
    out_of_memory_at_decode(monkeypatch, until_tiled=False)
    with pytest.raises(OutOfMemory, match=r"latents are kept in (\S+\.latents\.pt)") as raised:
        model.trained_video("a cat", model_name="tiny-wan", **SMALL)
    kept = re.search(r"kept in (\S+\.latents\.pt),", str(raised.value)).group(1)
    assert "/" not in kept  # its name, never a path of the server
    latents = torch.load(model.settings.output_dir / kept)
    assert latents.shape[:3] == (1, 48, 3)  # the VAE's channels, 3 latent frames for 9


# diffusers' pipeline tests' tiles (96 px, 64 apart) on a 128-px clip: every frame spans several tiles.
TILES = {
    "wan": dict(tile_sample_stride_height=64, tile_sample_stride_width=64),
    "ltx": dict(tile_sample_stride_height=64, tile_sample_stride_width=64),
    "cogvideox": dict(tile_overlap_factor_height=1 / 3, tile_overlap_factor_width=1 / 3),
    "hunyuan15": dict(tile_latent_min_height=24, tile_latent_min_width=24, tile_overlap_factor=1 / 3),  # 4x VAE
}


@pytest.mark.parametrize("key", FAMILIES)
def test_a_tiled_decode_is_close_to_the_plain_one(tiny_models, key, monkeypatch):
    """Tiles blend at their seams: close to the whole-frame decode, not equal. Random weights seam more than trained
    ones (max differences here 0.4 to 0.7 of the range at a seam; diffusers' own VAE tiling tests decode 16-px
    inputs under 256-px tiles, where no frame splits, so their 0.5 bound measures no seam): the bound here is on
    the mean, which a misplaced tile (shifted or dropped) would exceed many times over."""
    pipe, family, _ = loaded(tiny_models[key])
    shape = fit_shape(pipe, family, Asked(height=128, width=128), [])
    latents = generate(pipe, family, "a cat", shape, negative_prompt="", generator=seeded())
    video = TrainedVideo(pipe, family)
    plain = video.decode(latents)
    tiled_calls = []
    original = type(pipe.vae).tiled_decode
    monkeypatch.setattr(
        type(pipe.vae), "tiled_decode", lambda vae, *a, **k: tiled_calls.append(1) or original(vae, *a, **k)
    )
    pipe.vae.enable_tiling(tile_sample_min_height=96, tile_sample_min_width=96, **TILES[key])
    tiled = video.decode(latents)
    assert tiled_calls and plain.shape == tiled.shape
    assert 0 < (plain - tiled).abs().mean() < 0.15


@pytest.mark.parametrize(
    "key, options", [(key, dict(offload="group")) for key in FAMILIES] + [("wan", dict(layerwise_fp8=True))]
)
def test_memory_options_apply_to_the_video_transformers(tiny_models, tmp_path, key, options):
    base = dataclasses.replace(Settings.from_env().with_tiny_models(), output_dir=tmp_path)
    plain = read_video(Model(settings=base).trained_video("a cat", model_name=f"tiny-{key}", **SMALL).path)[0]
    saving = Model(settings=dataclasses.replace(base, **options))
    frames = read_video(saving.trained_video("a cat", model_name=f"tiny-{key}", **SMALL).path)[0]
    transformer = saving.slots["video_model"][1].transformer
    if "offload" in options:  # on a CPU the blocks visit the same device: the same clip
        assert getattr(transformer, "_diffusers_hook", None) is not None
        assert np.array_equal(frames, plain)
    else:  # 8-bit weights: close, not equal; an image-to-video call over the same modules keeps them so
        assert 0 < np.abs(frames.astype(int) - plain).mean() < 40
        picture().save(tmp_path / "first.png")
        saving.trained_video("a cat", model_name="tiny-wan", image=str(tmp_path / "first.png"), **SMALL)
        assert any(p.dtype == torch.float8_e4m3fn for p in transformer.parameters())


def test_a_restyled_clip_records_the_trained_model_and_the_sd_model(model):
    """The trained model's clip as the depth tab's input video: the new card names the SD model that restyled it,
    and carries the card of the clip it restyled (its model, its prompt)."""
    made = model.trained_video("a fox running", model_name="tiny-ltx", **SMALL)
    restyled = model.controlnet_depth(made.path, "a paper-cut fox", resolution=64, max_frames=3, num_inference_steps=2)
    card = restyled.card
    assert card.models["model"].name == model.settings.default_sd_model
    assert card.source["mode"] == "trained_video" and card.source["models"]["model"]["name"] == "tiny-ltx"
    assert card.source["parameters"]["prompt"] == "a fox running"


def test_a_step_distilled_model_makes_its_clip_in_its_own_few_steps(model, monkeypatch):
    import runners

    monkeypatch.setitem(runners.FEW_STEP_VIDEO_MODELS, "tiny-ltx", (3, 1.0))
    result = model.trained_video("a cat", model_name="tiny-ltx", num_frames=9, height=64, width=64)
    assert (result.card.parameters["num_inference_steps"], result.card.parameters["guidance_scale"]) == (3, 1.0)
    chosen = model.trained_video("a cat", model_name="tiny-ltx", num_frames=9, height=64, width=64, **FEW)
    assert chosen.card.parameters["num_inference_steps"] == 2  # the user's choice stands


@pytest.mark.parametrize("key", FAMILIES)
def test_a_prompt_encoded_apart_makes_the_same_clip(tiny_models, key):
    """T2VZ_TEXT_ENCODERS_ON_CPU's path: the prompt encoded apart (where the text encoders are) and given to the
    pipeline as embeddings makes the clip the pipeline makes from the prompt, to float32 rounding; the pipeline
    has its text encoders again afterwards."""
    pipe, family, _ = loaded(tiny_models[key])
    shape = fit_shape(pipe, family, Asked(), [])
    whole = generate(pipe, family, "a cat", shape, negative_prompt="blurry", generator=seeded())
    apart = generate(
        pipe, family, "a cat", shape, negative_prompt="blurry", generator=seeded(), embeds_on=torch.device("cpu")
    )
    assert (whole - apart).abs().max() <= 1e-5
    assert pipe.text_encoder is not None


def test_the_setting_keeps_the_text_encoders_on_the_cpu(tiny_models, tmp_path, monkeypatch):
    import pipelines.video_models as video_models

    encoded = []
    original = video_models.encode_prompts
    monkeypatch.setattr(video_models, "encode_prompts", lambda *a: encoded.append(a[-1]) or original(*a))
    settings = dataclasses.replace(Settings.from_env().with_tiny_models(), output_dir=tmp_path)
    model = Model(settings=dataclasses.replace(settings, text_encoders_on_cpu=True))
    assert model.text_encoders_on_cpu
    assert read_video(model.trained_video("a cat", model_name="tiny-wan", **SMALL).path)[0].shape[0] == 9
    assert encoded == [model.device]  # embeddings made on the CPU, sent to the transformer's device
    offloaded = Model(settings=dataclasses.replace(settings, text_encoders_on_cpu=True, offload="model"))
    offloaded.device = torch.device("cuda")  # model offloading on a GPU: they visit it while they encode instead
    assert not offloaded.text_encoders_on_cpu


def test_the_settings_name_the_first_video_model_and_where_text_encoders_run():
    settings = Settings.from_env({"T2VZ_VIDEO_MODEL": "me/my-wan", "T2VZ_TEXT_ENCODERS_ON_CPU": "1"})
    assert settings.default_video_model == "me/my-wan" and "Wan-AI/Wan2.1-T2V-1.3B-Diffusers" in settings.video_models
    assert settings.text_encoders_on_cpu and not Settings.from_env({}).text_encoders_on_cpu
    assert settings.with_tiny_models().default_video_model == "tiny-wan"


def test_a_shift_reschedules_that_clip_only_and_a_schedule_without_one_refuses_it(model):
    def frames(key: str, **kwargs) -> np.ndarray:
        return read_video(model.trained_video("a cat", model_name=f"tiny-{key}", **SMALL, **kwargs).path)[0]

    for key in ("wan", "hunyuan15"):  # UniPC's flow_shift, flow-matching Euler's shift
        plain = frames(key)
        shifted = model.trained_video("a cat", model_name=f"tiny-{key}", shift=12, **SMALL)
        assert shifted.card.parameters["shift"] == 12.0
        assert np.abs(read_video(shifted.path)[0].astype(int) - plain).max() > 0
        assert np.array_equal(frames(key), plain)  # the model's own schedule again
    with pytest.raises(InputError, match="LTX-Video's scheduler shifts its schedule by the clip's size itself"):
        frames("ltx", shift=3)
    with pytest.raises(InputError, match=r"CogVideoX's scheduler has no shift \(CogVideoXDDIMScheduler\)"):
        frames("cogvideox", shift=3)


def test_hunyuan_image_to_video_makes_its_image_s_aspect(model, tmp_path):
    path = tmp_path / "wide.png"
    Image.fromarray((np.random.default_rng(1).random((64, 96, 3)) * 255).astype(np.uint8)).save(path)
    result = model.trained_video("a cat", model_name="tiny-hunyuan15-i2v", image=str(path), **SMALL)
    height, width = result.card.parameters["height"], result.card.parameters["width"]
    assert width > height and read_video(result.path)[0].shape[1:3] == (height, width)
    assert (
        f"HunyuanVideo-1.5 makes a clip at its image's aspect: {width}x{height}, not the size given." in result.notes
    )
