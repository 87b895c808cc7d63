"""Single-file checkpoints: one `.safetensors` file holding a whole model, as model-sharing sites ship them.

A name is a single file when it ends in a checkpoint suffix: a local file, `owner/repo/path/model.safetensors` or a
`https://huggingface.co/owner/repo/blob/main/model.safetensors` address. Pickle checkpoints (`.ckpt`, `.pt`, ...)
can run code when loaded and are refused. The family (SD 1.x, SD 2.x, SDXL, Instruct-Pix2Pix) is read from the
checkpoint's keys and tensor shapes, never from its name: only the safetensors header is read for that. Loading
goes through diffusers' `from_single_file` with the family's diffusers configs, which a single file lacks.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from errors import InputError

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")
CHECKPOINT_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)
FAMILY_LABELS = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL", "pix2pix": "Instruct-Pix2Pix"}
_HUB_URL = re.compile(r"^(?:https?://)?(?:huggingface\.co|hf\.co)/([^/]+/[^/]+)/(?:blob|resolve)/([^/]+)/(.+)$")
UNET_PREFIX = "model.diffusion_model."


def is_single_file(name: str) -> bool:
    return Path(name.split("?")[0]).suffix.lower() in CHECKPOINT_SUFFIXES


def hub_url(name: str) -> tuple[str, str, str | None] | None:
    """(repo id, file path, revision) for a web address of one file on the hub, or None."""
    if match := _HUB_URL.match(name):
        return match[1], match[3], match[2]
    return None


def hub_file(name: str) -> tuple[str, str, str | None] | None:
    """(repo id, file path, revision) for a hub address of one file, or None for a local name."""
    if found := hub_url(name):
        return found
    if "://" in name:
        return None  # another web address
    parts = name.split("/")
    if len(parts) >= 3 and not name.startswith((".", "/", "~")) and not Path(name).expanduser().exists():
        return "/".join(parts[:2]), "/".join(parts[2:]), None
    return None


def refuse_pickle(name: str, what: str) -> None:
    """Refuse a pickle file; `what` names it in the message (e.g. "'model.ckpt'" or "LoRA 'style.ckpt'")."""
    if Path(name.split("?")[0]).suffix.lower() in PICKLE_SUFFIXES:
        raise InputError(
            f"{what} is a pickle checkpoint, which can run code when loaded and is refused: only .safetensors "
            "files are loaded. Most model sites offer a .safetensors download of the same model."
        )


def fetch(name: str, label: str) -> Path:
    """The local path of a single-file checkpoint, downloading it from the hub where it names one there."""
    refuse_pickle(name, f"'{label}'")
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise InputError(f"'{label}' is not a file: name a .safetensors checkpoint file or a diffusers folder.")
    found = hub_file(name)
    if found is None:
        raise InputError(
            f"The checkpoint file '{label}' does not exist: check the name (files are looked up in the models folder)."
        )
    from huggingface_hub import hf_hub_download

    repo_id, filename, revision = found
    return Path(hf_hub_download(repo_id, filename, revision=revision))


def shapes_of(name: str, label: str) -> dict[str, list[int]]:
    """Every tensor's name and shape, from the checkpoint's header alone: a hub file's header is read remotely
    (a few kB), so a file of the wrong kind is refused before gigabytes are downloaded."""
    found = hub_file(name)
    if found is None or Path(name).expanduser().exists():
        return read_shapes(fetch(name, label), label)
    refuse_pickle(name, f"'{label}'")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import SafetensorsParsingError

    repo_id, filename, revision = found
    try:
        metadata = HfApi().parse_safetensors_file_metadata(repo_id, filename, revision=revision)
    except SafetensorsParsingError as error:
        raise _not_safetensors(label, error) from error
    return {key: list(info.shape) for key, info in metadata.tensors.items()}


def _not_safetensors(label: str, error: Exception) -> InputError:
    return InputError(
        f"'{label}' is not a checkpoint: it cannot be read as a .safetensors file ({error}). Give a "
        ".safetensors checkpoint, a diffusers folder or a hub id."
    )


def read_shapes(path: Path, label: str) -> dict[str, list[int]]:
    """Every tensor's name and shape, from the safetensors header alone (no weights are read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as checkpoint:
            return {key: list(checkpoint.get_slice(key).get_shape()) for key in checkpoint.keys()}
    except Exception as error:  # safetensors raises its own error type for any unreadable header
        raise _not_safetensors(label, error) from error


def _what_else(keys) -> str:
    """What a file without a Stable Diffusion UNet most likely is, for the message."""
    if any("lora" in key.lower() for key in keys):
        return "it is a LoRA: give it in the LoRA field, with a base model in the model field"
    if any(key.startswith(("control_model.", "controlnet_")) or "input_hint_block" in key for key in keys):
        return "it is a ControlNet, not a base model"
    if keys and all(key.startswith(("encoder.", "decoder.", "quant_conv", "post_quant_conv")) for key in keys):
        return "it is a VAE on its own, not a whole model"
    return f"it holds no Stable Diffusion UNet ({UNET_PREFIX}* weights)"


def detect_family(shapes: dict[str, list[int]], label: str) -> str:
    """sd1, sd2, sdxl or pix2pix, from the text encoders' key layout and the UNet's input channels."""

    def has(prefix: str) -> bool:
        return any(key.startswith(prefix) for key in shapes)

    if not has(UNET_PREFIX):
        raise InputError(f"'{label}' is not a Stable Diffusion checkpoint: {_what_else(list(shapes))}.")
    if has("conditioner.embedders.1."):
        family = "sdxl"  # CLIP-L and OpenCLIP bigG
    elif has("conditioner.embedders.0.model."):
        raise InputError(
            f"'{label}' is an SDXL refiner, which refines images rather than making them: use an SDXL base model."
        )
    elif has("cond_stage_model.model."):
        family = "sd2"  # OpenCLIP ViT-H
    elif has("cond_stage_model.transformer."):
        family = "sd1"  # CLIP ViT-L
    else:
        raise InputError(
            f"'{label}' holds a UNet but no text encoder: use a complete checkpoint or a diffusers folder."
        )
    in_channels = shapes.get(UNET_PREFIX + "input_blocks.0.0.weight", [0, 4])[1]
    if in_channels == 8 and family == "sd1":
        return "pix2pix"
    if in_channels != 4:
        raise InputError(
            f"'{label}' is an inpainting or other special {FAMILY_LABELS[family]} model (its UNet "
            f"reads {in_channels} channels): use a text-to-image model."
        )
    return family


def load_components(path: Path, family: str, config: str, dtype) -> dict:
    """The pipeline components of a checkpoint of `family`, loaded by diffusers with the configs in `config`."""
    from diffusers import StableDiffusionInstructPix2PixPipeline, StableDiffusionPipeline, StableDiffusionXLPipeline

    pipeline_class = {
        "sd1": StableDiffusionPipeline,
        "sd2": StableDiffusionPipeline,
        "sdxl": StableDiffusionXLPipeline,
        "pix2pix": StableDiffusionInstructPix2PixPipeline,
    }[family]
    # float32 is what loading gives anyway; naming it makes diffusers cast again and warn about it
    dtype = None if dtype == torch.float32 else dtype
    return pipeline_class.from_single_file(str(path), config=config, torch_dtype=dtype).components
