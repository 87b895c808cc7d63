"""Video Instruct-Pix2Pix: edit every frame of a video by an instruction, consistently (Text2Video-Zero's variant).

The UNet reads 8 channels: the noisy latent and the frame's image latent. With both guidances on, the batch has three
branches, laid out [branch][frame]: (instruction, image), (no text, image), (no text, no image), and cross-frame
attention groups frames per branch: frame k of every branch reads the anchor of the same branch. With guidance off
(guidance_scale <= 1 or image_guidance_scale < 1) only the (instruction, image) branch runs. Every frame starts from
the same noise latent, and frames are denoised in lockstep chunks as in the other pipelines.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders import StableDiffusionLoraLoaderMixin
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from .base import SCHEDULERS, Conditioning, StepCallback, VideoPipelineOutput, ZeroShotVideoPipeline
from .coherence import Coherence, check_coherence, video_refiner
from .controlnet_video import control_frames_shape, control_frames_to_tensor
from .options import fit_chunk, takes_options

MAX_IMAGE_GUIDANCE = 10.0


class InstructPix2PixVideoPipeline(ZeroShotVideoPipeline, StableDiffusionLoraLoaderMixin):
    """`InstructPix2PixVideoPipeline.from_pretrained("timbrooks/instruct-pix2pix")`; any scheduler works (the
    original uses Euler ancestral)."""

    @classmethod
    def scheduler_names(cls) -> tuple[str, ...]:
        """No forward jump here: any scheduler works (the original demo's is Euler ancestral)."""
        return tuple(SCHEDULERS)

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNet2DConditionModel,
        scheduler: KarrasDiffusionSchedulers,
    ):
        super().__init__()
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler)

    @torch.no_grad()
    @takes_options
    def __call__(
        self,
        prompt: str,
        frames,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        image_guidance_scale: float = 1.0,
        negative_prompt: str | None = None,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        chunk_size: int | None = None,
        merging_ratio: float = 0.0,
        use_cf_attn: bool = True,
        feature_reuse: int = 1,
        cross_frame: str = "anchor",
        shared_noise: bool = True,
        flow_fusion: float = 0.0,
        frame_smoother: bool = False,
        vidtome_local: float = 0.0,
        vidtome_global: float = 0.0,
        output_type: str = "np",
        decode_chunk_size: int | None = None,
        callback_on_step_end: StepCallback | None = None,
    ) -> VideoPipelineOutput:
        """Edit `frames` (uint8 or [0, 1] float (F, H, W, 3), or a (F, 3, H, W) tensor; sides multiples of 8).

        `chunk_size` frames go through the UNet at a time (None: all at once); `decode_chunk_size` through the VAE
        decoder (None: `chunk_size`). `flow_fusion` in [0, 1] and `frame_smoother` steady the edit along the
        video's optical flow (`coherence`). `vidtome_local`/`vidtome_global` in [0, 0.9]: VidToMe's token merging
        across frames (`token_merging`)."""
        video_length, height, width = control_frames_shape(frames)
        if video_length < 1:
            raise ValueError("No frames to edit: the video must have at least one frame.")
        self.check_common_inputs(
            prompt,
            int(height),
            int(width),
            num_inference_steps,
            chunk_size,
            merging_ratio,
            guidance_scale=guidance_scale,
            image_guidance_scale=image_guidance_scale,
        )
        if not 0 <= image_guidance_scale <= MAX_IMAGE_GUIDANCE:
            raise ValueError(
                f"`image_guidance_scale` must be in [0, {MAX_IMAGE_GUIDANCE}], got {image_guidance_scale}."
            )
        check_coherence(flow_fusion, frame_smoother, vidtome_local, vidtome_global)
        device = self._execution_device
        chunk_size = fit_chunk(chunk_size, video_length)
        guided = guidance_scale > 1.0 and image_guidance_scale >= 1.0

        positive, negative = self.encode_prompt(prompt, device, guided, negative_prompt)
        # Image latents: the distribution's mode, unscaled, as Instruct-Pix2Pix was trained.
        tensor = control_frames_to_tensor(frames, int(height), int(width), device, self.vae.dtype)
        images = self.encode_video(tensor, scaled=False).to(positive.dtype)
        # Branches: (instruction, image), (no text, image), (no text, no image).
        conditioning = Conditioning([positive, negative, negative] if guided else [positive])
        branch_images = [images, images, torch.zeros_like(images)] if guided else [images]
        num_branches = len(conditioning)

        scheduler = self.fresh_scheduler(num_inference_steps, device)
        step_kwargs = self.step_kwargs(scheduler, generator, eta)
        # One starting noise for every frame (default): edits of similar frames start alike, which keeps the video
        # steady; the original draws noise per frame (`shared_noise=False`).
        frames_noise = 1 if shared_noise else video_length
        noise = randn_tensor((frames_noise, *images.shape[1:]), generator=generator, device=device, dtype=images.dtype)
        latents = (noise * scheduler.init_noise_sigma).expand(video_length, -1, -1, -1).contiguous()
        refine = video_refiner(Coherence(flow_fusion, frame_smoother), frames, images.shape[-2:], num_inference_steps)

        def predict(model_input: torch.Tensor, t, frames: slice) -> torch.Tensor:
            model_input, embeds, _ = conditioning.batch(model_input[frames])
            model_input = torch.cat([model_input, torch.cat([image[frames] for image in branch_images])], dim=1)
            prediction = self.unet(model_input, t, encoder_hidden_states=embeds, return_dict=False)[0]
            if not guided:
                return prediction
            text, image, uncond = prediction.chunk(3)
            return uncond + guidance_scale * (text - image) + image_guidance_scale * (image - uncond)

        latents = self.denoise_video(
            latents,
            scheduler,
            predict,
            networks=(self.unet,),
            num_branches=num_branches,
            chunk_size=chunk_size,
            merging_ratio=merging_ratio,
            use_cf_attn=use_cf_attn,
            step_kwargs=step_kwargs,
            callback=callback_on_step_end,
            reuse_interval=feature_reuse,
            cross_frame=cross_frame,
            refine=refine,
            frame_merging=(vidtome_local, vidtome_global),
        )

        return self.finish(latents, output_type, decode_chunk_size or chunk_size)
