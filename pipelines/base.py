"""What every zero-shot video pipeline of this package shares: prompt encoding, schedulers, token merging, lockstep
chunked noise prediction and sliced decoding. Each pipeline adds its own conditioning and `__call__`."""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DiffusionPipeline,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    LCMScheduler,
    TCDScheduler,
    UniPCMultistepScheduler,
)
from diffusers.utils import BaseOutput

from utils.jobs import count_steps

from .cross_frame_attention import CrossFrameState, cross_frame_attention
from .feature_reuse import FeatureReuse
from .preview import predicted_original
from .token_merging import token_merging_across_frames, window_chunk

logger = logging.getLogger(__name__)

# The schedulers a call may choose by name. "lcm" and "tcd" take 4-8 steps with a distillation LoRA (LCM-LoRA,
# TCD, Hyper-SD) and guidance off.
SCHEDULERS = {
    "ddim": DDIMScheduler,
    "dpm++": DPMSolverMultistepScheduler,
    "unipc": UniPCMultistepScheduler,
    "lcm": LCMScheduler,
    "tcd": TCDScheduler,
    "euler": EulerDiscreteScheduler,
    "euler-a": EulerAncestralDiscreteScheduler,
}
# Schedulers whose latents live in the variance-preserving space that the method's DDPM forward jump assumes
# (x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps). Anything else (PNDM, Euler, ...) is swapped for DDIM.
VP_SCHEDULERS = (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    UniPCMultistepScheduler,
    LCMScheduler,
    TCDScheduler,
)
VP_NAMES = tuple(name for name, cls in SCHEDULERS.items() if issubclass(cls, VP_SCHEDULERS))
MAX_MERGING_RATIO = 0.9

# callback_on_step_end(pipe, step, timestep, {"latents": ..., "denoised": ...}) -> dict that may replace "latents"
StepCallback = Callable[[DiffusionPipeline, int, int, dict], dict | None]
# refine(step index, timestep, scheduler, latents, prediction) -> prediction: see `coherence`
Refine = Callable[[int, torch.Tensor, object, torch.Tensor, torch.Tensor], torch.Tensor]


def chain_callbacks(*callbacks: StepCallback | None) -> StepCallback:
    """One step callback that runs `callbacks` in turn, each seeing the tensors the one before returned."""

    def chained(pipe, step: int, timestep: int, tensors: dict) -> dict:
        for callback in callbacks:
            if callback is not None:
                tensors = {**tensors, **(callback(pipe, step, timestep, tensors) or {})}
        return tensors

    return chained


@dataclass
class Conditioning:
    """Per guidance branch: text embeddings (1, tokens, dim) and, for SDXL, pooled embeddings and size/crop ids."""

    embeds: list[torch.Tensor]
    pooled: list[torch.Tensor] | None = None
    time_ids: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.embeds)

    def batch(self, chunk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict | None]:
        """The UNet batch for a chunk of frames, laid out [branch][frame]: the latents once per branch, the encoder
        states and the added conditioning (SDXL's pooled embeddings and ids, else None)."""
        count = len(chunk)
        model_input = torch.cat([chunk] * len(self))
        embeds = torch.cat([e.expand(count, -1, -1) for e in self.embeds])
        if self.pooled is None:
            return model_input, embeds, None
        pooled = torch.cat([p.expand(count, -1) for p in self.pooled])
        time_ids = self.time_ids.expand(len(pooled), -1)  # type: ignore[union-attr]  # set with the pooled ones
        return model_input, embeds, {"text_embeds": pooled, "time_ids": time_ids}


@dataclass
class VideoPipelineOutput(BaseOutput):
    """`frames`: float array (frames, height, width, 3) in [0, 1], or the latents for `output_type="latent"`."""

    frames: np.ndarray | torch.Tensor


def chunk_slices(num_frames: int, chunk_size: int) -> list[slice]:
    """Consecutive frame ranges of at most `chunk_size`; the first one holds the anchor frame 0."""
    return [slice(start, min(start + chunk_size, num_frames)) for start in range(0, num_frames, chunk_size)]


class VideoPipelineBase(DiffusionPipeline):
    """What every video pipeline of this package shares: input checks, prompt encoding, fresh schedulers, the one
    denoising loop, frame encoding and sliced decoding. Each pipeline adds its conditioning and `__call__`."""

    reuse: FeatureReuse | None = None  # while a loop reuses features: what `predict` may keep across steps

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def check_common_inputs(
        self, prompt, height, width, num_inference_steps, chunk_size, merging_ratio, **numbers: float
    ) -> None:
        """Checks every pipeline shares; `numbers` are named values that must be finite."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("`prompt` must be a non-empty string describing the video.")
        factor = self.vae_scale_factor
        for name, size in (("height", height), ("width", width)):
            if not isinstance(size, int) or size < factor or size % factor:
                raise ValueError(f"`{name}` must be a positive multiple of {factor}, got {size!r}.")
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` must be a positive integer, got {num_inference_steps!r}.")
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
            raise ValueError(f"`chunk_size` must be a positive integer (or None), got {chunk_size!r}.")
        if not 0 <= merging_ratio <= MAX_MERGING_RATIO:
            raise ValueError(f"`merging_ratio` must be in [0, {MAX_MERGING_RATIO}], got {merging_ratio!r}.")
        for name, value in numbers.items():
            if not math.isfinite(value):
                raise ValueError(f"`{name}` must be a finite number, got {value!r}.")

    # ----------------------------------------------------------------------------------------- prompt encoding
    def conditioning(
        self, prompt: str, negative_prompt: str | None, guidance_scale: float, device, height=None, width=None
    ) -> Conditioning:
        """Text conditioning per guidance branch: [negative, positive] with guidance, [positive] without (SD
        1.x/2.x: CLIP embeddings only; the SDXL pipeline adds pooled embeddings and size ids)."""
        do_guidance = guidance_scale > 1.0
        positive, negative = self.encode_prompt(prompt, device, do_guidance, negative_prompt)
        return Conditioning([negative, positive] if do_guidance else [positive])

    @torch.no_grad()
    def encode_prompt(
        self, prompt: str, device: torch.device, do_guidance: bool, negative_prompt: str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(positive, negative) CLIP embeddings of shape (1, tokens, dim); negative is None without guidance."""
        positive = self._encode_text(prompt, device)
        negative = self._encode_text(negative_prompt or "", device) if do_guidance else None
        return positive, negative

    def _encode_text(self, text: str, device: torch.device) -> torch.Tensor:
        tokens = self.tokenizer(
            text,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        if len(self.tokenizer(text).input_ids) > self.tokenizer.model_max_length:
            limit = self.tokenizer.model_max_length
            logger.warning("The prompt is longer than %d tokens; CLIP reads only the start.", limit)
        embeds = self.text_encoder(tokens.input_ids.to(device))[0]
        return embeds.to(dtype=self.unet.dtype, device=device)

    # ------------------------------------------------------------------------------------------- schedulers
    def set_scheduler(self, name: str | None) -> None:
        """Use one of SCHEDULERS, built from the checkpoint's own scheduler configuration; None keeps the current
        one. This pipeline object only: the loaded components are shared, the pipeline views over them are not."""
        if name is None:
            return
        if name not in self.scheduler_names():
            raise ValueError(f"Unknown scheduler {name!r}: choose one of {', '.join(self.scheduler_names())}.")
        if type(self.scheduler) is not SCHEDULERS[name]:
            self.register_modules(scheduler=SCHEDULERS[name].from_config(self.scheduler.config))

    @classmethod
    def scheduler_names(cls) -> tuple[str, ...]:
        return tuple(SCHEDULERS)

    def fresh_scheduler(self, num_inference_steps: int, device: torch.device, begin_index: int = 0):
        """An independent scheduler set to `num_inference_steps`, starting at step `begin_index` with no history.

        The anchor-only phase and the all-frames phase each get their own: a multistep scheduler must not carry the
        anchor's model outputs into frames that had other latents.
        """
        scheduler = copy.deepcopy(self.scheduler)
        scheduler.set_timesteps(num_inference_steps, device=device)
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(begin_index)
        return scheduler

    @contextmanager
    def steps_bar(self, total: int) -> Iterator[object]:
        """The progress bar of the steps the user asked for (the page and the command line show it; a running job
        reads where it stands, for the note a Stop leaves)."""
        with self.progress_bar(total=total) as bar:
            yield count_steps(bar, total)

    @contextmanager
    def extra_steps_bar(self, total: int, what: str) -> Iterator[object]:
        """A bar of its own for steps the method runs beyond the user's (the anchor frame's way on to T'), so the
        user's count stays theirs."""
        from tqdm.auto import tqdm

        config = {**getattr(self, "_progress_bar_config", {}), "desc": what}
        with tqdm(total=total, **config) as bar:
            yield bar

    @staticmethod
    def step_kwargs(scheduler, generator: torch.Generator | None, eta: float) -> dict:
        import inspect

        accepted = inspect.signature(scheduler.step).parameters
        kwargs: dict[str, object] = {}
        if "eta" in accepted:
            kwargs["eta"] = eta
        if "generator" in accepted:
            kwargs["generator"] = generator
        return kwargs

    # ------------------------------------------------------------------------------------------ the one loop
    def denoise(
        self,
        latents: torch.Tensor,
        scheduler,
        steps: range,
        predict: Callable[[torch.Tensor, torch.Tensor, slice], torch.Tensor],
        progress,
        *,
        step_kwargs: dict,
        callback: StepCallback | None = None,
        callback_offset: int = 0,
        chunk_size: int | None = None,
        attention: CrossFrameState | None = None,
        reuse_interval: int = 1,
        refine: Refine | None = None,
    ) -> torch.Tensor:
        """The denoising loop of every pipeline: for each step index in `steps` of `scheduler`'s schedule, scale the
        latents for the scheduler, predict the noise chunk by chunk (`predict(model_input, t, frames)`, the anchor's
        chunk first, see `lockstep`), step the scheduler once over every frame, run the step callback (numbered from
        `callback_offset`) and advance the shared `progress` bar.

        The text-to-video method runs it three times (anchor to T, anchor on to T', all frames from T), the second on
        a bar of its own (`extra_steps_bar`): the user's bar counts the steps they asked for. The guided, editing and
        ModelScope pipelines run it once over the whole schedule. `chunk_size` None: all frames at once;
        `attention`: the cross-frame state, told which call holds the anchor. `reuse_interval` k > 1: the UNet's deep
        blocks run every k steps and are reused between (`FeatureReuse`; 1: exact, every block runs). `refine(i,
        t, scheduler, latents, prediction)` may change the whole step's prediction before the scheduler steps (the
        coherence options, `coherence.Coherence.refiner`).
        """
        reuse = FeatureReuse(self.unet, reuse_interval)
        self.reuse = reuse if reuse_interval > 1 else None  # for `predict`: values it may keep (a ControlNet's)
        try:
            with reuse:
                for n, i in enumerate(steps):
                    t = scheduler.timesteps[i]
                    reuse.begin_step(n)
                    model_input = scheduler.scale_model_input(latents, t)
                    chunk = chunk_size or len(latents)
                    prediction = self.lockstep(partial(predict, model_input, t), len(latents), chunk, attention, reuse)
                    if refine is not None:
                        prediction = refine(i, t, scheduler, latents, prediction)
                    output = scheduler.step(prediction, t, latents, **step_kwargs)
                    # The estimate of the clean latents goes to the callback, for previews (a few elementwise ops).
                    denoised = predicted_original(scheduler, output, prediction, t, latents) if callback else None
                    latents = self.run_callback(callback, self, callback_offset + n, t, output.prev_sample, denoised)
                    progress.update()
        finally:
            self.reuse = None
        return latents

    @staticmethod
    def lockstep(
        predict: Callable[[slice], torch.Tensor],
        num_frames: int,
        chunk_size: int,
        attention: CrossFrameState | None,
        reuse: FeatureReuse | None = None,
    ) -> torch.Tensor:
        """Noise prediction for all frames at one step, chunk by chunk; the first chunk records the anchor K/V.
        Reused features are kept per chunk (by its first frame)."""
        outputs = []
        for frames in chunk_slices(num_frames, chunk_size):
            if attention is not None:
                attention.anchor_in_batch = frames.start == 0
            if reuse is not None:
                reuse.key = frames.start
            outputs.append(predict(frames))
        return torch.cat(outputs)

    @staticmethod
    def run_callback(
        callback: StepCallback | None, pipe, step: int, timestep, latents: torch.Tensor, denoised=None
    ) -> torch.Tensor:
        """Run a diffusers-style step callback on {"latents", and "denoised" (the clean estimate) where known};
        it may return a dict that replaces "latents"."""
        if callback is None:
            return latents
        tensors = {"latents": latents} if denoised is None else {"latents": latents, "denoised": denoised}
        result = callback(pipe, step, int(timestep), tensors) or {}
        return result.get("latents", latents)

    @staticmethod
    def guide(noise: torch.Tensor, num_branches: int, guidance_scale: float) -> torch.Tensor:
        """Classifier-free guidance over a [uncond frames..., cond frames...] batch."""
        if num_branches == 1:
            return noise
        uncond, cond = noise.chunk(2)
        return uncond + guidance_scale * (cond - uncond)

    # ----------------------------------------------------------------------------------- encoding, decoding
    @torch.no_grad()
    def encode_video(self, frames: torch.Tensor, chunk: int = 2, scaled: bool = True) -> torch.Tensor:
        """(F, 3, H, W) frames in [0, 1] -> latents (F, C, h, w), the distribution's mode, a few frames at a time;
        `scaled=False` leaves out the VAE's scaling factor (Instruct-Pix2Pix's image latents are unscaled)."""
        latents = torch.cat(
            [
                self.vae.encode(frames[i : i + chunk].to(self.vae.dtype) * 2 - 1).latent_dist.mode()
                for i in range(0, len(frames), chunk)
            ]
        )
        return latents * self.vae.config.scaling_factor if scaled else latents

    @torch.no_grad()
    def decode_latents_iter(self, latents: torch.Tensor, decode_chunk_size: int = 2) -> Iterator[np.ndarray]:
        """Decode latents a few frames at a time; yields float arrays (frames, height, width, 3) in [0, 1].

        Decoding at full resolution dominates peak memory for long clips, so frames are decoded in slices and can be
        written to a file as they come.
        """
        # Some VAEs (SDXL's) overflow in float16: decode those in float32, as diffusers does.
        upcast = self.vae.dtype == torch.float16 and getattr(self.vae.config, "force_upcast", False)
        dtype = torch.float32 if upcast else self.vae.dtype
        if upcast:
            self.vae.to(torch.float32)
        try:
            for start in range(0, len(latents), max(1, decode_chunk_size)):
                batch = latents[start : start + decode_chunk_size].to(dtype) / self.vae.config.scaling_factor
                images = self.vae.decode(batch, return_dict=False)[0]
                yield (images / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
        finally:
            if upcast:
                self.vae.to(torch.float16)

    def finish(self, latents: torch.Tensor, output_type: str, decode_chunk_size: int) -> VideoPipelineOutput:
        """The end of every call: release offload hooks, then return the latents or the decoded frames."""
        self.maybe_free_model_hooks()
        if output_type == "latent":
            return VideoPipelineOutput(frames=latents)
        return VideoPipelineOutput(frames=self.decode_latents(latents, decode_chunk_size))

    def decode_latents(self, latents: torch.Tensor, decode_chunk_size: int = 2) -> np.ndarray:
        return np.concatenate(list(self.decode_latents_iter(latents, decode_chunk_size)))


class ZeroShotVideoPipeline(VideoPipelineBase):
    """Base of the zero-shot video pipelines: SD components plus the machinery of the method (a variance-preserving
    scheduler, token merging, cross-frame attention with lockstep chunks)."""

    model_cpu_offload_seq = "text_encoder->unet->vae"

    @classmethod
    def scheduler_names(cls) -> tuple[str, ...]:
        """The zero-shot method needs variance-preserving schedulers (see VP_SCHEDULERS)."""
        return VP_NAMES

    def _use_vp_scheduler(self) -> None:
        if not isinstance(self.scheduler, VP_SCHEDULERS):
            logger.info("Replacing %s with DDIMScheduler for zero-shot video.", type(self.scheduler).__name__)
            self.register_modules(scheduler=DDIMScheduler.from_config(self.scheduler.config))

    @contextmanager
    def token_merging(self, ratio: float) -> Iterator[None]:
        """Patch the UNet with tomesd for the duration of one call (deterministic partition, always removed)."""
        if not ratio:
            yield
            return
        import tomesd

        # use_rand=False: a random partition makes two identical calls (and two chunkings) differ.
        tomesd.apply_patch(self.unet, ratio=ratio, use_rand=False)
        try:
            yield
        finally:
            tomesd.remove_patch(self.unet)

    def frame_merging(self, num_branches: int, local: float, global_: float, latent_size) -> ContextManager:
        """VidToMe's cross-frame token merging in the UNet for the denoising it wraps (nothing with both at 0)."""
        return token_merging_across_frames(self.unet, num_branches, local, global_, tuple(latent_size))

    @contextmanager
    def sampling(
        self,
        total_steps: int,
        networks: tuple[torch.nn.Module, ...],
        num_branches: int,
        merging_ratio: float,
        use_cf_attn: bool,
        cross_frame: str = "anchor",
    ) -> Iterator[tuple[object, CrossFrameState]]:
        """What one zero-shot call's denoising runs inside: the user's steps bar over `total_steps`, token merging,
        and cross-frame attention in `networks`; yields (progress bar, cross-frame state) for `denoise`."""
        with (
            self.steps_bar(total_steps) as progress,
            self.token_merging(merging_ratio),
            cross_frame_attention(
                *networks, num_branches=num_branches, enabled=use_cf_attn, mode=cross_frame
            ) as attention,
        ):
            yield progress, attention

    def denoise_video(
        self,
        latents: torch.Tensor,
        scheduler,
        predict: Callable[[torch.Tensor, torch.Tensor, slice], torch.Tensor],
        *,
        networks: tuple[torch.nn.Module, ...],
        num_branches: int,
        chunk_size: int,
        merging_ratio: float,
        use_cf_attn: bool,
        step_kwargs: dict,
        callback: StepCallback | None,
        reuse_interval: int = 1,
        cross_frame: str = "anchor",
        refine: Refine | None = None,
        frame_merging: tuple[float, float] = (0.0, 0.0),
    ) -> torch.Tensor:
        """`denoise` over the whole of `scheduler`'s schedule, inside `sampling` (the guided and editing modes);
        `frame_merging` = VidToMe's (local, global) ratios (`token_merging`; chunks then hold whole windows)."""
        steps = range(len(scheduler.timesteps))
        sampling = self.sampling(len(steps), networks, num_branches, merging_ratio, use_cf_attn, cross_frame)
        merging = self.frame_merging(num_branches, *frame_merging, latents.shape[-2:])
        with sampling as (progress, attention), merging:
            if any(frame_merging):
                chunk_size = window_chunk(chunk_size)
            return self.denoise(
                latents,
                scheduler,
                steps,
                predict,
                progress,
                step_kwargs=step_kwargs,
                callback=callback,
                chunk_size=chunk_size,
                attention=attention,
                reuse_interval=reuse_interval,
                refine=refine,
            )
