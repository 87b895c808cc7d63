"""Zero-shot guided video: a ControlNet conditions every frame (pose, edges, depth), Text2Video-Zero keeps them
consistent.

All frames start from the same noise latent, and cross-frame attention runs in the self-attention layers of both
the UNet and the ControlNet (each layer keeping its own anchor keys/values), as in the paper's ControlNet variant.
Frames are denoised in lockstep chunks: per step, the chunk holding the anchor runs first through the ControlNet and
the UNet, the other chunks replay its keys/values, and the scheduler steps once over all frames, so the output does
not depend on the chunk size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from diffusers.loaders import StableDiffusionLoraLoaderMixin
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from .base import StepCallback, VideoPipelineOutput, ZeroShotVideoPipeline
from .coherence import Coherence, check_coherence, video_refiner
from .options import fit_chunk, takes_options


def control_frames_shape(frames) -> tuple[int, int, int]:
    """(frames, height, width) of condition frames, checking their layout."""
    if isinstance(frames, torch.Tensor):
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(
                f"Condition frames must be a tensor (frames, 3, height, width), got {tuple(frames.shape)}."
            )
        return frames.shape[0], frames.shape[2], frames.shape[3]
    shape = np.shape(frames)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"Condition frames must be an array (frames, height, width, 3), got shape {shape}.")
    return shape[0], shape[1], shape[2]


def control_frames_to_tensor(frames, height: int, width: int, device, dtype) -> torch.Tensor:
    """Condition frames (uint8 or [0, 1] float arrays (F, H, W, 3), or a (F, 3, H, W) tensor in [0, 1]) to a
    (F, 3, height, width) tensor in [0, 1]."""
    if isinstance(frames, torch.Tensor):
        tensor = frames.float()
    else:
        array = np.asarray(frames)
        scale = 255.0 if array.dtype == np.uint8 else 1.0
        tensor = torch.from_numpy(array.astype(np.float32) / scale).permute(0, 3, 1, 2)
    if tensor.shape[-2:] != (height, width):
        tensor = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)
    return tensor.clamp(0, 1).to(device=device, dtype=dtype)


class ControlNetVideoPipeline(ZeroShotVideoPipeline, StableDiffusionLoraLoaderMixin):
    """Guided zero-shot video: `ControlNetVideoPipeline(vae, text_encoder, tokenizer, unet, controlnet, scheduler)`."""

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNet2DConditionModel,
        controlnet: ControlNetModel,
        scheduler: KarrasDiffusionSchedulers,
    ):
        super().__init__()
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            controlnet=controlnet,
            scheduler=scheduler,
        )
        self._use_vp_scheduler()

    model_cpu_offload_seq = "text_encoder->controlnet->unet->vae"

    @torch.no_grad()
    @takes_options
    def __call__(
        self,
        prompt: str,
        control_frames,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 20,
        guidance_scale: float = 9.0,
        negative_prompt: str | None = None,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        controlnet_conditioning_scale: float = 1.0,
        chunk_size: int | None = None,
        merging_ratio: float = 0.0,
        use_cf_attn: bool = True,
        feature_reuse: int = 1,
        cross_frame: str = "anchor",
        flow_fusion: float = 0.0,
        frame_smoother: bool = False,
        vidtome_local: float = 0.0,
        vidtome_global: float = 0.0,
        motion_frames=None,
        output_type: str = "np",
        decode_chunk_size: int | None = None,
        callback_on_step_end: StepCallback | None = None,
    ) -> VideoPipelineOutput:
        """One output frame per condition frame; returns float frames (F, height, width, 3) in [0, 1].

        `height`/`width` default to the condition frames' size. `chunk_size` frames go through the ControlNet and
        UNet at a time (None: all at once); the output does not depend on it. `decode_chunk_size` frames go through
        the VAE decoder at a time (None: `chunk_size`). `flow_fusion` in [0, 1] and `frame_smoother` steady the
        clip along the optical flow of `motion_frames` (the video the condition frames came from, same layout; None:
        the condition frames themselves), see `coherence`. `vidtome_local`/`vidtome_global` in [0, 0.9]: VidToMe's
        token merging across frames (`token_merging`).
        """
        video_length, frame_height, frame_width = control_frames_shape(control_frames)
        if video_length < 1:
            raise ValueError("No condition frames: the video must have at least one frame.")
        height, width = height or int(frame_height), width or int(frame_width)
        self.check_common_inputs(
            prompt,
            height,
            width,
            num_inference_steps,
            chunk_size,
            merging_ratio,
            guidance_scale=guidance_scale,
            controlnet_conditioning_scale=controlnet_conditioning_scale,
            eta=eta,
        )
        check_coherence(flow_fusion, frame_smoother, vidtome_local, vidtome_global)
        if motion_frames is not None and control_frames_shape(motion_frames)[0] != video_length:
            raise ValueError(
                f"`motion_frames` must have one frame per condition frame ({video_length}), got "
                f"{control_frames_shape(motion_frames)[0]}."
            )
        device = self._execution_device
        control = control_frames_to_tensor(control_frames, height, width, device, self.controlnet.dtype)
        chunk_size = fit_chunk(chunk_size, video_length)
        conditioning = self.conditioning(prompt, negative_prompt, guidance_scale, device)
        num_branches = len(conditioning)

        scheduler = self.fresh_scheduler(num_inference_steps, device)
        step_kwargs = self.step_kwargs(scheduler, generator, eta)
        factor = self.vae_scale_factor
        shape = (1, self.unet.config.in_channels, height // factor, width // factor)
        # One noise latent for every frame: the ControlNet alone makes the frames differ.
        noise = randn_tensor(shape, generator=generator, device=device, dtype=conditioning.embeds[0].dtype)
        latents = (noise * scheduler.init_noise_sigma).repeat(video_length, 1, 1, 1)
        coherence = Coherence(flow_fusion, frame_smoother)
        moving = control_frames if motion_frames is None else motion_frames
        refine = video_refiner(coherence, moving, shape[-2:], num_inference_steps)

        def predict(model_input: torch.Tensor, t, frames: slice) -> torch.Tensor:
            model_input, embeds, _ = conditioning.batch(model_input[frames])
            condition = torch.cat([control[frames]] * num_branches)

            def residuals():
                return self.controlnet(
                    model_input,
                    t,
                    encoder_hidden_states=embeds,
                    controlnet_cond=condition,
                    conditioning_scale=controlnet_conditioning_scale,
                    return_dict=False,
                )

            # With feature reuse the ControlNet, too, runs at the full steps only.
            down, mid = residuals() if self.reuse is None else self.reuse.remember("controlnet", residuals)
            prediction = self.unet(
                model_input,
                t,
                encoder_hidden_states=embeds,
                down_block_additional_residuals=down,
                mid_block_additional_residual=mid,
                return_dict=False,
            )[0]
            return self.guide(prediction, num_branches, guidance_scale)

        latents = self.denoise_video(
            latents,
            scheduler,
            predict,
            networks=(self.unet, self.controlnet),
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
