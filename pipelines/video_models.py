"""Running the trained video models (`pipelines.video_families`) on diffusers' maintained pipelines.

The denoising is each family's own diffusers pipeline, asked for latents (`output_type="latent"`) with the Model's
step callback (through the scheduler's step where a pipeline takes no callback: HunyuanVideo-1.5), the prompt
encoded apart where the text encoders stay on the CPU, the schedule shifted for one clip where asked; the decoding
is `TrainedVideo.decode`, so the latents outlive a decode that runs out of memory (`model.write_clip` retries it
tiled, and keeps them on failure). `CleanEstimate` makes the previews.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from diffusers.utils.torch_utils import get_module_execution_device

from errors import InputError
from pipelines.video_families import Family, Shape, temporal_ratio, vae_spatial_ratio

logger = logging.getLogger(__name__)

# Clips of this many pixels (frames x height x width) and more decode in tiles by default: CogVideoX's own clip
# (49 x 480 x 720), whose whole decode takes more memory than an 8-12 GB card has beside the transformer.
TILED_DECODE_FROM = 49 * 480 * 720

TEXT_ENCODERS = ("text_encoder", "text_encoder_2")
# What each family's `encode_prompt` returns, by the names its pipeline takes them (the others: prompt_embeds,
# negative_prompt_embeds).
EMBEDDINGS: dict[str, tuple[str, ...]] = {
    "ltx": ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds", "negative_prompt_attention_mask"),
    "hunyuan15": ("prompt_embeds", "prompt_embeds_mask", "prompt_embeds_2", "prompt_embeds_mask_2"),
}


def encode_prompts(pipe, family: Family, prompt: str | None, negative: str | None, guidance: float, device) -> dict:
    """The prompt's (and, with guidance, the negative prompt's) embeddings, computed where the text encoders are
    (the CPU, T2VZ_TEXT_ENCODERS_ON_CPU), moved to `device` in the transformer's dtype, named as the family's
    pipeline takes them."""
    cpu, guided = torch.device("cpu"), guidance > 1
    names = EMBEDDINGS.get(family.key, ("prompt_embeds", "negative_prompt_embeds"))
    if family.key == "hunyuan15":  # the prompt and the negative one apart, the negative as its guider needs it
        found = dict(zip(names, pipe.encode_prompt(prompt=prompt, device=cpu), strict=True))
        if pipe.guider._enabled and pipe.guider.num_conditions > 1:
            negatives = pipe.encode_prompt(prompt=negative or None, device=cpu)
            found.update(zip((f"negative_{name}" for name in names), negatives, strict=True))
    else:
        # The text length the pipeline's own call encodes at (Wan's encode_prompt defaults to less than its call).
        length = inspect.signature(pipe.__call__).parameters["max_sequence_length"].default
        if family.key == "cogvideox":
            length = pipe.transformer.config.max_text_seq_length
        values = pipe.encode_prompt(
            prompt, negative, do_classifier_free_guidance=guided, device=cpu, max_sequence_length=length
        )
        found = dict(zip(names, values, strict=True))
    dtype = pipe.transformer.dtype
    return {
        name: value.to(device, dtype) if value.is_floating_point() else value.to(device)
        for name, value in found.items()
        if value is not None
    }


@contextmanager
def without_text_encoders(pipe):
    """The pipeline without its text encoders while it denoises from given embeddings: diffusers picks the device
    a pipeline runs on from its first module, which would be a text encoder left on the CPU."""
    kept = {name: getattr(pipe, name) for name in TEXT_ENCODERS if getattr(pipe, name, None) is not None}
    pipe.register_modules(**dict.fromkeys(kept))
    try:
        yield
    finally:
        pipe.register_modules(**kept)


def generate(
    pipe,
    family: Family,
    prompt: str | None,
    shape: Shape,
    image=None,
    embeds_on: torch.device | None = None,
    **sampling,
) -> torch.Tensor:
    """Denoise with the family's diffusers pipeline (`sampling`: negative prompt, generator, step callback) and
    return the VAE's latents (B, C, F, h, w), ready to decode. `embeds_on`: the text encoders are on the CPU; the
    prompt is encoded there and its embeddings go to this device."""
    if family.key == "hunyuan15":  # guidance by its guider, set for the call
        pipe.guider = pipe.guider.new(guidance_scale=shape.guidance)
    if embeds_on is not None:
        negative = sampling.pop("negative_prompt", None)
        sampling.update(encode_prompts(pipe, family, prompt, negative, shape.guidance, embeds_on))
        with without_text_encoders(pipe):
            return generate(pipe, family, None, shape, image, **sampling)
    arguments = dict(
        prompt=prompt,
        num_frames=shape.frames,
        height=shape.height,
        width=shape.width,
        num_inference_steps=shape.steps,
        guidance_scale=shape.guidance,
        output_type="latent",
        **sampling,
    )
    if image is not None:
        arguments["image"] = image
        if family.key == "hunyuan15":  # its image-to-video takes its size from the image (`fit_shape`)
            del arguments["height"], arguments["width"]
    if family.key == "ltx":
        arguments["frame_rate"] = shape.fps
    if family.key == "cogvideox":  # its transformer takes a fixed number of text tokens
        arguments["max_sequence_length"] = pipe.transformer.config.max_text_seq_length
    if family.key == "hunyuan15":  # guidance by its guider (above); no step callback: the scheduler's step reports
        del arguments["guidance_scale"]
        with reporting_steps(pipe, arguments.pop("callback_on_step_end", None)):
            latents = pipe(**arguments).frames
    else:
        latents = pipe(**arguments).frames
    return family.to_vae(pipe, latents, shape.frames, shape.height, shape.width)


@contextmanager
def shifted(pipe, family: Family, shift: float | None):
    """The pipeline's flow-matching schedule shifted by `shift` for one call (None: the model's own, from its
    scheduler config). A schedule with no shift, or one the clip's size sets (LTX-Video's), is refused by name."""
    if shift is None:
        yield
        return
    own = pipe.scheduler
    config = own.config
    key = next((name for name in ("flow_shift", "shift") if name in config), None)
    if key is None or config.get("use_dynamic_shifting"):
        why = "shifts its schedule by the clip's size itself" if key else f"has no shift ({type(own).__name__})"
        raise InputError(f"{family.label}'s scheduler {why}: leave the shift out.")
    pipe.scheduler = type(own).from_config(config, **{key: shift})
    try:
        yield
    finally:
        pipe.scheduler = own


@contextmanager
def reporting_steps(pipe, callback):
    """For a pipeline that takes no step callback: its scheduler's step calls `callback(pipe, step, timestep,
    {"latents": ...})` after each step (stop, previews, the step count), for this call only."""
    if callback is None:
        yield
        return
    scheduler, count = pipe.scheduler, itertools.count()

    def step(model_output, timestep, sample, *args, **kwargs):
        output = type(scheduler).step(scheduler, model_output, timestep, sample, *args, **kwargs)
        latents = output[0] if isinstance(output, tuple) else output.prev_sample
        callback(pipe, next(count), timestep, {"latents": latents})
        return output

    scheduler.step = step  # this instance only, until the call ends
    try:
        yield
    finally:
        del scheduler.step


class TrainedVideo:
    """A loaded video pipeline with its family: what the Model's clip writer asks of a pipeline (its scheduler and
    VAE, the VAE's downsampling and the decoding, a few frames at a time)."""

    def __init__(self, pipe, family: Family):
        self.pipe, self.family = pipe, family
        self.scheduler, self.vae = pipe.scheduler, pipe.vae
        self.vae_scale_factor = vae_spatial_ratio(pipe, family)
        self._progress_bar_config = getattr(pipe, "_progress_bar_config", {})

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """The VAE's latents -> the clip's frames (F, H, W, 3) in [0, 1], as the family's pipeline decodes them."""
        vae = self.pipe.vae
        latents = latents.to(get_module_execution_device(vae), vae.dtype)  # where it runs, offloaded or not
        if self.family.key == "ltx" and vae.config.timestep_conditioning:
            video = vae.decode(latents, torch.zeros(len(latents), device=latents.device, dtype=latents.dtype))
        else:
            video = vae.decode(latents)
        frames = self.pipe.video_processor.postprocess_video(video.sample, output_type="pt")[0]
        return frames.permute(0, 2, 3, 1).float().cpu()

    def decode_latents_iter(self, latents: torch.Tensor, chunk: int) -> Iterator[np.ndarray]:
        """The decoded clip, `chunk` frames at a time (the VAE decodes the whole clip: its frames depend on each
        other through its causal temporal layers)."""
        frames = self.decode(latents).numpy()
        for start in range(0, len(frames), chunk):
            yield frames[start : start + chunk]

    def frame_count(self, latents: torch.Tensor) -> int:
        return (latents.shape[2] - 1) * temporal_ratio(self.pipe, self.family) + 1

    def tiles_by_default(self, latents: torch.Tensor) -> bool:
        """Whether the clip is large enough to decode in tiles by default (T2VZ_VAE_TILING=auto)."""
        pixels = self.frame_count(latents) * latents.shape[-2] * latents.shape[-1] * self.vae_scale_factor**2
        return pixels >= TILED_DECODE_FROM


class CleanEstimate:
    """The clean latents a step points at, for previews: a flow-matching step moves x along a velocity v from
    sigma to the next sigma, so two consecutive steps' latents give v and x0 = x - sigma v. Schedulers without
    sigmas (CogVideoX's DDIM) show the current latents. In the VAE's layout, (B, C, F, h, w)."""

    def __init__(self, family: Family, shape: Shape):
        self.family, self.shape, self.previous = family, shape, None
        self.pipe: Any = None  # the pipeline running, from the first step on

    def to_rgb(self, frames: torch.Tensor) -> torch.Tensor:
        """(F, C, h, w) latents -> RGB by a map fitted to this VAE (`preview.fitted_rgb_map`); if the fit fails,
        the first three channels, normalised (a preview never fails a generation)."""
        from pipelines.preview import fitted_rgb_map, latent_rgb

        try:
            return fitted_rgb_map(self.pipe.vae, vae_spatial_ratio(self.pipe, self.family))(frames)
        except Exception as error:  # any failure: the coarse picture instead
            logger.warning("Could not fit a preview map to the VAE (%s): previews show latent channels", error)
            return latent_rgb(frames)

    def __call__(self, pipe, step: int, tensors: dict) -> torch.Tensor | None:
        self.pipe = pipe
        latents = tensors.get("latents")
        if latents is None:
            return None
        previous, self.previous = self.previous, latents.detach()
        sigmas = getattr(pipe.scheduler, "sigmas", None)
        estimate = latents
        if sigmas is not None and previous is not None and step + 1 < len(sigmas):
            before, after = float(sigmas[step]), float(sigmas[step + 1])
            if before != after:
                estimate = latents - after * (latents - previous) / (after - before)
        shape = self.shape
        return self.family.to_vae(pipe, estimate.float(), shape.frames, shape.height, shape.width)
