"""The central `Model`: one `process_*` per mode over the checkpoints it loads (`loading.ModelLoader`).

Each mode checks its call before anything loads, then runs it on the device (one generation at a time, stoppable
once per step, running out of memory as a message) and writes the video. `process_*` return the written file's
path, the other public methods a `GenerationResult` with the seed used and notes.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from loading import (  # noqa: F401 (the public names of the Model's errors and aliases live here too)
    TINY_ALIASES,
    ModelLoader,
    ModelLoadError,
    WrongModelError,
    free_memory,
    pick_device,
)
from pipelines.modelscope import SCHEDULERS
from pipelines.text_to_video_zero import suggest_t0_t1
from utils.jobs import check_cancelled, from_web, on_step
from utils.validation import InputError, as_flag, as_float, as_int, as_resolution, as_text
from utils.video import VIDEO_FORMATS, VideoClip, VideoWriter, load_video, new_output_path, prune_outputs

logger = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1
MAX_STEPS = 500
MAX_FPS = 60
MAX_MOTION = 100.0
MAX_GUIDANCE = 50.0
DECODE_CHUNK_SIZE = 2


class OutOfMemory(RuntimeError):
    """A generation ran out of (GPU or CPU) memory; memory was freed and the message says what to lower."""


@dataclass
class GenerationResult:
    """A written video, the seed that made it and notes for the user (e.g. a clamped parameter)."""

    path: str
    seed: int
    notes: list[str] = field(default_factory=list)


@contextmanager
def memory_guard(mode: str) -> Iterator[None]:
    """Turn running out of memory into `OutOfMemory` with what to lower, after freeing what the attempt held."""
    try:
        yield
    except (torch.OutOfMemoryError, MemoryError) as error:
        logger.warning("Out of memory during %s: %s", mode, error)
        del error  # its traceback holds the failed step's tensors
        free_memory()
        raise OutOfMemory(
            f"Out of memory during {mode}. Try a smaller chunk size, a lower resolution or fewer frames "
            "(or token merging), then generate again."
        ) from None


def watermark_text(watermark) -> str:
    """The watermark to draw; None, "" and "None" (the original demo's choice) mean none."""
    return "" if watermark in (None, "None") else as_text("Watermark", watermark, required=False)


def draw_seed(seed) -> int:
    """-1 draws a random seed; anything else must be a valid seed."""
    seed = as_int("seed", seed, -1, MAX_SEED)
    return secrets.randbelow(2**31) if seed == -1 else seed


class Model(ModelLoader):
    """One `process_*` per mode over the loaded checkpoints (`ModelLoader`): checks a call, runs it on the device,
    writes the video."""

    # -------------------------------------------------------------------------------------------- text2video
    def text2video(
        self,
        prompt: str,
        model_name: str | None = None,
        motion_field_strength_x: float = 12,
        motion_field_strength_y: float = 12,
        t0: int = 44,
        t1: int = 47,
        n_prompt: str = "",
        chunk_size: int = 8,
        video_length: int = 8,
        merging_ratio: float = 0.0,
        seed: int = 0,
        resolution: int | None = None,
        fps: float = 4,
        use_cf_attn: bool = True,
        use_motion_field: bool = True,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        watermark: str | None = None,
        path: str | None = None,
        lora: str | None = None,
        lora_weight: float = 1.0,
    ) -> GenerationResult:
        """Zero-shot text-to-video; validates everything before loading anything, then writes the video.

        `lora`: an optional LoRA (hub id, folder or .safetensors file) applied at `lora_weight`."""
        notes: list[str] = []
        prompt = as_text("Prompt", prompt)
        n_prompt = as_text("Negative prompt", n_prompt, required=False)
        model_name = model_name or self.settings.default_sd_model
        video_length = as_int("Video length", video_length, 1, self.settings.max_frames)
        chunk_size = as_int("Chunk size", chunk_size, 2)
        if chunk_size > video_length:
            notes.append(f"Chunk size {chunk_size} exceeds the video length: using {video_length}.")
            chunk_size = video_length
        num_inference_steps = as_int("Steps", num_inference_steps, 2, MAX_STEPS)
        t0, t1 = as_int("t0", t0, 0), as_int("t1", t1, 0)
        if not t0 < t1 <= num_inference_steps - 1:
            s0, s1 = suggest_t0_t1(num_inference_steps)
            raise InputError(
                f"t0 ({t0}) and t1 ({t1}) must satisfy 0 <= t0 < t1 <= steps - 1 = {num_inference_steps - 1}. "
                f"For {num_inference_steps} steps try t0={s0}, t1={s1}."
            )
        merging_ratio = as_float("Merging ratio", merging_ratio, 0.0, 0.9)
        motion_x = as_float("Motion strength x", motion_field_strength_x, -MAX_MOTION, MAX_MOTION)
        motion_y = as_float("Motion strength y", motion_field_strength_y, -MAX_MOTION, MAX_MOTION)
        if resolution is not None:
            resolution = as_resolution("Resolution", resolution, self.settings.max_resolution)
        fps = as_float("fps", fps, 1, MAX_FPS)
        guidance_scale = as_float("Guidance scale", guidance_scale, 0.0, MAX_GUIDANCE)
        watermark = watermark_text(watermark)
        path = self._output_path(path)
        seed = draw_seed(seed)
        lora_weight = as_float("LoRA weight", lora_weight, -2.0, 2.0)
        use_cf_attn = as_flag("use_cf_attn", use_cf_attn)
        use_motion_field = as_flag("use_motion_field", use_motion_field)

        with self._generating("text-to-video"):
            pipe = self.text2video_pipeline(model_name)
            self.apply_lora(pipe, lora, lora_weight)
            # The model's own size when none is asked: 512 for SD 1.x, 768 for SD 2.x-v, 1024 for SDXL.
            resolution = resolution or min(
                pipe.unet.config.sample_size * pipe.vae_scale_factor, self.settings.max_resolution
            )
            self._check_work(video_length, resolution, resolution, num_inference_steps)
            generator = torch.Generator("cpu").manual_seed(seed)
            latents = pipe(
                prompt,
                video_length=video_length,
                height=resolution,
                width=resolution,
                num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale,
                negative_prompt=n_prompt,
                generator=generator,
                motion_field_strength_x=motion_x,
                motion_field_strength_y=motion_y,
                t0=t0,
                t1=t1,
                chunk_size=chunk_size,
                merging_ratio=merging_ratio,
                use_cf_attn=use_cf_attn,
                use_motion_field=use_motion_field,
                output_type="latent",
                callback_on_step_end=on_step,
            ).frames
            self._write(pipe, latents, path, fps, watermark)
        logger.info("Wrote %s (seed %d)", path, seed)
        return GenerationResult(path=str(path), seed=seed, notes=notes)

    def process_text2video(self, prompt: str, model_name: str | None = None, **kwargs) -> str:
        """Generate a video from a prompt and return the path of the written file (see `text2video`)."""
        return self.text2video(prompt, model_name, **kwargs).path

    # ----------------------------------------------------------------------------------------------- guided
    def _guided(
        self,
        mode: str,
        video_path,
        prompt: str,
        annotate,
        model_name: str | None = None,
        controlnet_name: str | None = None,
        chunk_size: int = 8,
        merging_ratio: float = 0.0,
        num_inference_steps: int = 20,
        controlnet_conditioning_scale: float = 1.0,
        guidance_scale: float = 9.0,
        seed: int = 42,
        eta: float = 0.0,
        resolution: int = 512,
        use_cf_attn: bool = True,
        save_path: str | None = None,
        n_prompt: str = "",
        start_t: float = 0.0,
        end_t: float = -1,
        input_fps: float = 4,
        max_frames: int | None = None,
        show_condition: bool = False,
        watermark: str | None = None,
        lora: str | None = None,
        lora_weight: float = 1.0,
    ) -> GenerationResult:
        """Video in -> condition frames (`annotate`) -> guided zero-shot video; checks everything before loading."""
        prompt = as_text("Prompt", prompt)
        n_prompt = as_text("Negative prompt", n_prompt, required=False)
        model_name = model_name or self.settings.default_sd_model
        controlnet_name = controlnet_name or self.settings.controlnet_model(mode)
        chunk_size = as_int("Chunk size", chunk_size, 2)
        merging_ratio = as_float("Merging ratio", merging_ratio, 0.0, 0.9)
        num_inference_steps = as_int("Steps", num_inference_steps, 1, MAX_STEPS)
        scale = as_float("ControlNet conditioning scale", controlnet_conditioning_scale, 0.0, 5.0)
        guidance_scale = as_float("Guidance scale", guidance_scale, 0.0, MAX_GUIDANCE)
        eta = as_float("eta", eta, 0.0, 1.0)
        watermark = watermark_text(watermark)
        path = self._output_path(save_path)
        seed = draw_seed(seed)
        lora_weight = as_float("LoRA weight", lora_weight, -2.0, 2.0)
        use_cf_attn = as_flag("use_cf_attn", use_cf_attn)
        show_condition = as_flag("show_condition", show_condition)
        clip = self._video_input(video_path, resolution, start_t, end_t, input_fps, max_frames)
        self._check_work(*clip.frames.shape[:3], num_inference_steps)
        notes = list(clip.notes)
        if chunk_size > len(clip.frames):
            chunk_size = len(clip.frames)

        with self._generating(f"{mode}-guided generation"):
            condition = annotate(clip.frames)
            pipe = self.controlnet_pipeline(model_name, controlnet_name)
            self.apply_lora(pipe, lora, lora_weight)
            latents = pipe(
                prompt,
                condition,
                num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale,
                negative_prompt=n_prompt,
                eta=eta,
                generator=torch.Generator("cpu").manual_seed(seed),
                controlnet_conditioning_scale=scale,
                chunk_size=chunk_size,
                merging_ratio=merging_ratio,
                use_cf_attn=use_cf_attn,
                output_type="latent",
                callback_on_step_end=on_step,
            ).frames
            self._write(pipe, latents, path, clip.fps, watermark, beside=condition if show_condition else None)
        logger.info("Wrote %s (%s, seed %d)", path, mode, seed)
        return GenerationResult(path=str(path), seed=seed, notes=notes)

    def controlnet_pose(
        self, video_path, prompt: str, is_skeleton: bool = False, pose_detector: str | None = None, **kwargs
    ) -> GenerationResult:
        """Pose-guided video. `is_skeleton`: the video already is an OpenPose skeleton drawing, used as it is."""
        detector = pose_detector or self.settings.default_pose_detector
        if detector not in ("openpose", "mediapipe"):
            raise InputError(f"Pose detector must be 'openpose' or 'mediapipe', got {detector!r}.")
        is_skeleton = as_flag("is_skeleton", is_skeleton)
        annotate = (lambda frames: frames) if is_skeleton else (lambda frames: self.annotator(detector)(frames))
        return self._guided("pose", video_path, prompt, annotate, **kwargs)

    def controlnet_canny(
        self, video_path, prompt: str, low_threshold: int = 100, high_threshold: int = 200, **kwargs
    ) -> GenerationResult:
        """Edge-guided video (Canny edges of the input)."""
        from annotators.canny import canny, check_thresholds

        low, high = check_thresholds(low_threshold, high_threshold)
        return self._guided("canny", video_path, prompt, lambda frames: canny(frames, low, high), **kwargs)

    def controlnet_canny_db(self, db_path: str, video_path, prompt: str, **kwargs) -> GenerationResult:
        """Edge-guided video on a DreamBooth base (`db_path`: hub id or local folder)."""
        return self.controlnet_canny(video_path, prompt, model_name=as_text("DreamBooth model", db_path), **kwargs)

    def controlnet_depth(self, video_path, prompt: str, **kwargs) -> GenerationResult:
        """Depth-guided video (MiDaS depth of the input)."""
        return self._guided("depth", video_path, prompt, lambda frames: self.annotator("depth")(frames), **kwargs)

    def process_controlnet_pose(self, video_path, prompt: str, **kwargs) -> str:
        return self.controlnet_pose(video_path, prompt, **kwargs).path

    def process_controlnet_canny(self, video_path, prompt: str, **kwargs) -> str:
        return self.controlnet_canny(video_path, prompt, **kwargs).path

    def process_controlnet_canny_db(self, db_path: str, video_path, prompt: str, **kwargs) -> str:
        return self.controlnet_canny_db(db_path, video_path, prompt, **kwargs).path

    def process_controlnet_depth(self, video_path, prompt: str, **kwargs) -> str:
        return self.controlnet_depth(video_path, prompt, **kwargs).path

    # ------------------------------------------------------------------------------------------------- pix2pix
    def pix2pix(
        self,
        video,
        prompt: str,
        resolution: int = 512,
        seed: int = 0,
        image_guidance_scale: float = 1.0,
        guidance_scale: float = 7.5,
        num_inference_steps: int = 50,
        start_t: float = 0,
        end_t: float = -1,
        out_fps: float = -1,
        chunk_size: int = 8,
        merging_ratio: float = 0.0,
        use_cf_attn: bool = True,
        save_path: str | None = None,
        model_name: str | None = None,
        max_frames: int | None = None,
        n_prompt: str = "",
        watermark: str | None = None,
        lora: str | None = None,
        lora_weight: float = 1.0,
    ) -> GenerationResult:
        """Edit a video by an instruction ("make it night"); `out_fps=-1` keeps the input's frame rate.

        `model_name`: an Instruct-Pix2Pix hub id, local folder or .safetensors file (default
        timbrooks/instruct-pix2pix, see settings). `lora`: an optional SD 1.x LoRA applied at `lora_weight`.
        """
        from pipelines.instruct_pix2pix_video import MAX_IMAGE_GUIDANCE

        prompt = as_text("Instruction", prompt)
        n_prompt = as_text("Negative prompt", n_prompt, required=False)
        model_name = model_name or self.settings.default_pix2pix_model
        image_guidance_scale = as_float("Image guidance scale", image_guidance_scale, 0.0, MAX_IMAGE_GUIDANCE)
        guidance_scale = as_float("Guidance scale", guidance_scale, 0.0, MAX_GUIDANCE)
        num_inference_steps = as_int("Steps", num_inference_steps, 1, MAX_STEPS)
        chunk_size = as_int("Chunk size", chunk_size, 2)
        merging_ratio = as_float("Merging ratio", merging_ratio, 0.0, 0.9)
        lora_weight = as_float("LoRA weight", lora_weight, -2.0, 2.0)
        watermark = watermark_text(watermark)
        path = self._output_path(save_path)
        seed = draw_seed(seed)
        use_cf_attn = as_flag("use_cf_attn", use_cf_attn)
        clip = self._video_input(video, resolution, start_t, end_t, out_fps, max_frames)
        self._check_work(*clip.frames.shape[:3], num_inference_steps)

        with self._generating("video editing"):
            pipe = self.pix2pix_pipeline(model_name)
            self.apply_lora(pipe, lora, lora_weight)
            latents = pipe(
                prompt,
                clip.frames,
                num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale,
                image_guidance_scale=image_guidance_scale,
                negative_prompt=n_prompt,
                generator=torch.Generator("cpu").manual_seed(seed),
                chunk_size=min(chunk_size, len(clip.frames)),
                merging_ratio=merging_ratio,
                use_cf_attn=use_cf_attn,
                output_type="latent",
                callback_on_step_end=on_step,
            ).frames
            self._write(pipe, latents, path, clip.fps, watermark)
        logger.info("Wrote %s (pix2pix, seed %d)", path, seed)
        return GenerationResult(path=str(path), seed=seed, notes=list(clip.notes))

    def process_pix2pix(self, video, prompt: str, **kwargs) -> str:
        """Edit a video by an instruction and return the path of the edited video (see `pix2pix`)."""
        return self.pix2pix(video, prompt, **kwargs).path

    # ---------------------------------------------------------------------------------------------- modelscope
    def modelscope(
        self,
        prompt: str,
        model_name: str | None = None,
        negative_prompt: str = "",
        num_frames: int = 16,
        num_inference_steps: int = 25,
        guidance_scale: float = 9.0,
        height: int | None = None,
        width: int | None = None,
        fps: float = 8,
        seed: int = 0,
        scheduler: str = "dpm++",
        path: str | None = None,
    ) -> GenerationResult:
        """ModelScope/Zeroscope text-to-video; `height`/`width` None: the model's native size."""
        from settings import MODELSCOPE_SIZES

        prompt = as_text("Prompt", prompt)
        negative_prompt = as_text("Negative prompt", negative_prompt, required=False)
        model_name = as_text("Model", model_name or self.settings.default_modelscope_model)
        num_frames = as_int("Frames", num_frames, 1, self.settings.max_frames)
        num_inference_steps = as_int("Steps", num_inference_steps, 1, MAX_STEPS)
        guidance_scale = as_float("Guidance scale", guidance_scale, 0.0, MAX_GUIDANCE)
        native = MODELSCOPE_SIZES.get(model_name)
        width = self._size("Width", width, native[0] if native else None)
        height = self._size("Height", height, native[1] if native else None)
        fps = as_float("fps", fps, 1, MAX_FPS)
        scheduler = self._scheduler_name(scheduler)
        path = self._output_path(path)
        seed = draw_seed(seed)
        self._run_modelscope(
            "ModelScope generation",
            model_name,
            scheduler,
            path,
            fps,
            prompt,
            num_frames=num_frames,
            height=height,
            width=width,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            negative_prompt=negative_prompt,
            generator=torch.Generator("cpu").manual_seed(seed),
        )
        logger.info("Wrote %s (modelscope, seed %d)", path, seed)
        return GenerationResult(path=str(path), seed=seed)

    def modelscope_upscale(
        self,
        video_path=None,
        prompt: str = "",
        model_name: str | None = None,
        strength: float = 0.6,
        width: int = 1024,
        height: int = 576,
        num_inference_steps: int = 25,
        guidance_scale: float = 9.0,
        negative_prompt: str = "",
        seed: int = 0,
        fps: float = -1,
        scheduler: str = "dpm++",
        path: str | None = None,
    ) -> GenerationResult:
        """Zeroscope XL video-to-video on a clip (e.g. a ModelScope result) at width x height; keeps `1 - strength`
        of the clip. `fps=-1`: the clip's own rate. The Model remembers no clip between requests: one visitor's clip
        never reaches another."""
        prompt = as_text("Prompt", prompt)
        negative_prompt = as_text("Negative prompt", negative_prompt, required=False)
        model_name = as_text("Upscale model", model_name or self.settings.default_upscale_model)
        strength = as_float("Strength", strength, 0.0, 1.0)
        if strength == 0:
            raise InputError("Strength must be above 0 (and at most 1): 0 would return the clip unchanged.")
        width = self._size("Width", width, None)
        height = self._size("Height", height, None)
        num_inference_steps = as_int("Steps", num_inference_steps, 1, MAX_STEPS)
        guidance_scale = as_float("Guidance scale", guidance_scale, 0.0, MAX_GUIDANCE)
        scheduler = self._scheduler_name(scheduler)
        path = self._output_path(path)
        seed = draw_seed(seed)
        if video_path in (None, ""):
            raise InputError(
                "No clip to upscale: generate a clip first (it fills the 'Clip to upscale' box) or upload one."
            )
        clip = load_video(video_path, max(width, height), fps=fps, max_frames=self.settings.max_frames)
        frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0
        frames = torch.nn.functional.interpolate(frames, size=(height, width), mode="bicubic").clamp(0, 1)
        self._run_modelscope(
            "upscaling",
            model_name,
            scheduler,
            path,
            clip.fps,
            prompt,
            video=frames,
            strength=strength,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            negative_prompt=negative_prompt,
            generator=torch.Generator("cpu").manual_seed(seed),
        )
        logger.info("Wrote %s (upscale, seed %d)", path, seed)
        return GenerationResult(path=str(path), seed=seed, notes=list(clip.notes))

    def _run_modelscope(
        self, mode: str, model_name: str, scheduler: str, path: Path, fps: float, prompt: str, **call
    ) -> None:
        """Load the ModelScope/Zeroscope model, run it with `call` and write the clip."""
        with self._generating(mode):
            pipe = self.modelscope_pipeline(model_name)
            pipe.set_scheduler(scheduler)
            video = call.get("video")
            native = pipe.unet.config.sample_size * pipe.vae_scale_factor
            frames, height, width = (
                video.shape[0:1] + video.shape[2:] if video is not None else (call["num_frames"], 0, 0)
            )
            steps = call["num_inference_steps"] * call.get("strength", 1.0)
            self._check_work(frames, height or call["height"] or native, width or call["width"] or native, steps)
            latents = pipe(prompt, output_type="latent", callback_on_step_end=on_step, **call).frames
            self._write(pipe, latents, path, fps, "")

    def process_modelscope(self, prompt: str, **kwargs) -> str:
        """ModelScope/Zeroscope text-to-video; returns the path of the written video (see `modelscope`)."""
        return self.modelscope(prompt, **kwargs).path

    def process_modelscope_upscale(self, video_path=None, prompt: str = "", **kwargs) -> str:
        """Upscale a clip (e.g. a ModelScope result) with Zeroscope XL; returns the new video's path."""
        return self.modelscope_upscale(video_path, prompt, **kwargs).path

    def _size(self, name: str, value, default: int | None) -> int | None:
        if value in (None, 0, ""):
            return default
        return as_resolution(name, value, self.settings.max_resolution, minimum=8)

    @staticmethod
    def _scheduler_name(name) -> str:
        if name not in SCHEDULERS:
            raise InputError(f"Scheduler must be one of {', '.join(SCHEDULERS)}, got {name!r}.")
        return name

    # -------------------------------------------------------------------------------------------------- output
    def _video_input(self, video, resolution, start_t, end_t, fps, max_frames) -> VideoClip:
        """Check the video options, then read the frames (at most `max_frames`, default: the configured limit)."""
        resolution = as_resolution("Resolution", resolution, self.settings.max_resolution)
        limit = self.settings.max_frames
        max_frames = as_int("Max frames", limit if max_frames is None else max_frames, 1, limit)
        return load_video(video, resolution, start_t, end_t, fps, max_frames)

    def _output_path(self, path) -> Path:
        """A fresh file in the output folder, or the caller's `path`, checked before any work: it must name a
        video file (.mp4/.gif) in a folder that can be written."""
        if path in (None, ""):
            prune_outputs(self.settings.output_dir, self.settings.output_ttl_hours * 3600)
            return new_output_path(self.settings.output_dir)
        path = Path(as_text("path", path)).expanduser()
        if path.suffix.lower().lstrip(".") not in VIDEO_FORMATS:
            allowed = ", ".join("." + f for f in VIDEO_FORMATS)
            raise InputError(f"path must end in one of {allowed}, got '{path.name}'.")
        if path.is_dir():
            raise InputError(f"path '{path}' is a folder: name a video file inside it, e.g. '{path / 'clip.mp4'}'.")
        probe = path.parent / f".{path.name}.{secrets.token_hex(4)}.probe"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise InputError(
                f"Cannot write to the folder of path '{path}' ({error.strerror or error}): choose another path."
            ) from None
        return path

    @contextmanager
    def _generating(self, mode: str) -> Iterator[None]:
        """One generation at a time on the device, running out of memory as a message. A request stopped while it
        waits for its turn never starts."""
        while not self._lock.acquire(timeout=0.1):
            check_cancelled()
        try:
            check_cancelled()
            with memory_guard(mode):
                yield
        finally:
            self._lock.release()

    def _check_work(self, frames: int, height: int, width: int, steps: float) -> None:
        """Refuse a web request that asks for more than T2VZ_MAX_WORK megapixel-steps (frames x pixels x steps)."""
        limit = self.settings.work_limit
        work = frames * height * width * steps / 1e6
        if from_web() and limit and work > limit:
            raise InputError(
                f"This request is too large for this server: {frames} frames x {width}x{height} px x {steps:g} steps "
                f"= {work:,.0f} megapixel-steps, above its limit of {limit:,} (T2VZ_MAX_WORK). Use fewer frames, a "
                "lower resolution or fewer steps."
            )

    @staticmethod
    def _write(pipe, latents: torch.Tensor, path: Path, fps: float, watermark: str, beside=None) -> None:
        """Decode a few frames at a time and write them as they come: memory stays flat in the clip's length.

        `beside`: uint8 frames (e.g. the condition) shown to the left of the result, at the result's size. The
        file appears under `path` only once it is whole (see `VideoWriter`).
        """
        import numpy as np

        with VideoWriter(path, fps, watermark) as writer:
            start = 0
            for frames in pipe.decode_latents_iter(latents, DECODE_CHUNK_SIZE):
                check_cancelled()  # a stopped request writes nothing: the writer drops its partial file
                if beside is not None:
                    left = beside[start : start + len(frames)].astype(np.float32) / 255.0
                    frames = np.concatenate([left, frames], axis=2)
                    start += len(frames)
                writer.write(frames)
