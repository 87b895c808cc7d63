"""ModelScope / Zeroscope text-to-video on a UNet3DConditionModel, and video-to-video (Zeroscope XL upscaling).

A thin pipeline of this project (diffusers' TextToVideoSDPipeline is frozen in its deprecated folder): it shares
prompt encoding, the denoising loop, frame encoding and sliced decoding with the zero-shot pipelines through their
common base, and none of the zero-shot machinery. The UNet denoises all frames
together (its temporal layers need them), so there is no chunking here; long clips stay affordable through
feed-forward chunking of the UNet (`enable_forward_chunking`), sliced VAE decoding/encoding and, on CUDA, model
CPU offload.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import (
    AutoencoderKL,
    UNet3DConditionModel,
)
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from .base import Conditioning, StepCallback, VideoPipelineBase, VideoPipelineOutput
from .free_init import MAX_FREE_INIT, reinitialized_clip

# The schedulers this model family is offered with (by name, see `base.SCHEDULERS`).
SCHEDULERS = ("dpm++", "ddim", "euler", "unipc")
# What else the UNet takes at a step (a ControlNet's residuals), from (UNet input, timestep, per-frame embeddings, and
# the window of the clip's frames they are for).
UNetInputs = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, slice], dict]


class ModelScopePipeline(VideoPipelineBase):
    """`ModelScopePipeline.from_pretrained("ali-vilab/text-to-video-ms-1.7b")` or a Zeroscope id."""

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNet3DConditionModel,
        scheduler: KarrasDiffusionSchedulers,
    ):
        super().__init__()
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler)

    model_cpu_offload_seq = "text_encoder->unet->vae"

    @classmethod
    def scheduler_names(cls) -> tuple[str, ...]:
        return SCHEDULERS

    @staticmethod
    def frame_embeds(embeds: torch.Tensor, frames: int) -> torch.Tensor:
        """The text embeddings (one per guidance branch) as the UNet takes them: the 3-D UNet repeats them per frame
        itself."""
        return embeds

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
        """The text conditioning of a clip: one prompt for every frame (prompts that change at given frames are
        the motion modules')."""
        if isinstance(prompt, dict):
            raise ValueError("Prompts that change at given frames need a motion module: give one prompt.")
        return self.conditioning(prompt, negative_prompt, guidance_scale, device)

    @staticmethod
    def window_embeds(embeds: torch.Tensor, branches: int, window: slice) -> torch.Tensor:
        """The text embeddings of a window of frames: the 3-D UNet's are per branch, whatever the frames."""
        return embeds

    def windowed(self, run: Callable[[slice], torch.Tensor], frames: int) -> torch.Tensor:
        """The step's prediction from `run(window)` (the prediction for those frames): the 3-D UNet takes the
        whole clip."""
        return run(slice(None))

    def initial_noise(self, shape: tuple[int, ...], generator, device, dtype) -> torch.Tensor:
        """The noise text-to-video starts from, (1, C, F, h, w)."""
        return randn_tensor(shape, generator=generator, device=device, dtype=dtype)

    @staticmethod
    def video_steps(num_inference_steps: int, strength: float) -> int:
        """How many of the schedule's steps video-to-video runs (at least one)."""
        return max(1, min(num_inference_steps, round(num_inference_steps * strength)))

    @staticmethod
    def video_noise(shape: tuple[int, ...], generator, device, dtype) -> torch.Tensor:
        """The noise video-to-video adds to the input's latents, drawn in the 3-D UNet's layout (1, C, F, h, w)."""
        return randn_tensor(shape, generator=generator, device=device, dtype=dtype)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | dict[int, str],
        num_frames: int = 16,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 25,
        guidance_scale: float = 9.0,
        negative_prompt: str | None = None,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        video: torch.Tensor | None = None,
        strength: float = 0.6,
        feature_reuse: int = 1,
        free_init_iterations: int = 0,
        output_type: str = "np",
        decode_chunk_size: int = 2,
        callback_on_step_end: StepCallback | None = None,
        unet_inputs: UNetInputs | None = None,
    ) -> VideoPipelineOutput:
        """Text-to-video; or, with `video` ((F, 3, H, W) in [0, 1] at the output size), video-to-video that keeps
        `1 - strength` of the input (strength in (0, 1]). `free_init_iterations` N > 0 (text-to-video): N more
        passes, each from the last clip noised back to the first timestep with its low frequencies kept (FreeInit, as
        diffusers' `enable_free_init(num_iters=N + 1)`), each on a bar of its own. `unet_inputs`: what else the UNet
        takes at each step (a ControlNet's residuals)."""
        if video is not None:
            num_frames, _, height, width = video.shape
        default_size = self.unet.config.sample_size * self.vae_scale_factor
        height, width = height or default_size, width or default_size
        text = " ".join(prompt.values()) if isinstance(prompt, dict) else prompt
        self.check_common_inputs(text, height, width, num_inference_steps, None, 0.0, guidance_scale=guidance_scale)
        if not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(f"`num_frames` must be a positive integer, got {num_frames!r}.")
        if video is not None and not 0 < strength <= 1:
            raise ValueError(f"`strength` must be in (0, 1], got {strength!r}.")
        if not isinstance(free_init_iterations, int) or not 0 <= free_init_iterations <= MAX_FREE_INIT:
            raise ValueError(f"`free_init_iterations` must be an integer from 0 to {MAX_FREE_INIT}.")
        if video is not None and free_init_iterations:
            raise ValueError("FreeInit is for text-to-video: `free_init_iterations` must be 0 with a `video`.")
        device = self._execution_device
        conditioning = self.clip_conditioning(
            prompt, negative_prompt, guidance_scale, device, num_frames, height, width
        )
        num_branches = len(conditioning)
        dtype = conditioning.embeds[0].dtype

        scheduler = self.fresh_scheduler(num_inference_steps, device)
        timesteps = scheduler.timesteps
        factor = self.vae_scale_factor
        shape = (1, self.unet.config.in_channels, num_frames, height // factor, width // factor)
        if video is None:
            latents = self.initial_noise(shape, generator, device, dtype) * scheduler.init_noise_sigma
        else:
            # Start part-way down the schedule from the noised input: strength 1 starts from pure noise.
            start = len(timesteps) - min(len(timesteps), self.video_steps(num_inference_steps, strength))
            timesteps = timesteps[start:]
            if hasattr(scheduler, "set_begin_index"):
                scheduler.set_begin_index(start)
            # (F, C, h, w) -> (1, C, F, h, w): the 3-D UNet's layout
            encoded = self.encode_video(video.to(device)).permute(1, 0, 2, 3).unsqueeze(0).to(dtype)
            noise = self.video_noise(shape, generator, device, dtype)
            latents = scheduler.add_noise(encoded, noise, timesteps[:1])

        def run(model_input: torch.Tensor, t, window: slice) -> torch.Tensor:
            clip, embeds, added = conditioning.batch(model_input[:, :, window])
            embeds = self.window_embeds(self.frame_embeds(embeds, clip.shape[2]), num_branches, window)
            extra = {} if unet_inputs is None else unet_inputs(clip, t, embeds, window)
            if added is not None:  # SDXL's pooled text and size ids, per guidance branch
                extra["added_cond_kwargs"] = added
            prediction = self.unet(clip, t, encoder_hidden_states=embeds, return_dict=False, **extra)[0]
            return self.guide(prediction, num_branches, guidance_scale)

        def predict(model_input: torch.Tensor, t, frames: slice) -> torch.Tensor:
            # The UNet takes every frame at once (its batch is the one clip): no chunks; a motion module may take
            # the clip in windows (`windowed`).
            return self.windowed(lambda window: run(model_input, t, window), model_input.shape[2])

        steps = range(len(scheduler.timesteps) - len(timesteps), len(scheduler.timesteps))

        def denoise(latents: torch.Tensor, scheduler, progress) -> torch.Tensor:
            return self.denoise(
                latents,
                scheduler,
                steps,
                predict,
                progress,
                step_kwargs=self.step_kwargs(scheduler, generator, eta),
                callback=callback_on_step_end,
                reuse_interval=feature_reuse,
            )

        initial = latents
        with self.steps_bar(len(steps)) as progress:
            latents = denoise(latents, scheduler, progress)
        for iteration in range(free_init_iterations):
            latents = reinitialized_clip(latents, initial, scheduler, generator)
            scheduler = self.fresh_scheduler(num_inference_steps, device)
            with self.extra_steps_bar(len(steps), f"FreeInit pass {iteration + 1} of {free_init_iterations}") as bar:
                latents = denoise(latents, scheduler, bar)

        # (1, C, F, h, w) -> (F, C, h, w): what the VAE decodes
        return self.finish(latents[0].permute(1, 0, 2, 3), output_type, decode_chunk_size)
