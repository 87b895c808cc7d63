"""What the tabs start with: each control's value (the Python API's own defaults, from the calls in `modes`, at the
settings' sizes: full size with the hub's models, quick ones offline, never beyond the configured limits) and the
model lists the dropdowns offer (the settings' curated models and the local models root)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from modes import GuidedCall, ModelScopeCall, Pix2PixCall, Text2VideoCall, UpscaleCall
from settings import Settings
from utils.model_list import local_models


@dataclass(frozen=True)
class Text2VideoDefaults:
    """What the Text2Video tab starts with."""

    resolution: int
    video_length: int
    chunk_size: int
    num_inference_steps: int
    t0: int | None  # None: the method's T' and T on whatever schedule runs
    t1: int | None
    fps: int


@dataclass(frozen=True)
class GuidedDefaults:
    """What the guided and editing tabs start with."""

    resolution: int
    num_inference_steps: int
    chunk_size: int
    input_fps: float
    max_frames: int
    pix2pix_steps: int


@dataclass(frozen=True)
class ModelScopeDefaults:
    """What the ModelScope tab starts with: frames and steps of a clip, steps of an upscale."""

    num_frames: int  # the tab's control, named as its endpoint was published (the call's video_length)
    num_inference_steps: int
    upscale_steps: int


def _within_limits(settings: Settings, defaults):
    """Defaults never beyond the configured limits (a lower T2VZ_MAX_FRAMES must not break the tabs)."""
    frames = {
        k: min(getattr(defaults, k), settings.max_frames)
        for k in ("video_length", "chunk_size", "max_frames", "num_frames")
        if hasattr(defaults, k)
    }
    sizes = (
        {"resolution": min(defaults.resolution, settings.max_resolution)} if hasattr(defaults, "resolution") else {}
    )
    return replace(defaults, **sizes, **frames)


def text2video_defaults(settings: Settings) -> Text2VideoDefaults:
    """The Python API's defaults at 512 px; quick: 128 px and 10 steps."""
    t2v = Text2VideoCall.default
    defaults = Text2VideoDefaults(
        resolution=512, **{k: t2v(k) for k in ("video_length", "chunk_size", "num_inference_steps", "t0", "t1", "fps")}
    )
    if settings.quick_defaults:
        defaults = replace(defaults, resolution=128, num_inference_steps=10)
    return _within_limits(settings, defaults)


def guided_defaults(settings: Settings) -> GuidedDefaults:
    """The Python API's defaults, at most 24 frames of an input video; quick: 128 px, 8 steps, 8 frames."""
    guided = GuidedCall.default
    defaults = GuidedDefaults(
        resolution=guided("resolution"),
        num_inference_steps=guided("num_inference_steps"),
        chunk_size=guided("chunk_size"),
        input_fps=guided("input_fps"),
        max_frames=24,
        pix2pix_steps=Pix2PixCall.default("num_inference_steps"),
    )
    if settings.quick_defaults:
        defaults = replace(defaults, resolution=128, num_inference_steps=8, max_frames=8, pix2pix_steps=8)
    return _within_limits(settings, defaults)


def modelscope_defaults(settings: Settings) -> ModelScopeDefaults:
    """The Python API's defaults; quick: 8 frames, 6 steps, 4 steps to upscale."""
    defaults = ModelScopeDefaults(
        num_frames=ModelScopeCall.default("video_length"),
        num_inference_steps=ModelScopeCall.default("num_inference_steps"),
        upscale_steps=UpscaleCall.default("num_inference_steps"),
    )
    if settings.quick_defaults:
        defaults = replace(defaults, num_frames=8, num_inference_steps=6, upscale_steps=4)
    return _within_limits(settings, defaults)


def sd_model_choices(settings: Settings) -> list[str]:
    """The curated list and the local models root (no network: the live search runs as the user types)."""
    return list(dict.fromkeys([*settings.sd_models, *local_models(settings.models_root)]))


def guided_model_choices(settings: Settings) -> list[str]:
    """The bases the guided tabs' SD 1.x ControlNets fit: the list without the known SD 2.x/SDXL models and
    checkpoint files (local folders of SD 1.x and 2.x share a pipeline class, so they stay)."""
    local = set(local_models(settings.models_root)) - set(local_models(settings.models_root, ("sd1",)))
    return [name for name in sd_model_choices(settings) if name not in settings.not_sd1 | local]


def pix2pix_model_choices(settings: Settings) -> list[str]:
    """The configured Instruct-Pix2Pix model and those in the local models root."""
    return list(dict.fromkeys([settings.default_pix2pix_model, *local_models(settings.models_root, ("pix2pix",))]))
