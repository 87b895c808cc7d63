"""Zero-shot text-to-video (Text2Video-Zero, arXiv 2303.13439) on Stable Diffusion 1.x/2.x components.

1. Sample one latent for the anchor frame and denoise it alone (DDIM) from the first timestep down to T'.
2. Translate the anchor's x_T' by k * (dx, dy) for frame k (motion dynamics, whole latent cells).
3. Jump each translated latent back up to T with the DDPM forward process and independent noise per frame.
4. Denoise all frames from T with cross-frame attention (each frame reads the anchor's keys/values).

`t0` and `t1` are step indices counted from the end of the schedule: with 50 steps the defaults 44 and 47 mean
timesteps 881 (T') and 941 (T), as in the original code. `t0=t1=None` places T and T' at those timesteps on any
scheduler and step count (LCM and TCD with 4-8 steps included). Frames are denoised in lockstep chunks: at each
step the chunk holding the anchor runs first and records its keys/values, the other chunks replay them, and the
scheduler steps once over all frames, so chunked output equals unchunked output and the anchor never runs twice
per step.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial

import numpy as np
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders import StableDiffusionLoraLoaderMixin
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from utils.validation import as_float

from .background import (
    PERSON_MASK_EVERY,
    AttentionMaps,
    normalised_masks,
    person_masks,
    prompt_token_positions,
    smooth_background,
)
from .base import StepCallback, VideoPipelineOutput, ZeroShotVideoPipeline, chain_callbacks
from .coherence import Coherence, check_coherence
from .flow import camera_flow
from .free_init import MAX_FREE_INIT, reinitialized
from .motion import CameraMotion, warp_anchor_latent
from .options import MAX_ZOOM, camera_path, check_t0_t1, fit_chunk, takes_options
from .token_merging import window_chunk

# The method's T and T' as training timesteps: the original t1=47 and t0=44 of 50-step DDIM. Any scheduler and step
# count keeps them where the method wants them through `motion_step_indices`.
MOTION_TIMESTEPS = (941, 881)
ANCHOR_PHASE = "Anchor frame on to T' (the method's extra steps)"  # the progress bar of the anchor's own steps


def image_start_index(index_t_prime: int, strength: float) -> int:
    """Image-to-video: the step at which the image's encoding enters, noised, before it is denoised alone to T'.
    Strength 0 enters at T' itself (the anchor at T' is the noised encoding), 1 at the first step (as text-to-video
    starts)."""
    return index_t_prime - round(strength * index_t_prime)


def image_tensor(image, height: int, width: int, device, dtype) -> torch.Tensor:
    """An image (uint8 or [0, 1] float array (H, W, 3), a PIL image, or a (3, H, W) tensor in [0, 1]) as a
    (1, 3, height, width) tensor in [0, 1]: the middle of it cropped to the frame's shape, then resized."""
    import numpy as np
    import torch.nn.functional as F

    if isinstance(image, torch.Tensor):
        tensor = image.float()[None]
    else:
        array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
        scale = 255.0 if array.dtype == np.uint8 else 1.0
        tensor = torch.from_numpy(array[..., :3].astype(np.float32) / scale).permute(2, 0, 1)[None]
    _, _, h, w = tensor.shape
    if h * width > w * height:  # taller than the frame: crop rows
        keep = round(w * height / width)
        tensor = tensor[:, :, (h - keep) // 2 : (h - keep) // 2 + keep]
    elif h * width < w * height:
        keep = round(h * width / height)
        tensor = tensor[:, :, :, (w - keep) // 2 : (w - keep) // 2 + keep]
    tensor = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return tensor.clamp(0, 1).to(device=device, dtype=dtype)


def step_indices(num_inference_steps: int, t0: int, t1: int) -> tuple[int, int]:
    """Positions of T (from t1) and T' (from t0) in a schedule of `num_inference_steps` descending timesteps."""
    return num_inference_steps - 1 - t1, num_inference_steps - 1 - t0


def motion_step_indices(timesteps, motion_timesteps: tuple[int, int] = MOTION_TIMESTEPS) -> tuple[int, int]:
    """Positions of T and T' in a schedule of descending `timesteps`: the steps nearest the timesteps T and T', T'
    at least one step after T (and T' at most the last step). For 50-step DDIM these are the original t1=47, t0=44."""
    values = [int(t) for t in timesteps]
    last = len(values) - 1

    def nearest(timestep: int) -> int:
        return min(range(len(values)), key=lambda i: (abs(values[i] - timestep), i))

    index_t = min(nearest(motion_timesteps[0]), last - 1)
    return index_t, min(last, max(index_t + 1, nearest(motion_timesteps[1])))


class TextToVideoZeroPipeline(ZeroShotVideoPipeline, StableDiffusionLoraLoaderMixin):
    """Zero-shot text-to-video from a Stable Diffusion checkpoint: `TextToVideoZeroPipeline.from_pretrained(id)`."""

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
        self._use_vp_scheduler()

    # ------------------------------------------------------------------------------------------------ checks
    def check_inputs(
        self,
        prompt,
        video_length,
        height,
        width,
        num_inference_steps,
        guidance_scale,
        t0,
        t1,
        chunk_size,
        merging_ratio,
        motion_field_strength_x,
        motion_field_strength_y,
        motion_zoom: float = 0.0,
        motion_rotation: float = 0.0,
        motion_path=None,
        image_strength: float = 0.0,
        free_init_iterations: int = 0,
        flow_fusion: float = 0.0,
        frame_smoother: bool = False,
        vidtome_local: float = 0.0,
        vidtome_global: float = 0.0,
    ) -> None:
        self.check_common_inputs(
            prompt,
            height,
            width,
            num_inference_steps,
            chunk_size,
            merging_ratio,
            guidance_scale=guidance_scale,
            motion_field_strength_x=motion_field_strength_x,
            motion_field_strength_y=motion_field_strength_y,
            motion_zoom=motion_zoom,
            motion_rotation=motion_rotation,
            image_strength=image_strength,
        )
        as_float("`motion_zoom` (per frame)", motion_zoom, -MAX_ZOOM, MAX_ZOOM)
        camera_path(motion_path, "`motion_path`")
        if not isinstance(video_length, int) or video_length < 1:
            raise ValueError(f"`video_length` must be a positive integer, got {video_length!r}.")
        if num_inference_steps < 2:
            raise ValueError(f"`num_inference_steps` must be at least 2, got {num_inference_steps!r}.")
        if not 0 <= image_strength <= 1:
            raise ValueError(f"`image_strength` must be in [0, 1], got {image_strength!r}.")
        if not isinstance(free_init_iterations, int) or not 0 <= free_init_iterations <= MAX_FREE_INIT:
            raise ValueError(f"`free_init_iterations` must be an integer from 0 to {MAX_FREE_INIT}.")
        check_coherence(flow_fusion, frame_smoother, vidtome_local, vidtome_global)
        check_t0_t1(t0, t1, num_inference_steps)

    # --------------------------------------------------------------------------------------------- latents
    def prepare_latents(self, num_frames, height, width, dtype, device, generator) -> torch.Tensor:
        factor = self.vae_scale_factor
        shape = (num_frames, self.unet.config.in_channels, height // factor, width // factor)
        return randn_tensor(shape, generator=generator, device=device, dtype=dtype)

    def background_blend(self, maps: AttentionMaps, strength: float, source: str, camera: CameraMotion):
        """A step callback that smooths the frames' backgrounds toward the anchor's (see `background`), with masks
        from this step's cross-attention maps or from person segmentation of the decoded clean estimate."""
        kept: dict[str, torch.Tensor] = {}
        count = [0]

        def blend(pipe, step: int, timestep: int, tensors: dict) -> dict:
            latents = tensors["latents"]
            if source == "attention":
                found = maps.maps()
                maps.begin_step()
                if found is not None:
                    kept["masks"] = normalised_masks(found)
            elif count[0] % PERSON_MASK_EVERY == 0 and tensors.get("denoised") is not None:
                images: np.ndarray = (self.decode_latents(tensors["denoised"]) * 255).round().astype("uint8")
                masks = torch.from_numpy(person_masks(images))[:, None]
                small = torch.nn.functional.interpolate(masks, size=latents.shape[-2:], mode="area")
                kept["masks"] = small[:, 0].to(latents.device)
            count[0] += 1
            if "masks" in kept:
                latents = smooth_background(latents, kept["masks"], strength, camera)
            return {**tensors, "latents": latents}

        return blend

    def forward_noise(self, latents, timestep_from, timestep_to, generator) -> torch.Tensor:
        """DDPM forward jump x_{T'} -> x_T with independent noise per frame: q(x_T | x_T') in closed form."""
        alphas = self.scheduler.alphas_cumprod.to(latents.device)
        ratio = (alphas[int(timestep_to)] / alphas[int(timestep_from)]).to(latents.dtype)
        noise = randn_tensor(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
        return ratio.sqrt() * latents + (1 - ratio).sqrt() * noise

    # ------------------------------------------------------------------------------------------------- call
    @staticmethod
    def motion_steps(timesteps, t0: int | None, t1: int | None) -> tuple[int, int]:
        """The step indices of T and T' in `timesteps`: from t1 and t0, or the method's own (both None)."""
        if (t0, t1) == (None, None):
            return motion_step_indices(timesteps)
        return step_indices(len(timesteps), t0, t1)  # type: ignore[arg-type]

    def image_strength_used(self, num_inference_steps: int, t0: int | None, t1: int | None, strength: float) -> float:
        """The image strength a call takes effect at: the image enters at a step of the schedule, so strength moves
        in steps of 1/(the steps before T'), the nearest one taken (`image_start_index`)."""
        scheduler = self.fresh_scheduler(num_inference_steps, torch.device("cpu"))
        _, index_t_prime = self.motion_steps(scheduler.timesteps, t0, t1)
        if index_t_prime == 0:
            return 0.0
        return (index_t_prime - image_start_index(index_t_prime, strength)) / index_t_prime

    @torch.no_grad()
    @takes_options
    def __call__(
        self,
        prompt: str,
        video_length: int = 8,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        negative_prompt: str | None = None,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        motion_field_strength_x: float = 12,
        motion_field_strength_y: float = 12,
        t0: int | None = None,
        t1: int | None = None,
        chunk_size: int | None = None,
        merging_ratio: float = 0.0,
        use_cf_attn: bool = True,
        use_motion_field: bool = True,
        motion_zoom: float = 0.0,
        motion_rotation: float = 0.0,
        motion_path: list[tuple[float, float]] | None = None,
        feature_reuse: int = 1,
        cross_frame: str = "anchor",
        image=None,
        image_strength: float = 0.0,
        smooth_bg: bool = False,
        smooth_bg_strength: float = 0.4,
        smooth_bg_mask: str = "attention",
        free_init_iterations: int = 0,
        flow_fusion: float = 0.0,
        frame_smoother: bool = False,
        vidtome_local: float = 0.0,
        vidtome_global: float = 0.0,
        output_type: str = "np",
        decode_chunk_size: int | None = None,
        callback_on_step_end: StepCallback | None = None,
    ) -> VideoPipelineOutput:
        """Generate a video; returns `VideoPipelineOutput(frames=float array (frames, height, width, 3) in [0, 1])`.

        `chunk_size` frames go through the UNet at a time (None: all at once); the output does not depend on it.
        `decode_chunk_size` frames go through the VAE decoder at a time (None: `chunk_size`, the same budget).
        `image` (an image array, PIL image or tensor) makes the video start from it (image-to-video): its encoding,
        noised, becomes the anchor; `image_strength` in [0, 1] is how much of the way from noise to T' the anchor is
        denoised by the model (0: the anchor at T' is the noised encoding; more lets the model move away from it).
        `feature_reuse` k > 1 runs the UNet's deep blocks every k steps only and reuses them between (faster, close
        to the exact output; see `feature_reuse.FeatureReuse`). `cross_frame="sparse-causal"`: each frame attends to
        the anchor and the previous frame (see `CrossFrameState`). `output_type="latent"` returns the final latents,
        to be decoded with `decode_latents_iter`. `callback_on_step_end(pipe, step, timestep, {"latents": ...,
        "denoised": ...})` runs after every scheduler step (the anchor phase passes the anchor's latent alone) with
        the latents and the step's estimate of the clean latents, and may return {"latents": ...} to replace them.
        `free_init_iterations` N > 0 runs the all-frames phase N more times, each from the last pass's clip noised
        back to T with its low frequencies kept (`free_init`; 0: the method as published). `flow_fusion` in [0, 1]
        and `frame_smoother` steady the frames along the camera's known flow (`coherence`). `vidtome_local` and
        `vidtome_global` in [0, 0.9]: VidToMe's token merging across frames (`token_merging`).
        """
        default_size = self.unet.config.sample_size * self.vae_scale_factor
        height, width = height or default_size, width or default_size
        self.check_inputs(
            prompt,
            video_length,
            height,
            width,
            num_inference_steps,
            guidance_scale,
            t0,
            t1,
            chunk_size,
            merging_ratio,
            motion_field_strength_x,
            motion_field_strength_y,
            motion_zoom,
            motion_rotation,
            motion_path,
            image_strength,
            free_init_iterations,
            flow_fusion,
            frame_smoother,
            vidtome_local,
            vidtome_global,
        )
        device = self._execution_device
        chunk_size = fit_chunk(chunk_size, video_length)
        conditioning = self.conditioning(prompt, negative_prompt, guidance_scale, device, height, width)
        num_branches = len(conditioning)

        anchor_scheduler = self.fresh_scheduler(num_inference_steps, device)
        timesteps = anchor_scheduler.timesteps
        index_t, index_t_prime = self.motion_steps(timesteps, t0, t1)
        video_scheduler = self.fresh_scheduler(num_inference_steps, device, begin_index=index_t)

        def predict(model_input: torch.Tensor, t, frames: slice) -> torch.Tensor:
            model_input, embeds, added = conditioning.batch(model_input[frames])
            noise = self.unet(
                model_input, t, encoder_hidden_states=embeds, added_cond_kwargs=added, return_dict=False
            )[0]
            return self.guide(noise, num_branches, guidance_scale)

        dtype = conditioning.embeds[0].dtype
        start = image_start_index(index_t_prime, image_strength) if image is not None else 0
        # The user's steps: the schedule from where the clip starts (an image may enter late) to the end; the anchor
        # frame's way on from T to T' is the method's, counted on a bar of its own.
        user_steps = num_inference_steps - min(start, index_t)
        extra = self.extra_steps_bar
        sampling = self.sampling(user_steps, (self.unet,), num_branches, merging_ratio, use_cf_attn, cross_frame)
        with sampling as (progress, attn):
            denoise = partial(
                self.denoise,
                predict=predict,
                progress=progress,
                attention=attn,
                callback=callback_on_step_end,
                reuse_interval=feature_reuse,
            )
            if image is None:
                # 1. The anchor frame alone from the first timestep to T, kept (frame 0 at T), then on to T'.
                anchor = self.prepare_latents(1, height, width, dtype, device, generator)
                anchor_step = self.step_kwargs(anchor_scheduler, generator, eta)
                start_noise = anchor * anchor_scheduler.init_noise_sigma
                anchor_at_t = denoise(start_noise, anchor_scheduler, range(index_t), step_kwargs=anchor_step)
                with extra(index_t_prime - index_t, ANCHOR_PHASE) as extra_progress:
                    anchor = denoise(
                        anchor_at_t,
                        anchor_scheduler,
                        range(index_t, index_t_prime),
                        step_kwargs=anchor_step,
                        callback_offset=index_t,
                        progress=extra_progress,
                    )
                leading, moved = [anchor_at_t], list(range(1, video_length))
            else:
                # 1'. Image-to-video: the image's encoding noised to step `start`, denoised alone to T' (none of it
                # at strength 0: the anchor at T' is the noised encoding). Frame 0 then goes back up to T as well.
                image_scheduler = self.fresh_scheduler(num_inference_steps, device, begin_index=start)
                encoded = self.encode_video(image_tensor(image, height, width, device, self.vae.dtype)).to(dtype)
                noise = randn_tensor(encoded.shape, generator=generator, device=device, dtype=dtype)
                anchor = image_scheduler.add_noise(encoded, noise, timesteps[start : start + 1])
                image_step = self.step_kwargs(image_scheduler, generator, eta)
                shared = range(start, max(start, index_t))  # on the user's bar: every frame starts from them
                anchor = denoise(anchor, image_scheduler, shared, step_kwargs=image_step)
                with extra(index_t_prime - max(start, index_t), ANCHOR_PHASE) as extra_progress:
                    anchor = denoise(
                        anchor,
                        image_scheduler,
                        range(max(start, index_t), index_t_prime),
                        step_kwargs=image_step,
                        callback_offset=len(shared),
                        progress=extra_progress,
                    )
                leading, moved = [], list(range(video_length))

            # 2-3. The anchor's x_T' as the camera sees it in each other frame, then noised back up to T.
            path = camera_path(motion_path)
            camera = (
                CameraMotion(motion_field_strength_x, motion_field_strength_y, motion_zoom, motion_rotation, path)  # type: ignore[arg-type]
                if use_motion_field
                else CameraMotion()  # no motion field: the background smoothing's reference does not move
            )
            if moved and use_motion_field:
                warped = warp_anchor_latent(anchor, moved, motion=camera)
                leading.append(self.forward_noise(warped, timesteps[index_t_prime], timesteps[index_t], generator))
            elif moved:
                # The paper's ablation without motion field: each other frame starts from its own noise at T.
                if moved[0] == 0:  # image-to-video: the image's frame itself still comes from the anchor
                    leading.append(self.forward_noise(anchor, timesteps[index_t_prime], timesteps[index_t], generator))
                    moved = moved[1:]
                if moved:
                    noise = self.prepare_latents(len(moved), height, width, dtype, device, generator)
                    leading.append(noise * video_scheduler.init_noise_sigma)
            latents = torch.cat(leading)
            coherence = Coherence(flow_fusion, frame_smoother)
            flow = camera_flow(camera, video_length, latents.shape[-2:]) if coherence else None
            refine = coherence.refiner(flow, num_inference_steps, first_step=index_t) if flow else None

            # 4. All frames from T with cross-frame attention, in lockstep chunks (backgrounds smoothed on request).
            def all_frames(latents: torch.Tensor, scheduler, **kwargs) -> torch.Tensor:
                maps = AttentionMaps(num_branches, prompt_token_positions(self.tokenizer, prompt), latents.shape[-2:])
                installed = maps.installed(self.unet) if smooth_bg and smooth_bg_mask == "attention" else nullcontext()
                merging = self.frame_merging(num_branches, vidtome_local, vidtome_global, latents.shape[-2:])
                with installed, merging:
                    callback = callback_on_step_end
                    if smooth_bg:
                        blend = self.background_blend(maps, smooth_bg_strength, smooth_bg_mask, camera)
                        callback = chain_callbacks(blend, callback_on_step_end)
                    return denoise(
                        latents,
                        scheduler,
                        range(index_t, num_inference_steps),
                        step_kwargs=self.step_kwargs(scheduler, generator, eta),
                        callback_offset=index_t_prime,
                        chunk_size=window_chunk(chunk_size) if vidtome_local or vidtome_global else chunk_size,
                        callback=callback,
                        refine=refine,
                        **kwargs,
                    )

            latents = all_frames(latents, video_scheduler)
            # 5. FreeInit: the phase again, from the last clip noised back to T with its low frequencies kept.
            noise = (
                randn_tensor(latents.shape, generator=generator, device=device, dtype=dtype)
                if free_init_iterations
                else None
            )
            for iteration in range(free_init_iterations):
                start_at_t = reinitialized(latents, noise, video_scheduler, timesteps[index_t], generator)
                scheduler = self.fresh_scheduler(num_inference_steps, device, begin_index=index_t)
                with extra(
                    num_inference_steps - index_t, f"FreeInit pass {iteration + 1} of {free_init_iterations}"
                ) as bar:
                    latents = all_frames(start_at_t, scheduler, progress=bar)

        return self.finish(latents, output_type, decode_chunk_size or chunk_size)
