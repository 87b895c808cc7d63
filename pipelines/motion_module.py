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

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    DDIMScheduler,
    MotionAdapter,
    SparseControlNetModel,
    UNet2DConditionModel,
    UNetMotionModel,
)
from diffusers.loaders import StableDiffusionLoraLoaderMixin
from diffusers.pipelines.free_noise_utils import AnimateDiffFreeNoiseMixin, SplitInferenceModule
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from .base import VP_NAMES, Conditioning, StepCallback, VideoPipelineOutput
from .controlnet_video import control_frames_shape, control_frames_to_tensor
from .modelscope import ModelScopePipeline
from .text_to_video_zero_sdxl import TextToVideoZeroSDXLPipeline

# AnimateDiff's published sampling: DDIM on linear betas, without clipping, spaced over the whole range.
ANIMATEDIFF_SCHEDULER = dict(beta_schedule="linear", clip_sample=False, timestep_spacing="linspace", steps_offset=1)
# FreeNoise as its authors and diffusers run it: windows averaged with pyramid weights, the first window's noise
# shuffled into the later ones. Split inference: diffusers' default slices (pixels of the temporal layers, frames of
# the spatial ones).
FREE_NOISE = dict(weighting_scheme="pyramid", noise_type="shuffle_context")
SPATIAL_SPLIT, TEMPORAL_SPLIT = 256, 16
# Where the windows apply: FreeNoise's temporal layers (diffusers'), or the whole UNet (memory flat in the length).
CONTEXT_SCOPES = ("temporal", "unet")


@dataclass
class FrameConditioning(Conditioning):
    """Text embeddings per guidance branch, one per frame (F, tokens, dim): prompts may change along the clip."""

    def batch(self, chunk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict | None]:
        """The whole clip per branch, [branch][frame] as the motion UNet lays out its batch (SDXL's added
        conditioning per branch: the motion UNet repeats it per frame)."""
        model_input, embeds = torch.cat([chunk] * len(self)), torch.cat(self.embeds)
        if self.pooled is None:
            return model_input, embeds, None
        time_ids = self.time_ids.expand(len(self), -1)  # type: ignore[union-attr]  # set with the pooled ones
        return model_input, embeds, {"text_embeds": torch.cat(self.pooled), "time_ids": time_ids}


class MotionModulePipeline(ModelScopePipeline, AnimateDiffFreeNoiseMixin, StableDiffusionLoraLoaderMixin):
    """`MotionModulePipeline(vae, text_encoder, tokenizer, motion_unet(unet, adapter), animatediff_scheduler(...))`.

    Prompts may change at given frames (`{0: "a calm sea", 24: "a storm"}`: the text embeddings interpolated between,
    as diffusers' FreeNoise does); `context_length` frames at a time go through the temporal layers (FreeNoise's
    sliding windows, `context_stride` apart) so clips may outgrow the adapter's length, or, with
    `context_scope="unet"`, the whole UNet goes window by window (memory flat in the clip's length);
    `split_inference` runs the UNet's layers on slices of the batch (less memory, the same result)."""

    _free_noise_context_length: int | None = None  # FreeNoise's window while `context_windows` runs, else None
    _unet_window: int | None = None  # with `context_scope="unet"`: the frames the whole UNet takes at a time

    @classmethod
    def scheduler_names(cls) -> tuple[str, ...]:
        return VP_NAMES  # lcm for AnimateLCM's few steps

    @staticmethod
    def frame_embeds(embeds: torch.Tensor, frames: int) -> torch.Tensor:
        return embeds  # already one per frame (`FrameConditioning`)

    @staticmethod
    def window_embeds(embeds: torch.Tensor, branches: int, window: slice) -> torch.Tensor:
        """The window's frames of each branch's per-frame embeddings ([branch][frame])."""
        if window == slice(None):
            return embeds
        return embeds.unflatten(0, (branches, -1))[:, window].flatten(0, 1)

    def windowed(self, run, frames: int) -> torch.Tensor:
        """With `context_scope="unet"`: the whole UNet (and its ControlNet) runs on one window of frames at a time
        and the windows' predictions are averaged with FreeNoise's pyramid weights, so the memory a step needs does
        not grow with the clip (AnimateDiff-Evolved's context windows). Otherwise the whole clip at once."""
        length = self._unet_window
        if not length or length >= frames:
            return run(slice(None))
        starts = window_starts(frames, length, self._free_noise_context_stride)
        weights = torch.tensor([min(index + 1, length - index) for index in range(length)], dtype=torch.float32)
        total, count = None, torch.zeros(frames)
        for start in starts:
            window = slice(start, start + length)
            prediction = run(window)
            if total is None:
                total = prediction.new_zeros((*prediction.shape[:2], frames, *prediction.shape[3:]))
            total[:, :, window] += prediction * weights.to(prediction).view(1, 1, -1, 1, 1)
            count[window] += weights
        return total / count.to(total).view(1, 1, -1, 1, 1)

    def clip_conditioning(
        self,
        prompt: str | dict[int, str],
        negative_prompt: str | None,
        guidance_scale: float,
        device,
        frames: int,
        height: int,
        width: int,
    ) -> Conditioning:
        positive = self.travel_embeds({0: prompt} if isinstance(prompt, str) else prompt, frames, device)
        if guidance_scale <= 1.0:
            return FrameConditioning([positive])
        negative = self._encode_text(negative_prompt or "", device)
        return FrameConditioning([torch.cat([negative] * frames), positive])

    def travel_embeds(self, schedule: dict[int, str], frames: int, device) -> torch.Tensor:
        """One embedding per frame: each keyframe's prompt, linearly interpolated between keyframes, the last
        held to the end (diffusers' FreeNoise prompt interpolation)."""
        keys = sorted(schedule)
        if not keys or keys[0] != 0 or keys[-1] >= frames or not all(isinstance(key, int) for key in keys):
            raise ValueError(f"Prompt keyframes must be integers from 0 (the first) to {frames - 1}, got {keys}.")
        embeds = {key: self._encode_text(schedule[key], device) for key in keys}
        if len(keys) == 1:
            return torch.cat([embeds[0]] * frames)
        if keys[-1] != frames - 1:
            keys.append(frames - 1)
            embeds[frames - 1] = embeds[keys[-2]]
        travel = embeds[0].new_zeros((frames, *embeds[0].shape[1:]))
        for start, end in itertools.pairwise(keys):
            travel[start : end + 1] = self._lerp(start, end, embeds[start], embeds[end])
        return travel

    def initial_noise(self, shape: tuple[int, ...], generator, device, dtype) -> torch.Tensor:
        if not self.free_noise_enabled:
            return super().initial_noise(shape, generator, device, dtype)
        batch, channels, frames, height, width = shape
        factor = self.vae_scale_factor
        return self._prepare_latents_free_noise(
            batch, channels, frames, height * factor, width * factor, dtype, device, generator
        )

    def motion_blocks(self) -> list[torch.nn.Module]:
        """The UNet's blocks that hold temporal layers."""
        blocks = [*self.unet.down_blocks, self.unet.mid_block, *self.unet.up_blocks]
        return [block for block in blocks if getattr(block, "motion_modules", None) is not None]

    @contextmanager
    def context_windows(self, length: int | None, stride: int, scope: str = "temporal") -> Iterator[None]:
        """Windows of `length` frames, `stride` apart, while the block runs (None: every frame at once): FreeNoise's
        in the temporal layers (`scope` "temporal", as diffusers' `enable_free_noise`), or the whole UNet per window
        ("unet", `windowed`); both start from FreeNoise's shuffled noise. The shared motion UNet is given back as it
        was, however the block ends."""
        if not length:
            yield
            return
        if scope not in CONTEXT_SCOPES:
            raise ValueError(f"`context_scope` must be one of {', '.join(CONTEXT_SCOPES)}, got {scope!r}.")
        most = self.unet.config.motion_max_seq_length
        if not isinstance(length, int) or not 1 <= length <= most:
            raise ValueError(f"`context_length` must be from 1 to the adapter's length, {most}; got {length!r}.")
        if not isinstance(stride, int) or not 1 <= stride <= length:
            raise ValueError(f"`context_stride` must be from 1 to `context_length` ({length}), got {stride!r}.")
        self._free_noise_context_length, self._free_noise_context_stride = length, stride
        self._free_noise_weighting_scheme = FREE_NOISE["weighting_scheme"]
        self._free_noise_noise_type = FREE_NOISE["noise_type"]
        self._free_noise_prompt_interpolation_callback = self._lerp
        temporal = scope == "temporal"
        try:
            if temporal:
                for block in self.motion_blocks():
                    self._enable_free_noise_in_block(block)
            else:
                self._unet_window = length
            yield
        finally:
            if temporal:
                for block in self.motion_blocks():
                    self._disable_free_noise_in_block(block)
            self._free_noise_context_length = self._unet_window = None

    @contextmanager
    def split(self, on: bool) -> Iterator[None]:
        """diffusers' FreeNoise split inference while the block runs; unwrapped again after."""
        if not on:
            yield
            return
        try:
            # diffusers' `enable_free_noise_split_inference`, over the blocks with temporal layers only: SD's own mid
            # block (adapters without a motion mid block) calls its resnets positionally, which the split wrapper
            # cannot split; it runs at the smallest size anyway.
            parts = {
                "attentions": self._enable_split_inference_attentions_,
                "resnets": self._enable_split_inference_resnets_,
                "downsamplers": self._enable_split_inference_samplers_,
                "upsamplers": self._enable_split_inference_samplers_,
            }
            for block in self.motion_blocks():
                self._enable_split_inference_motion_modules_(block.motion_modules, SPATIAL_SPLIT)
                for name, split_part in parts.items():
                    if getattr(block, name, None) is not None:
                        split_part(getattr(block, name), TEMPORAL_SPLIT)
            yield
        finally:
            unwrap_split(self.unet)

    @torch.no_grad()
    def __call__(  # type: ignore[override]
        self,
        prompt: str | dict[int, str],
        *args,
        context_length: int | None = None,
        context_stride: int = 4,
        context_scope: str = "temporal",
        split_inference: bool = False,
        **kwargs,
    ) -> VideoPipelineOutput:
        """`ModelScopePipeline`'s call with a motion module's options (see the class)."""
        with self.context_windows(context_length, context_stride, context_scope), self.split(split_inference):
            return super().__call__(prompt, *args, **kwargs)

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


class SteeredMotionPipeline(MotionModulePipeline):
    """A motion module with a network that steers it (a ControlNet, or SparseCtrl) as `controlnet`."""

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNetMotionModel,
        controlnet: ControlNetModel | SparseControlNetModel,
        scheduler: KarrasDiffusionSchedulers,
    ):
        super().__init__(vae, text_encoder, tokenizer, unet, scheduler)
        self.register_modules(controlnet=controlnet)

    model_cpu_offload_seq = "text_encoder->controlnet->unet->vae"


class MotionControlNetPipeline(SteeredMotionPipeline):
    """A motion module guided by a ControlNet: `MotionControlNetPipeline(vae, text_encoder, tokenizer,
    motion_unet(unet, adapter), controlnet, animatediff_scheduler(...))`."""

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

        def residuals(model_input: torch.Tensor, t, embeds: torch.Tensor, window: slice) -> dict:
            # (branches, C, F, h, w) -> (branches x F, C, h, w): the ControlNet sees frames, [branch][frame].
            branches = model_input.shape[0]
            frames_input = model_input.transpose(1, 2).flatten(0, 1)
            down, mid = self.controlnet(
                frames_input,
                t,
                encoder_hidden_states=embeds,
                controlnet_cond=control[window].repeat(branches, 1, 1, 1),
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


class MotionSparseCtrlPipeline(SteeredMotionPipeline):
    """A motion module steered by a few keyframes through SparseCtrl (RGB images, or scribbles): image-to-video is
    one keyframe at frame 0. `MotionSparseCtrlPipeline(vae, text_encoder, tokenizer, motion_unet(unet, adapter),
    sparsectrl, animatediff_scheduler(...))`."""

    @torch.no_grad()
    def __call__(  # type: ignore[override]
        self,
        prompt: str | dict[int, str],
        keyframes: torch.Tensor,
        keyframe_indices: list[int],
        num_frames: int = 16,
        height: int | None = None,
        width: int | None = None,
        controlnet_conditioning_scale: float = 1.0,
        **kwargs,
    ) -> VideoPipelineOutput:
        """`keyframes` (K, 3, H, W) in [0, 1], one per frame index of `keyframe_indices` (RGB images for an RGB
        SparseCtrl, white-on-black drawings for a scribble one), at the clip's size unless `height`/`width` say
        otherwise. The other arguments are `MotionModulePipeline`'s."""
        if keyframes.ndim != 4 or keyframes.shape[1] != 3 or len(keyframes) != len(keyframe_indices):
            raise ValueError(
                f"`keyframes` must be a (K, 3, H, W) tensor with one index per keyframe, got {tuple(keyframes.shape)} "
                f"and {len(keyframe_indices)} indices."
            )
        if len(set(keyframe_indices)) != len(keyframe_indices) or not all(
            isinstance(index, int) and 0 <= index < num_frames for index in keyframe_indices
        ):
            raise ValueError(f"`keyframe_indices` must be distinct frames from 0 to {num_frames - 1}.")
        if controlnet_conditioning_scale < 0:
            raise ValueError(f"`controlnet_conditioning_scale` must be >= 0, got {controlnet_conditioning_scale!r}.")
        height, width = height or keyframes.shape[2], width or keyframes.shape[3]
        condition, mask = self.sparse_condition(keyframes, keyframe_indices, num_frames, height, width)

        def residuals(model_input: torch.Tensor, t, embeds: torch.Tensor, window: slice) -> dict:
            down, mid = self.controlnet(
                model_input,
                t,
                encoder_hidden_states=embeds,
                controlnet_cond=condition[:, :, window],
                conditioning_mask=mask[:, :, window],
                conditioning_scale=controlnet_conditioning_scale,
                return_dict=False,
            )
            return dict(down_block_additional_residuals=down, mid_block_additional_residual=mid)

        return super().__call__(
            prompt, num_frames=num_frames, height=height, width=width, unet_inputs=residuals, **kwargs
        )

    def sparse_condition(
        self, keyframes: torch.Tensor, indices: list[int], frames: int, height: int, width: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The keyframes at their frames of an otherwise empty clip (1, C, F, h, w) and the mask of which frames
        hold one (1, 1, F, h, w): RGB keyframes as VAE latents (the mode), scribbles as they are."""
        device, dtype = self._execution_device, self.controlnet.dtype
        images = keyframes.float()
        if images.shape[-2:] != (height, width):
            images = torch.nn.functional.interpolate(
                images, size=(height, width), mode="bilinear", align_corners=False
            )
        images = images.clamp(0, 1).to(device)
        if self.controlnet.config.use_simplified_condition_embedding:
            images = self.encode_video(images.to(self.vae.dtype))
        images = images.to(dtype)
        condition = images.new_zeros((1, images.shape[1], frames, *images.shape[-2:]))
        mask = images.new_zeros((1, 1, frames, *images.shape[-2:]))
        condition[0, :, indices] = images.transpose(0, 1)
        mask[:, :, indices] = 1
        return condition, mask


class MotionSDXLPipeline(MotionModulePipeline):
    """An SDXL motion adapter (AnimateDiff's SDXL beta) on an SDXL base: SDXL's conditioning (two text encoders,
    pooled text, size ids) with the motion UNet. `MotionSDXLPipeline(vae, text_encoder, text_encoder_2, tokenizer,
    tokenizer_2, motion_unet(unet, adapter), animatediff_scheduler(...))`; one prompt per clip."""

    model_cpu_offload_seq = "text_encoder->text_encoder_2->unet->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        text_encoder_2: CLIPTextModelWithProjection,
        tokenizer: CLIPTokenizer,
        tokenizer_2: CLIPTokenizer,
        unet: UNetMotionModel,
        scheduler: KarrasDiffusionSchedulers,
    ):
        super().__init__(vae, text_encoder, tokenizer, unet, scheduler)
        self.register_modules(text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2)

    _encode_sdxl = TextToVideoZeroSDXLPipeline._encode_sdxl
    sdxl_conditioning = TextToVideoZeroSDXLPipeline.conditioning

    def clip_conditioning(
        self,
        prompt: str | dict[int, str],
        negative_prompt: str | None,
        guidance_scale: float,
        device,
        frames: int,
        height: int,
        width: int,
    ) -> Conditioning:
        if isinstance(prompt, dict):
            raise ValueError("Prompts that change at given frames are served for SD 1.x motion adapters only.")
        plain = self.sdxl_conditioning(prompt, negative_prompt, guidance_scale, device, height, width)
        per_frame = [torch.cat([embeds] * frames) for embeds in plain.embeds]
        return FrameConditioning(per_frame, plain.pooled, plain.time_ids)


def window_starts(frames: int, length: int, stride: int) -> list[int]:
    """Where whole-UNet windows of `length` frames start, `stride` apart, the last one ending at the last frame."""
    if length >= frames:
        return [0]
    starts = list(range(0, frames - length + 1, stride))
    if starts[-1] + length < frames:
        starts.append(frames - length)  # the last frames get a window of their own
    return starts


def unwrap_split(root: torch.nn.Module) -> None:
    """Put back every module that split inference wrapped."""
    for module in list(root.modules()):
        for name, child in list(module.named_children()):
            inner = child
            while isinstance(inner, SplitInferenceModule):
                inner = inner.module
            if inner is not child:
                setattr(module, name, inner)  # a ModuleList's children are named by index: this sets the item


def adapter_problem(unet: UNet2DConditionModel, adapter: MotionAdapter) -> str | None:
    """Why `adapter` does not fit `unet` (a sentence), or None: SD 2.x bases (linear attention projections, no SDXL
    size conditioning) and block widths other than the adapter's (an SD 1.x adapter on SDXL, or the reverse) are
    refused."""
    sdxl = unet.config.addition_embed_type == "text_time"
    if getattr(unet.config, "use_linear_projection", False) and not sdxl:
        return "an SD 2.x base (its attention projections are linear layers), and motion adapters are made for SD 1.x"
    widths, own = tuple(unet.config.block_out_channels), tuple(adapter.config.block_out_channels)
    if widths != own:
        family = "an SDXL base" if sdxl else "an SD 1.x base"
        return (
            f"{family} (its UNet blocks are {widths} wide), and the adapter's blocks are {own}: it is made for "
            "another family (SD 1.x adapters for SD 1.x bases, the SDXL adapter for SDXL)"
        )
    return None


def motion_unet(unet: UNet2DConditionModel, adapter: MotionAdapter) -> UNetMotionModel:
    """The SD UNet with the adapter's temporal layers (a new model: the SD UNet's weights copied, as they are)."""
    motion = UNetMotionModel.from_unet2d(unet, adapter).to(unet.device)
    if getattr(unet, "add_embedding", None) is not None:
        # SDXL's projection of its pooled text and size ids: diffusers' `from_unet2d` leaves it at a random start
        # (a known gap, huggingface/diffusers#6721); the base's own weights belong there.
        motion.add_embedding.load_state_dict(unet.add_embedding.state_dict())
    # Cast only where needed: diffusers warns on every cast with a dtype, even to the dtype the model already has.
    return motion if motion.dtype == unet.dtype else motion.to(dtype=unet.dtype)


def animatediff_scheduler(config) -> DDIMScheduler:
    """DDIM from an SD checkpoint's scheduler configuration, set as AnimateDiff samples."""
    return DDIMScheduler.from_config(config, **ANIMATEDIFF_SCHEDULER)
