"""What the app knows of the models it offers and the assets it ships: the default and curated models of each mode,
the offline tiny models' names, the DreamBooth styles, native sizes and the Fast preset's LoRAs. Plain data, read by
the settings (which choose among it) and the tabs; it imports nothing of the project."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The example videos the project made (assets/make_examples.py): the tabs' examples, served by the app.
EXAMPLES_DIR = Path(__file__).resolve().parent / "assets" / "examples"
DEFAULT_SD_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SDXL_BASE_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
# The DreamBooth-style bases the original Text2Video-Zero demo offered, with SD 1.5 (its new home) first.
CURATED_SD_MODELS = (
    DEFAULT_SD_MODEL,
    "dreamlike-art/dreamlike-photoreal-2.0",
    "dreamlike-art/dreamlike-diffusion-1.0",
    "prompthero/openjourney",
    "CompVis/stable-diffusion-v1-4",
    SDXL_BASE_MODEL,
)
# The offline tiny models (utils/tiny_models.py builds them), by the names the model fields take.
TINY_SD_MODEL = "tiny-sd"
TINY_SD_MODELS = (TINY_SD_MODEL, "tiny-sd2", "tiny-sdxl")
TINY_DREAMBOOTH_MODEL = "tiny-sd-dreambooth"
# AnimateDiff motion adapters for SD 1.x bases (the motion source of text-to-video); the first is the default.
MOTION_ADAPTERS = (
    "guoyww/animatediff-motion-adapter-v1-5-3",
    "guoyww/animatediff-motion-adapter-v1-5-2",
    "wangfuyun/AnimateLCM",
    "guoyww/animatediff-motion-adapter-sdxl-beta",  # for SDXL bases
)
TINY_MOTION_ADAPTER = "tiny-motion-adapter"
TINY_SDXL_MOTION_ADAPTER = "tiny-motion-adapter-sdxl"
# The camera presets of text-to-video as AnimateDiff's published motion LoRAs (for the v2/v3 SD 1.5 adapters), used
# when a motion module makes the clip; "Pan up/down" are their tilts, "Rotate" their rolls.
CAMERA_LORAS = {
    "Zoom in": "guoyww/animatediff-motion-lora-zoom-in",
    "Zoom out": "guoyww/animatediff-motion-lora-zoom-out",
    "Pan left": "guoyww/animatediff-motion-lora-pan-left",
    "Pan right": "guoyww/animatediff-motion-lora-pan-right",
    "Pan up": "guoyww/animatediff-motion-lora-tilt-up",
    "Pan down": "guoyww/animatediff-motion-lora-tilt-down",
    "Rotate left": "guoyww/animatediff-motion-lora-rolling-anticlockwise",
    "Rotate right": "guoyww/animatediff-motion-lora-rolling-clockwise",
}
# SparseCtrl for the SD 1.5 motion adapters: keyframes as pictures (image-to-video) or as scribbles.
SPARSE_CONTROLS = ("guoyww/animatediff-sparsectrl-rgb", "guoyww/animatediff-sparsectrl-scribble")
TINY_SPARSE_CONTROLS = ("tiny-sparsectrl-rgb", "tiny-sparsectrl-scribble")
TINY_CAMERA_LORAS = {"Zoom in": "tiny-motion-lora-zoom-in", "Pan left": "tiny-motion-lora-pan-left"}
DEFAULT_PIX2PIX_MODEL = "timbrooks/instruct-pix2pix"
DEFAULT_MODELSCOPE_MODEL = "ali-vilab/text-to-video-ms-1.7b"
DEFAULT_UPSCALE_MODEL = "cerspense/zeroscope_v2_XL"
# Native sizes (width, height) of the text-to-video models the tab offers; others use their UNet's sample size.
MODELSCOPE_SIZES = {
    DEFAULT_MODELSCOPE_MODEL: (256, 256),
    "cerspense/zeroscope_v2_576w": (576, 320),
    DEFAULT_UPSCALE_MODEL: (1024, 576),
    "tiny-modelscope": (64, 64),
    "tiny-modelscope-xl": (128, 72),
}
# Trained video transformers the tab offers (their family is read from each one's model_index.json, not its name),
# with the GPU memory each needs at its own size (README: "Trained video models").
VIDEO_MODELS = (
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers",
    "Lightricks/LTX-Video-0.9.7-distilled",
    "Lightricks/LTX-Video",
    "THUDM/CogVideoX-2b",
    "THUDM/CogVideoX-5b",
    "THUDM/CogVideoX-5b-I2V",
    "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v",
    "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_i2v",
)
TINY_VIDEO_MODELS = (
    "tiny-wan",
    "tiny-ltx",
    "tiny-cogvideox",
    "tiny-hunyuan15",
    "tiny-cogvideox-i2v",
    "tiny-hunyuan15-i2v",
)
# Step-distilled video models: their published steps and guidance (the family's own are for the full models).
FEW_STEP_VIDEO_MODELS = {"Lightricks/LTX-Video-0.9.7-distilled": (8, 1.0)}
TINY_PIX2PIX_MODEL = "tiny-pix2pix"
TINY_MODELSCOPE_MODELS = ("tiny-modelscope", "tiny-modelscope-xl")
# Where a single-file checkpoint's family finds the diffusers configs (component classes, scheduler, sizes) that a
# single file lacks; the Instruct-Pix2Pix family uses the editing tab's model.
SINGLE_FILE_CONFIGS = {
    "sd1": DEFAULT_SD_MODEL,
    "sd2": "stabilityai/stable-diffusion-2-1",
    "sdxl": SDXL_BASE_MODEL,
}
TINY_SINGLE_FILE_CONFIGS = {
    "sd1": TINY_SD_MODEL,
    "sd2": "tiny-sd2",
    "sdxl": "tiny-sdxl",
    "pix2pix": TINY_PIX2PIX_MODEL,
}
CONTROLNETS = {
    "pose": "lllyasviel/sd-controlnet-openpose",
    "canny": "lllyasviel/sd-controlnet-canny",
    "depth": "lllyasviel/sd-controlnet-depth",
}
POSE_DETECTORS = ("openpose", "mediapipe")
# The Fast preset's distillation LoRAs (LCM-LoRA), for 4-8 steps with the LCM scheduler and no guidance.
FAST_LORAS = {
    "sd1": "latent-consistency/lcm-lora-sdv1-5",
    "sdxl": "latent-consistency/lcm-lora-sdxl",
}
FAST_STEPS = 6


@dataclass(frozen=True)
class DreamBoothStyle:
    """A DreamBooth base of the original canny tab and the word that triggers its style."""

    label: str
    model: str
    trigger: str


DREAMBOOTH_STYLES = (
    DreamBoothStyle("Anime", "PAIR/text2video-zero-controlnet-canny-anime", "1girl"),
    DreamBoothStyle("Arcane", "PAIR/text2video-zero-controlnet-canny-arcane", "arcane style"),
    DreamBoothStyle("GTA-5", "PAIR/text2video-zero-controlnet-canny-gta5", "gtav style"),
    DreamBoothStyle("Avatar", "PAIR/text2video-zero-controlnet-canny-avatar", "avatar style"),
)


def upscale_long_side(model_name: str) -> int:
    """The long side an upscale model makes by default: its own (Zeroscope XL: 1024), 1024 for models not listed."""
    return max(MODELSCOPE_SIZES.get(model_name, MODELSCOPE_SIZES[DEFAULT_UPSCALE_MODEL]))
