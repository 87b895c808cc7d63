"""Trained motion for Stable Diffusion checkpoints: AnimateDiff's motion modules (a `MotionAdapter`'s temporal
attention layers, inserted into an SD 1.x UNet as diffusers' `UNetMotionModel`), run through this project's
denoising loop.

The motion UNet denoises every frame together, as ModelScope's 3-D UNet does, so this is the ModelScope pipeline
with the motion UNet in place of the 3-D one (the text embeddings repeated per frame, as the motion UNet takes them):
progress, previews, Stop, sliced decoding and video-to-video come with it. `MotionControlNetPipeline` adds a
ControlNet that reads one condition frame per frame (pose, edges, depth). The outputs equal diffusers'
`AnimateDiffPipeline`, `AnimateDiffControlNetPipeline`, `AnimateDiffVideoToVideoPipeline` and
`AnimateDiffVideoToVideoControlNetPipeline` on the same components and scheduler (tested; video-to-video with the
VAE's mode where diffusers samples the input's latents).
"""

from __future__ import annotations

import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    DDIMScheduler,
    MotionAdapter,
    UNet2DConditionModel,
    UNetMotionModel,
)
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from .base import VP_NAMES, StepCallback, VideoPipelineOutput
from .controlnet_video import control_frames_shape, control_frames_to_tensor
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

    @staticmethod
    def video_steps(num_inference_steps: int, strength: float) -> int:
        """AnimateDiff's video-to-video rule: the steps' share, rounded down (at least one)."""
        return max(1, min(num_inference_steps, int(num_inference_steps * strength)))

    @staticmethod
    def video_noise(shape: tuple[int, ...], generator, device, dtype) -> torch.Tensor:
        """Drawn frame by frame, (1, F, C, h, w), as AnimateDiff's video-to-video draws it: the same seed, the same
        noise as there."""
        batch, channels, frames, height, width = shape
        noise = randn_tensor((batch, frames, channels, height, width), generator=generator, device=device, dtype=dtype)
        return noise.permute(0, 2, 1, 3, 4)


class MotionControlNetPipeline(MotionModulePipeline):
    """A motion module guided by a ControlNet: `MotionControlNetPipeline(vae, text_encoder, tokenizer,
    motion_unet(unet, adapter), controlnet, animatediff_scheduler(...))`."""

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNetMotionModel,
        controlnet: ControlNetModel,
        scheduler: KarrasDiffusionSchedulers,
    ):
        super().__init__(vae, text_encoder, tokenizer, unet, scheduler)
        self.register_modules(controlnet=controlnet)

    model_cpu_offload_seq = "text_encoder->controlnet->unet->vae"

    @torch.no_grad()
    def __call__(  # type: ignore[override]
        self,
        prompt: str,
        control_frames,
        height: int | None = None,
        width: int | None = None,
        controlnet_conditioning_scale: float = 1.0,
        video: torch.Tensor | None = None,
        strength: float = 1.0,
        callback_on_step_end: StepCallback | None = None,
        **kwargs,
    ) -> VideoPipelineOutput:
        """One frame per condition frame (arrays (F, H, W, 3), uint8 or [0, 1], or a (F, 3, H, W) tensor), at the
        condition's size unless `height`/`width` say otherwise. With `video` ((F, 3, H, W) in [0, 1], the output's
        size) and `strength` below 1, the clip starts from the noised video (video-to-video + ControlNet); strength
        1 starts from noise. The other arguments are `MotionModulePipeline`'s."""
        frames, frame_height, frame_width = control_frames_shape(control_frames)
        height, width = height or int(frame_height), width or int(frame_width)
        if controlnet_conditioning_scale < 0:
            raise ValueError(f"`controlnet_conditioning_scale` must be >= 0, got {controlnet_conditioning_scale!r}.")
        control = control_frames_to_tensor(
            control_frames, height, width, self._execution_device, self.controlnet.dtype
        )

        def residuals(model_input: torch.Tensor, t, embeds: torch.Tensor) -> dict:
            # (branches, C, F, h, w) -> (branches x F, C, h, w): the ControlNet sees frames, [branch][frame].
            branches = model_input.shape[0]
            frames_input = model_input.transpose(1, 2).flatten(0, 1)
            down, mid = self.controlnet(
                frames_input,
                t,
                encoder_hidden_states=embeds,
                controlnet_cond=control.repeat(branches, 1, 1, 1),
                conditioning_scale=controlnet_conditioning_scale,
                return_dict=False,
            )
            return dict(down_block_additional_residuals=down, mid_block_additional_residual=mid)

        if video is None or strength >= 1:
            video = None  # strength 1 starts from noise: the input's look plays no part
        elif tuple(video.shape[-2:]) != (height, width) or len(video) != frames:
            raise ValueError(
                f"`video` must have one frame per condition frame ({frames}) at {height}x{width}, got "
                f"{tuple(video.shape)}."
            )
        return super().__call__(
            prompt,
            num_frames=frames,
            height=height,
            width=width,
            video=video,
            strength=strength,
            callback_on_step_end=callback_on_step_end,
            unet_inputs=residuals,
            **kwargs,
        )


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
