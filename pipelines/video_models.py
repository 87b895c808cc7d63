"""Trained video transformers (Wan, LTX-Video, CogVideoX, HunyuanVideo-1.5) on diffusers' maintained pipelines.

A model's family is read from its `model_index.json` (the pipeline class it was saved with), never from its name.
Each `Family` holds what differs between them: its pipelines (text-to-video, image-to-video), its defaults, its
shape rules (frames of the form k x temporal ratio + 1, sizes a multiple of the VAE's ratio times the transformer's
patch) and how its pipeline's latents become the VAE's. The denoising is diffusers' own pipeline, asked for
latents (`output_type="latent"`) with the Model's step callback (through the scheduler's step where a pipeline
takes no callback: HunyuanVideo-1.5); the decoding is `TrainedVideo.decode`, so the latents outlive a decode that
runs out of memory (`model.write_clip` retries it tiled, and keeps them on failure).
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from errors import InputError, WrongModelError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Defaults:
    """A family's own clip: its published size, length, rate, steps and guidance."""

    height: int
    width: int
    frames: int
    fps: float
    steps: int
    guidance: float


@dataclass(frozen=True)
class Family:
    """One family of trained video models (see the module)."""

    key: str  # on cards and in messages
    label: str
    text_pipeline: str  # diffusers' text-to-video pipeline class
    image_pipeline: str | None  # its image-to-video class where the same weights take an image
    saved_as: tuple[str, ...]  # the pipeline classes its checkpoints are saved with
    image_only: tuple[str, ...]  # ... of those, the image-to-video checkpoints (they need an image)
    defaults: Defaults
    example: str  # a hub id, for messages
    to_vae: Callable  # (pipe, latents, frames, height, width) -> the VAE's latents (B, C, F, h, w)

    def pipeline_class(self, image: bool):
        import diffusers

        return getattr(diffusers, self.image_pipeline if image and self.image_pipeline else self.text_pipeline)


def image_pipeline(pipe, family: Family):
    """The family's image-to-video pipeline over the same loaded modules (Wan 2.2 TI2V, LTX). Not diffusers'
    `from_pipe`: it casts every module to one dtype (float32 by default), undoing bfloat16 and fp8 storage."""
    image_class = family.pipeline_class(image=True)
    takes = inspect.signature(image_class.__init__).parameters
    given = {**{k: v for k, v in pipe.config.items() if not k.startswith("_")}, **pipe.components}
    return image_class(**{name: value for name, value in given.items() if name in takes and name != "self"})


def wan_to_vae(pipe, latents: torch.Tensor, *shape) -> torch.Tensor:
    config = pipe.vae.config
    mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1)
    std = torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1)
    return latents * std.to(latents) + mean.to(latents)  # diffusers' `latents / (1 / std) + mean`


def ltx_to_vae(pipe, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
    """LTX returns its latents packed into tokens: unpacked to the clip's latent grid, then denormalised."""
    latents = pipe._unpack_latents(
        latents,
        (frames - 1) // pipe.vae_temporal_compression_ratio + 1,
        height // pipe.vae_spatial_compression_ratio,
        width // pipe.vae_spatial_compression_ratio,
        pipe.transformer_spatial_patch_size,
        pipe.transformer_temporal_patch_size,
    )
    vae = pipe.vae
    return pipe._denormalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)


def cogvideox_to_vae(pipe, latents: torch.Tensor, frames: int, *size) -> torch.Tensor:
    """CogVideoX's latents are frame-major (B, F, C, h, w); 1.5 pads the front to its temporal patch."""
    patch_t = pipe.transformer.config.patch_size_t
    latent_frames = (frames - 1) // pipe.vae_scale_factor_temporal + 1
    padding = (patch_t - latent_frames % patch_t) % patch_t if patch_t else 0
    return latents[:, padding:].permute(0, 2, 1, 3, 4) / pipe.vae_scaling_factor_image


def hunyuan_to_vae(pipe, latents: torch.Tensor, *shape) -> torch.Tensor:
    return latents / pipe.vae.config.scaling_factor


FAMILIES = (
    Family(
        "wan",
        "Wan",
        "WanPipeline",
        "WanImageToVideoPipeline",
        ("WanPipeline", "WanImageToVideoPipeline"),
        ("WanImageToVideoPipeline",),
        Defaults(480, 832, 81, 16, 50, 5.0),
        "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
        wan_to_vae,
    ),
    Family(
        "ltx",
        "LTX-Video",
        "LTXPipeline",
        "LTXImageToVideoPipeline",
        ("LTXPipeline", "LTXImageToVideoPipeline", "LTXConditionPipeline"),
        (),
        Defaults(480, 704, 121, 24, 50, 3.0),
        "Lightricks/LTX-Video",
        ltx_to_vae,
    ),
    Family(
        "cogvideox",
        "CogVideoX",
        "CogVideoXPipeline",
        "CogVideoXImageToVideoPipeline",
        ("CogVideoXPipeline", "CogVideoXImageToVideoPipeline"),
        ("CogVideoXImageToVideoPipeline",),
        Defaults(480, 720, 49, 8, 50, 6.0),
        "THUDM/CogVideoX-2b",
        cogvideox_to_vae,
    ),
    Family(
        "hunyuan15",
        "HunyuanVideo-1.5",
        "HunyuanVideo15Pipeline",
        "HunyuanVideo15ImageToVideoPipeline",
        ("HunyuanVideo15Pipeline", "HunyuanVideo15ImageToVideoPipeline"),
        ("HunyuanVideo15ImageToVideoPipeline",),
        Defaults(480, 848, 121, 24, 50, 6.0),
        "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v",
        hunyuan_to_vae,
    ),
)
# Clips of this many pixels (frames x height x width) and more decode in tiles by default: CogVideoX's own clip
# (49 x 480 x 720), whose whole decode takes more memory than an 8-12 GB card has beside the transformer.
TILED_DECODE_FROM = 49 * 480 * 720
# Their denoising networks: what the loader's memory options (fp8 storage, compilation) apply to.
VIDEO_TRANSFORMERS = (
    "WanTransformer3DModel",
    "LTXVideoTransformer3DModel",
    "CogVideoXTransformer3DModel",
    "HunyuanVideo15Transformer3DModel",
)
FAMILY_LABELS = ", ".join(family.label for family in FAMILIES)


def family_of(index: dict, label: str) -> Family:
    """The family of a model from its model_index.json (`index`); a model of none of them is refused by name."""
    saved_as = index.get("_class_name", "")
    family = next((family for family in FAMILIES if saved_as in family.saved_as), None)
    if family is None:
        raise WrongModelError(
            f"'{label}' is a {saved_as or 'diffusers'} model, not a trained video model this tab runs "
            f"({FAMILY_LABELS}): choose one such as {FAMILIES[0].example}."
        )
    return family


def takes_image(family: Family, index: dict) -> bool | None:
    """Whether a model of `family` makes clips from an image: True where it must (an image-to-video checkpoint),
    None where it may (LTX; Wan 2.2 TI2V, whose timesteps run per latent token), False where it cannot."""
    if index.get("_class_name") in family.image_only:
        return True
    if family.key == "ltx" or (family.key == "wan" and index.get("expand_timesteps")):
        return None
    return False


@dataclass
class Shape:
    """The clip a call makes: frames, size and rate, after the family's defaults and rules."""

    frames: int
    height: int
    width: int
    fps: float
    steps: int
    guidance: float


def spatial_multiple(pipe, family: Family) -> int:
    """Frame sides must be a multiple of the VAE's downsampling times the transformer's patch."""
    if family.key == "ltx":
        return pipe.vae_spatial_compression_ratio * pipe.transformer_spatial_patch_size
    if family.key in ("cogvideox", "hunyuan15"):
        return pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size
    return pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1]


def vae_spatial_ratio(pipe, family: Family) -> int:
    """Pixels per latent a side: the spatial multiple without the transformer's patch (LTX's VAE ratio counts it)."""
    config = pipe.transformer.config
    if family.key == "wan":
        return spatial_multiple(pipe, family) // config.patch_size[1]
    return spatial_multiple(pipe, family) // (1 if family.key == "ltx" else config.patch_size)


def temporal_ratio(pipe, family: Family) -> int:
    if family.key == "ltx":
        return pipe.vae_temporal_compression_ratio
    return pipe.vae_scale_factor_temporal


# Wan 2.2 TI2V 5B (its VAE: 48 channels at 16x) makes 1280x704 clips of 121 frames at 24 fps.
WAN_22_5B = Defaults(704, 1280, 121, 24, 50, 5.0)


def own_defaults(pipe, family: Family) -> Defaults:
    """The family's defaults, at the model's own size and length where its config says (CogVideoX's positional
    embeddings are made for one; Wan 2.2 TI2V's VAE is its own)."""
    config = pipe.transformer.config
    if family.key == "wan" and pipe.vae.config.z_dim == 48:
        return WAN_22_5B
    if family.key == "hunyuan15":  # its guidance is its guider's (the model folder's guider/ config)
        return dataclasses.replace(family.defaults, guidance=pipe.guider.guidance_scale)
    if family.key != "cogvideox":
        return family.defaults
    scale = pipe.vae_scale_factor_spatial
    return dataclasses.replace(
        family.defaults,
        height=config.sample_height * scale,
        width=config.sample_width * scale,
        frames=config.sample_frames,
    )


def fit_shape(
    pipe, family: Family, call, notes: list[str], limits: tuple[int, int] = (10**4, 10**5), image=None
) -> Shape:
    """The call's clip with the family's defaults where it names none, rounded to what the family takes (a note
    says so): frames to k x ratio + 1, sides to the nearest multiple of the patch, within `limits` (the most frames
    and the longest side: T2VZ_MAX_FRAMES, T2VZ_MAX_RESOLUTION); a model with learned positions (CogVideoX 5B I2V)
    at its own size; HunyuanVideo-1.5's image-to-video at the image's aspect (its pipeline takes no size)."""
    max_frames, max_side = limits
    if family.key == "hunyuan15" and image is not None:
        height, width = pipe.video_processor.calculate_default_height_width(
            height=image.height, width=image.width, target_size=pipe.target_size
        )
        if (call.height or height, call.width or width) != (height, width):
            notes.append(f"{family.label} makes a clip at its image's aspect: {width}x{height}, not the size given.")
        call = dataclasses.replace(call, height=height, width=width)
    own = own_defaults(pipe, family)
    if getattr(pipe.transformer.config, "use_learned_positional_embeddings", False):
        if (call.height or own.height, call.width or own.width) != (own.height, own.width):
            notes.append(
                f"This {family.label} model makes clips of {own.width}x{own.height} only: the size became that."
            )
        call = dataclasses.replace(call, height=own.height, width=own.width)
    frames = call.video_length or own.frames
    ratio = temporal_ratio(pipe, family)
    if (frames - 1) % ratio or frames > max_frames:
        fitted = max(1, round((frames - 1) / ratio)) * ratio + 1
        if fitted > max_frames:  # the longest clip of the family's form within the limit
            fitted = (max_frames - 1) // ratio * ratio + 1
        rule = f"{family.label} makes clips of k x {ratio} + 1 frames, at most {max_frames} here"
        notes.append(f"{rule}: {frames} frames became {fitted}.")
        frames = fitted
    multiple = spatial_multiple(pipe, family)
    sides = {}
    for side, given, default in (("height", call.height, own.height), ("width", call.width, own.width)):
        value = given or default
        fitted = max(multiple, round(value / multiple) * multiple)
        if fitted > max_side:
            fitted = max(multiple, max_side // multiple * multiple)
        if fitted != value:
            rule = f"{family.label} takes sides in multiples of {multiple} px, at most {max_side} px here"
            notes.append(f"{rule}: {side} {value} became {fitted}.")
        sides[side] = fitted
    steps = call.num_inference_steps or own.steps
    guidance = own.guidance if call.guidance_scale is None else call.guidance_scale
    return Shape(frames, sides["height"], sides["width"], call.fps or own.fps, steps, guidance)


TEXT_ENCODERS = ("text_encoder", "text_encoder_2")
# What each family's `encode_prompt` returns, by the names its pipeline takes them (the others: prompt_embeds,
# negative_prompt_embeds).
EMBEDDINGS: dict[str, tuple[str, ...]] = {
    "ltx": ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds", "negative_prompt_attention_mask"),
    "hunyuan15": ("prompt_embeds", "prompt_embeds_mask", "prompt_embeds_2", "prompt_embeds_mask_2"),
}


def encode_prompts(pipe, family: Family, prompt: str | None, negative: str | None, guidance: float, device) -> dict:
    """The prompt's (and, with guidance, the negative prompt's) embeddings, computed where the text encoders are
    (the CPU, T2VZ_TEXT_ENCODERS_ON_CPU), moved to `device` in the transformer's dtype, named as the family's
    pipeline takes them."""
    cpu, guided = torch.device("cpu"), guidance > 1
    names = EMBEDDINGS.get(family.key, ("prompt_embeds", "negative_prompt_embeds"))
    if family.key == "hunyuan15":  # the prompt and the negative one apart, the negative as its guider needs it
        found = dict(zip(names, pipe.encode_prompt(prompt=prompt, device=cpu), strict=True))
        if pipe.guider._enabled and pipe.guider.num_conditions > 1:
            negatives = pipe.encode_prompt(prompt=negative or None, device=cpu)
            found.update(zip((f"negative_{name}" for name in names), negatives, strict=True))
    else:
        # The text length the pipeline's own call encodes at (Wan's encode_prompt defaults to less than its call).
        length = inspect.signature(pipe.__call__).parameters["max_sequence_length"].default
        if family.key == "cogvideox":
            length = pipe.transformer.config.max_text_seq_length
        values = pipe.encode_prompt(
            prompt, negative, do_classifier_free_guidance=guided, device=cpu, max_sequence_length=length
        )
        found = dict(zip(names, values, strict=True))
    dtype = pipe.transformer.dtype
    return {
        name: value.to(device, dtype) if value.is_floating_point() else value.to(device)
        for name, value in found.items()
        if value is not None
    }


@contextmanager
def without_text_encoders(pipe):
    """The pipeline without its text encoders while it denoises from given embeddings: diffusers picks the device
    a pipeline runs on from its first module, which would be a text encoder left on the CPU."""
    kept = {name: getattr(pipe, name) for name in TEXT_ENCODERS if getattr(pipe, name, None) is not None}
    pipe.register_modules(**dict.fromkeys(kept))
    try:
        yield
    finally:
        pipe.register_modules(**kept)


def generate(
    pipe,
    family: Family,
    prompt: str | None,
    shape: Shape,
    image=None,
    embeds_on: torch.device | None = None,
    **sampling,
) -> torch.Tensor:
    """Denoise with the family's diffusers pipeline (`sampling`: negative prompt, generator, step callback) and
    return the VAE's latents (B, C, F, h, w), ready to decode. `embeds_on`: the text encoders are on the CPU; the
    prompt is encoded there and its embeddings go to this device."""
    if family.key == "hunyuan15":  # guidance by its guider, set for the call
        pipe.guider = pipe.guider.new(guidance_scale=shape.guidance)
    if embeds_on is not None:
        negative = sampling.pop("negative_prompt", None)
        sampling.update(encode_prompts(pipe, family, prompt, negative, shape.guidance, embeds_on))
        with without_text_encoders(pipe):
            return generate(pipe, family, None, shape, image, **sampling)
    arguments = dict(
        prompt=prompt,
        num_frames=shape.frames,
        height=shape.height,
        width=shape.width,
        num_inference_steps=shape.steps,
        guidance_scale=shape.guidance,
        output_type="latent",
        **sampling,
    )
    if image is not None:
        arguments["image"] = image
        if family.key == "hunyuan15":  # its image-to-video takes its size from the image (`fit_shape`)
            del arguments["height"], arguments["width"]
    if family.key == "ltx":
        arguments["frame_rate"] = shape.fps
    if family.key == "cogvideox":  # its transformer takes a fixed number of text tokens
        arguments["max_sequence_length"] = pipe.transformer.config.max_text_seq_length
    if family.key == "hunyuan15":  # guidance by its guider (above); no step callback: the scheduler's step reports
        del arguments["guidance_scale"]
        with reporting_steps(pipe, arguments.pop("callback_on_step_end", None)):
            latents = pipe(**arguments).frames
    else:
        latents = pipe(**arguments).frames
    return family.to_vae(pipe, latents, shape.frames, shape.height, shape.width)


@contextmanager
def shifted(pipe, family: Family, shift: float | None):
    """The pipeline's flow-matching schedule shifted by `shift` for one call (None: the model's own, from its
    scheduler config). A schedule with no shift, or one the clip's size sets (LTX-Video's), is refused by name."""
    if shift is None:
        yield
        return
    own = pipe.scheduler
    config = own.config
    key = next((name for name in ("flow_shift", "shift") if name in config), None)
    if key is None or config.get("use_dynamic_shifting"):
        why = "shifts its schedule by the clip's size itself" if key else f"has no shift ({type(own).__name__})"
        raise InputError(f"{family.label}'s scheduler {why}: leave the shift out.")
    pipe.scheduler = type(own).from_config(config, **{key: shift})
    try:
        yield
    finally:
        pipe.scheduler = own


@contextmanager
def reporting_steps(pipe, callback):
    """For a pipeline that takes no step callback: its scheduler's step calls `callback(pipe, step, timestep,
    {"latents": ...})` after each step (stop, previews, the step count), for this call only."""
    if callback is None:
        yield
        return
    scheduler, count = pipe.scheduler, itertools.count()

    def step(model_output, timestep, sample, *args, **kwargs):
        output = type(scheduler).step(scheduler, model_output, timestep, sample, *args, **kwargs)
        latents = output[0] if isinstance(output, tuple) else output.prev_sample
        callback(pipe, next(count), timestep, {"latents": latents})
        return output

    scheduler.step = step  # this instance only, until the call ends
    try:
        yield
    finally:
        del scheduler.step


class TrainedVideo:
    """A loaded video pipeline with its family: what the Model's clip writer asks of a pipeline (its scheduler and
    VAE, the VAE's downsampling and the decoding, a few frames at a time)."""

    def __init__(self, pipe, family: Family):
        self.pipe, self.family = pipe, family
        self.scheduler, self.vae = pipe.scheduler, pipe.vae
        self.vae_scale_factor = vae_spatial_ratio(pipe, family)
        self._progress_bar_config = getattr(pipe, "_progress_bar_config", {})

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """The VAE's latents -> the clip's frames (F, H, W, 3) in [0, 1], as the family's pipeline decodes them."""
        vae = self.pipe.vae
        latents = latents.to(vae.device, vae.dtype)
        if self.family.key == "ltx" and vae.config.timestep_conditioning:
            video = vae.decode(latents, torch.zeros(len(latents), device=latents.device, dtype=latents.dtype))
        else:
            video = vae.decode(latents)
        frames = self.pipe.video_processor.postprocess_video(video.sample, output_type="pt")[0]
        return frames.permute(0, 2, 3, 1).float().cpu()

    def decode_latents_iter(self, latents: torch.Tensor, chunk: int) -> Iterator[np.ndarray]:
        """The decoded clip, `chunk` frames at a time (the VAE decodes the whole clip: its frames depend on each
        other through its causal temporal layers)."""
        frames = self.decode(latents).numpy()
        for start in range(0, len(frames), chunk):
            yield frames[start : start + chunk]

    def frame_count(self, latents: torch.Tensor) -> int:
        return (latents.shape[2] - 1) * temporal_ratio(self.pipe, self.family) + 1

    def tiles_by_default(self, latents: torch.Tensor) -> bool:
        """Whether the clip is large enough to decode in tiles by default (T2VZ_VAE_TILING=auto)."""
        pixels = self.frame_count(latents) * latents.shape[-2] * latents.shape[-1] * self.vae_scale_factor**2
        return pixels >= TILED_DECODE_FROM


def check_image(family: Family, image_mode: bool | None, has_image: bool, label: str) -> None:
    """An image where the model has no image-to-video, or none where it needs one: refused, naming the model."""
    if has_image and image_mode is False:
        others = "LTX-Video, Wan 2.2 TI2V, or an image-to-video checkpoint (Wan I2V, CogVideoX I2V)"
        raise InputError(
            f"'{label}' is a {family.label} text-to-video model: it takes no image. Leave the image out, or choose "
            f"a model that makes clips from an image: {others}."
        )
    if not has_image and image_mode is True:
        raise InputError(f"'{label}' is a {family.label} image-to-video model: give it a first frame (image).")


def replace_defaults(call, shape: Shape):
    """The call with what the family filled in, so the card records the clip as made."""
    return dataclasses.replace(
        call,
        video_length=shape.frames,
        height=shape.height,
        width=shape.width,
        fps=shape.fps,
        num_inference_steps=shape.steps,
        guidance_scale=shape.guidance,
    )


class CleanEstimate:
    """The clean latents a step points at, for previews: a flow-matching step moves x along a velocity v from
    sigma to the next sigma, so two consecutive steps' latents give v and x0 = x - sigma v. Schedulers without
    sigmas (CogVideoX's DDIM) show the current latents. In the VAE's layout, (B, C, F, h, w)."""

    def __init__(self, family: Family, shape: Shape):
        self.family, self.shape, self.previous = family, shape, None
        self.pipe: Any = None  # the pipeline running, from the first step on

    def to_rgb(self, frames: torch.Tensor) -> torch.Tensor:
        """(F, C, h, w) latents -> RGB by a map fitted to this VAE (`preview.fitted_rgb_map`); if the fit fails,
        the first three channels, normalised (a preview never fails a generation)."""
        from pipelines.preview import fitted_rgb_map, latent_rgb

        try:
            return fitted_rgb_map(self.pipe.vae, vae_spatial_ratio(self.pipe, self.family))(frames)
        except Exception as error:  # any failure: the coarse picture instead
            logger.warning("Could not fit a preview map to the VAE (%s): previews show latent channels", error)
            return latent_rgb(frames)

    def __call__(self, pipe, step: int, tensors: dict) -> torch.Tensor | None:
        self.pipe = pipe
        latents = tensors.get("latents")
        if latents is None:
            return None
        previous, self.previous = self.previous, latents.detach()
        sigmas = getattr(pipe.scheduler, "sigmas", None)
        estimate = latents
        if sigmas is not None and previous is not None and step + 1 < len(sigmas):
            before, after = float(sigmas[step]), float(sigmas[step + 1])
            if before != after:
                estimate = latents - after * (latents - previous) / (after - before)
        shape = self.shape
        return self.family.to_vae(pipe, estimate.float(), shape.frames, shape.height, shape.width)


# Names only one family's LoRAs have in their keys (diffusers' and the original trainers' spellings), for messages.
LORA_MARKERS = (
    ("Stable Diffusion (a UNet LoRA)", ("down_blocks", "lora_unet_", "input_blocks")),
    ("Wan", ("transformer.blocks.", "self_attn.", "cross_attn.", "blocks.0.ffn")),
    ("HunyuanVideo", ("double_blocks", "token_refiner")),
    ("Flux", ("single_transformer_blocks",)),
    ("LTX-Video", ("attn2.", "caption_projection")),
    ("CogVideoX", ("norm1.linear", "attn1.")),
)


def lora_family(path) -> str | None:
    """The model family a local LoRA file (or a folder holding one) was made for, read from its keys; None where
    the keys say nothing known or the file is not local."""
    from pathlib import Path

    from safetensors import safe_open

    path = Path(path)
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        return None
    try:
        with safe_open(str(files[0]), framework="pt") as weights:
            keys = " ".join(weights.keys())
    except Exception:
        return None
    return next((label for label, markers in LORA_MARKERS if any(m in keys for m in markers)), None)
