"""The trained video models' families (Wan, LTX-Video, CogVideoX, HunyuanVideo-1.5): what each is and what it takes.

A model's family is read from its `model_index.json` (the pipeline class it was saved with), never from its name.
Each `Family` holds what differs between them: its pipelines (text-to-video, image-to-video), its defaults and how
its pipeline's latents become the VAE's; `fit_shape` applies its shape rules (frames of the form k x temporal ratio
+ 1, sizes a multiple of the VAE's ratio times the transformer's patch) to a call. Running them is
`pipelines.video_models`.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch

from errors import InputError, WrongModelError


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
    """LTX's latents, denormalised; LTXPipeline and its image pipeline return them packed into tokens (B, tokens,
    C), unpacked here to the clip's latent grid; LTXConditionPipeline (LTX-Video 0.9.5 on) returns the grid."""
    if latents.ndim == 3:
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


@dataclass
class Shape:
    """The clip a call makes: frames, size and rate, after the family's defaults and rules."""

    frames: int
    height: int
    width: int
    fps: float
    steps: int
    guidance: float


def vae_spatial_ratio(pipe, family: Family) -> int:
    """Pixels per latent a side (the VAE's downsampling)."""
    return pipe.vae_spatial_compression_ratio if family.key == "ltx" else pipe.vae_scale_factor_spatial


def spatial_multiple(pipe, family: Family) -> int:
    """Frame sides must be a multiple of the VAE's downsampling times the transformer's patch (Wan's patch is
    (frames, height, width))."""
    if family.key == "ltx":
        patch = pipe.transformer_spatial_patch_size
    else:
        patch = pipe.transformer.config.patch_size
        patch = patch[1] if isinstance(patch, (tuple, list)) else patch
    return vae_spatial_ratio(pipe, family) * patch


def temporal_ratio(pipe, family: Family) -> int:
    if family.key == "ltx":
        return pipe.vae_temporal_compression_ratio
    return pipe.vae_scale_factor_temporal


# Wan 2.2 TI2V 5B (its VAE: 48 channels at 16x) makes 1280x704 clips of 121 frames at 24 fps.
WAN_22_5B = Defaults(704, 1280, 121, 24, 50, 5.0)


def own_defaults(pipe, family: Family) -> Defaults:
    """The family's defaults, at the model's own size and length where its config says (CogVideoX's positional
    embeddings are made for one; Wan 2.2 TI2V's VAE is its own; HunyuanVideo-1.5's transformer names its
    resolution)."""
    if family.key == "wan" and pipe.vae.config.z_dim == 48:
        return WAN_22_5B
    if family.key == "hunyuan15":  # its size from its resolution (480p, 720p), its guidance its guider's
        # (Its image-to-video pipeline has no aspect of its own: `fit_shape` sizes its clip by the image.)
        aspect_width, aspect_height = getattr(pipe, "default_aspect_ratio", (16, 9))
        height, width = pipe.video_processor.calculate_default_height_width(
            aspect_height, aspect_width, pipe.target_size
        )
        return dataclasses.replace(family.defaults, height=height, width=width, guidance=pipe.guider.guidance_scale)
    if family.key != "cogvideox":
        return family.defaults
    config, scale = pipe.transformer.config, pipe.vae_scale_factor_spatial
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
