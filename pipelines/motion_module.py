"""Trained motion for Stable Diffusion checkpoints: AnimateDiff's motion modules (a `MotionAdapter`'s temporal
attention layers, inserted into an SD 1.x UNet as diffusers' `UNetMotionModel`), run through this project's
denoising loop.

The motion UNet denoises every frame together, as ModelScope's 3-D UNet does, so this is the ModelScope pipeline
with the motion UNet in place of the 3-D one (the text embeddings repeated per frame, as the motion UNet takes them):
progress, previews, Stop, sliced decoding and video-to-video come with it. The output equals diffusers'
`AnimateDiffPipeline` on the same components and scheduler (tested).
"""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, MotionAdapter, UNet2DConditionModel, UNetMotionModel

from .base import VP_NAMES
from .modelscope import ModelScopePipeline

# AnimateDiff's published sampling: DDIM on linear betas, without clipping, spaced over the whole range.
ANIMATEDIFF_SCHEDULER = dict(beta_schedule="linear", clip_sample=False, timestep_spacing="linspace", steps_offset=1)


class MotionModulePipeline(ModelScopePipeline):
    """`MotionModulePipeline(vae, text_encoder, tokenizer, motion_unet(unet, adapter), animatediff_scheduler(...))`."""

    @classmethod
    def scheduler_names(cls) -> tuple[str, ...]:
        return VP_NAMES  # lcm for AnimateLCM's few steps

    @staticmethod
    def frame_embeds(embeds: torch.Tensor, frames: int) -> torch.Tensor:
        """The motion UNet reads one text embedding per frame: [branch][frame], as its batch is laid out."""
        return embeds.repeat_interleave(frames, dim=0)


def adapter_problem(unet: UNet2DConditionModel, adapter: MotionAdapter) -> str | None:
    """Why `adapter` does not fit `unet` (a sentence), or None: SD 2.x bases (linear attention projections) and
    block widths other than the adapter's are refused."""
    if getattr(unet.config, "use_linear_projection", False):
        return "an SD 2.x base (its attention projections are linear layers), and motion adapters are made for SD 1.x"
    widths, own = tuple(unet.config.block_out_channels), tuple(adapter.config.block_out_channels)
    if widths != own:
        return f"a base whose UNet blocks are {widths} wide, and the adapter's are {own}"
    return None


def motion_unet(unet: UNet2DConditionModel, adapter: MotionAdapter) -> UNetMotionModel:
    """The SD UNet with the adapter's temporal layers (a new model: the SD UNet's weights copied, as they are)."""
    motion = UNetMotionModel.from_unet2d(unet, adapter)
    return motion.to(device=unet.device, dtype=unet.dtype)


def animatediff_scheduler(config) -> DDIMScheduler:
    """DDIM from an SD checkpoint's scheduler configuration, set as AnimateDiff samples."""
    return DDIMScheduler.from_config(config, **ANIMATEDIFF_SCHEDULER)
