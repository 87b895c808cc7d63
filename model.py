"""The central `Model`: one `process_*` per mode over the checkpoints it loads (`loading.ModelLoader`).

Each mode checks its call before anything loads, then runs it on the device (one generation at a time, stoppable
once per step, running out of memory as a message) and writes the video. `process_*` return the written file's
path, the other public methods a `GenerationResult` with the seed used and notes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cards import MODES, Card, ClipFiles, InputFile, card_with_inputs, input_files, make_card
from errors import InputError, ModelLoadError, OutOfMemory
from loading import ModelLoader, free_memory
from modes import (
    Call,
    CannyCall,
    GuidedCall,
    ModelScopeCall,
    Pix2PixCall,
    PoseCall,
    Text2VideoCall,
    ThreeDCall,
    UpscaleCall,
    VideoInputCall,
    check_work,
    chunk_within,
)
from pipelines.preview import preview_image
from utils.jobs import check_cancelled, current_job, from_web, on_step
from utils.validation import as_text
from utils.video import VideoClip, VideoWriter, load_video, output_path

logger = logging.getLogger(__name__)

DECODE_CHUNK_SIZE = 2
VAE_TILING_FROM = 1024  # px: frames this large decode in tiles with T2VZ_VAE_TILING=auto


@dataclass
class GenerationResult:
    """A written video, the seed that made it and notes for the user (e.g. a clamped parameter)."""

    path: str
    seed: int
    notes: list[str] = field(default_factory=list)
    card: Card | None = None  # how it was made (`cards`)


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


class Model(ModelLoader):
    """One `process_*` per mode over the loaded checkpoints (`ModelLoader`): checks a call (`modes`), runs it on
    the device, writes the video. The parameters of each mode are the fields of its call in `modes`."""

    # ------------------------------------------------------------------------------------------- text-to-video
    def text2video(self, prompt: str | None = None, model_name: str | None = None, **options) -> GenerationResult:
        """Zero-shot text-to-video (parameters: `modes.Text2VideoCall`)."""
        call = Text2VideoCall.checked(self.settings, prompt=prompt, model_name=model_name, **options)

        def run():
            pipe = self.text2video_pipeline(call.model_name)
            pipe.set_scheduler(call.scheduler)
            self.apply_lora(pipe, call.lora, call.lora_weight)
            # The model's own size when none is asked: 512 for SD 1.x, 768 for SD 2.x-v, 1024 for SDXL.
            native = pipe.unet.config.sample_size * pipe.vae_scale_factor
            resolution = call.resolution or self.settings.own_resolution(native)
            self._check_work(call, call.video_length, resolution, resolution, call.num_inference_steps, call.fps)
            latents = pipe(
                call.prompt,
                video_length=call.video_length,
                height=resolution,
                width=resolution,
                num_inference_steps=call.num_inference_steps,
                guidance_scale=call.guidance_scale,
                negative_prompt=call.n_prompt,
                generator=torch.Generator("cpu").manual_seed(call.seed),
                motion_field_strength_x=call.motion_field_strength_x,
                motion_field_strength_y=call.motion_field_strength_y,
                t0=call.t0,
                t1=call.t1,
                chunk_size=call.chunk_size,
                merging_ratio=call.merging_ratio,
                use_cf_attn=call.use_cf_attn,
                use_motion_field=call.use_motion_field,
                motion_zoom=call.motion_zoom,
                motion_rotation=call.motion_rotation,
                motion_path=call.motion_path,
                image=call.image,
                image_strength=call.image_strength,
                smooth_bg=call.smooth_bg,
                smooth_bg_strength=call.smooth_bg_strength,
                smooth_bg_mask=call.smooth_bg_mask,
                feature_reuse=call.feature_reuse,
                cross_frame=call.cross_frame,
                output_type="latent",
                callback_on_step_end=self._step_callback(),
            ).frames
            return pipe, latents, call.fps, None

        return self._generate("text-to-video", call, call.path, run)

    def process_text2video(self, prompt: str | None = None, model_name: str | None = None, **kwargs) -> str:
        """Generate a video from a prompt and return the path of the written file (see `text2video`)."""
        return self.text2video(prompt, model_name, **kwargs).path

    # -------------------------------------------------------------------------------------------------- guided
    def _guided(self, mode: str, call: GuidedCall, annotate) -> GenerationResult:
        """Video in -> condition frames (`annotate`) -> guided zero-shot video."""
        call.controlnet_name = call.controlnet_name or self.settings.controlnet_model(mode)  # the card records it
        clip = self._video_input(call.video_path, call.resolution, call.start_t, call.end_t, call.input_fps, call)
        frames, height, width = clip.frames.shape[:3]
        shown_width = width * (2 if call.show_condition else 1)  # the condition beside the result, when shown
        self._check_work(call, frames, height, width, call.num_inference_steps, clip.fps, shown_width)
        chunk_size = chunk_within(call.chunk_size, len(clip.frames), call.notes)

        def run():
            condition = annotate(clip.frames)
            pipe = self.controlnet_pipeline(call.model_name, call.controlnet_name)
            pipe.set_scheduler(call.scheduler)
            self.apply_lora(pipe, call.lora, call.lora_weight)
            latents = pipe(
                call.prompt,
                condition,
                num_inference_steps=call.num_inference_steps,
                guidance_scale=call.guidance_scale,
                negative_prompt=call.n_prompt,
                eta=call.eta,
                generator=torch.Generator("cpu").manual_seed(call.seed),
                controlnet_conditioning_scale=call.controlnet_conditioning_scale,
                chunk_size=chunk_size,
                merging_ratio=call.merging_ratio,
                use_cf_attn=call.use_cf_attn,
                feature_reuse=call.feature_reuse,
                cross_frame=call.cross_frame,
                output_type="latent",
                callback_on_step_end=self._step_callback(),
            ).frames
            return pipe, latents, clip.fps, condition if call.show_condition else None

        return self._generate(f"{mode}-guided generation", call, call.save_path, run)

    def controlnet_pose(self, video_path=None, prompt: str | None = None, **options) -> GenerationResult:
        """Pose-guided video (parameters: `modes.PoseCall`)."""
        call = PoseCall.checked(self.settings, video_path=video_path, prompt=prompt, **options)

        def annotate(frames):
            if call.is_skeleton:
                return frames
            skeletons = self.annotator(call.pose_detector)(frames)
            if not skeletons.any():  # all black: a silent, empty condition would guide nothing
                call.notes.append(
                    f"No person was found in any frame by the {call.pose_detector} detector: the pose condition is "
                    "empty. Try a video with a person in full view, or tick 'already a skeleton drawing' for one."
                )
            return skeletons

        return self._guided("pose", call, annotate)

    def controlnet_canny(self, video_path=None, prompt: str | None = None, **options) -> GenerationResult:
        """Edge-guided video, the Canny edges of the input (parameters: `modes.CannyCall`)."""
        from annotators.canny import canny

        call = CannyCall.checked(self.settings, video_path=video_path, prompt=prompt, **options)
        return self._guided("canny", call, lambda frames: canny(frames, call.low_threshold, call.high_threshold))

    def controlnet_canny_db(
        self, db_path: str | None = None, video_path=None, prompt: str | None = None, **options
    ) -> GenerationResult:
        """Edge-guided video on a DreamBooth base (`db_path`: hub id or local folder)."""
        return self.controlnet_canny(video_path, prompt, model_name=as_text("DreamBooth model", db_path), **options)

    def controlnet_depth(self, video_path=None, prompt: str | None = None, **options) -> GenerationResult:
        """Depth-guided video, the MiDaS depth of the input (parameters: `modes.GuidedCall`)."""
        call = GuidedCall.checked(self.settings, video_path=video_path, prompt=prompt, **options)
        return self._guided("depth", call, lambda frames: self.annotator("depth")(frames))

    def process_controlnet_pose(self, video_path=None, prompt: str | None = None, **kwargs) -> str:
        return self.controlnet_pose(video_path, prompt, **kwargs).path

    def process_controlnet_canny(self, video_path=None, prompt: str | None = None, **kwargs) -> str:
        return self.controlnet_canny(video_path, prompt, **kwargs).path

    def process_controlnet_canny_db(
        self, db_path: str | None = None, video_path=None, prompt: str | None = None, **kwargs
    ) -> str:
        return self.controlnet_canny_db(db_path, video_path, prompt, **kwargs).path

    def process_controlnet_depth(self, video_path=None, prompt: str | None = None, **kwargs) -> str:
        return self.controlnet_depth(video_path, prompt, **kwargs).path

    # ------------------------------------------------------------------------------------------------- pix2pix
    def pix2pix(self, video=None, prompt: str | None = None, **options) -> GenerationResult:
        """Edit a video by an instruction ("make it night"); parameters: `modes.Pix2PixCall`."""
        call = Pix2PixCall.checked(self.settings, video=video, prompt=prompt, **options)
        clip = self._video_input(call.video, call.resolution, call.start_t, call.end_t, call.out_fps, call)
        frames, height, width = clip.frames.shape[:3]
        self._check_work(call, frames, height, width, call.num_inference_steps, clip.fps)
        chunk_size = chunk_within(call.chunk_size, len(clip.frames), call.notes)

        def run():
            pipe = self.pix2pix_pipeline(call.model_name)
            pipe.set_scheduler(call.scheduler)
            self.apply_lora(pipe, call.lora, call.lora_weight)
            latents = pipe(
                call.prompt,
                clip.frames,
                num_inference_steps=call.num_inference_steps,
                guidance_scale=call.guidance_scale,
                image_guidance_scale=call.image_guidance_scale,
                shared_noise=call.shared_noise,
                negative_prompt=call.n_prompt,
                generator=torch.Generator("cpu").manual_seed(call.seed),
                chunk_size=chunk_size,
                merging_ratio=call.merging_ratio,
                use_cf_attn=call.use_cf_attn,
                feature_reuse=call.feature_reuse,
                cross_frame=call.cross_frame,
                output_type="latent",
                callback_on_step_end=self._step_callback(),
            ).frames
            return pipe, latents, clip.fps, None

        return self._generate("video editing", call, call.save_path, run)

    def process_pix2pix(self, video=None, prompt: str | None = None, **kwargs) -> str:
        """Edit a video by an instruction and return the path of the edited video (see `pix2pix`)."""
        return self.pix2pix(video, prompt, **kwargs).path

    # ---------------------------------------------------------------------------------------------- modelscope
    def modelscope(self, prompt: str | None = None, **options) -> GenerationResult:
        """ModelScope/Zeroscope text-to-video (parameters: `modes.ModelScopeCall`)."""
        call = ModelScopeCall.checked(self.settings, prompt=prompt, **options)

        def sizes(pipe) -> dict:
            native = pipe.unet.config.sample_size * pipe.vae_scale_factor
            height, width = call.height or native, call.width or native
            self._check_work(call, call.num_frames, height, width, call.num_inference_steps, call.fps)
            return {"num_frames": call.num_frames, "height": height, "width": width}

        return self._modelscope("ModelScope generation", call, call.fps, sizes)

    def modelscope_upscale(self, video_path=None, prompt: str = "", **options) -> GenerationResult:
        """Zeroscope XL video-to-video on a clip, e.g. a ModelScope result (parameters: `modes.UpscaleCall`). The
        Model remembers no clip between requests: one visitor's clip never reaches another."""
        call = UpscaleCall.checked(self.settings, video_path=video_path, prompt=prompt, **options)
        clip = load_video(
            call.video_path, max(call.width, call.height), fps=call.fps, max_frames=self.settings.max_frames
        )
        frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0
        frames = torch.nn.functional.interpolate(frames, size=(call.height, call.width), mode="bicubic").clamp(0, 1)
        call.notes += clip.notes
        self._check_work(
            call, len(frames), call.height, call.width, call.num_inference_steps * call.strength, clip.fps
        )
        return self._modelscope("upscaling", call, clip.fps, lambda pipe: {"video": frames, "strength": call.strength})

    def _modelscope(self, mode: str, call: ThreeDCall, fps: float, inputs) -> GenerationResult:
        """Load the ModelScope/Zeroscope model, set the call's scheduler and run it on `inputs(pipe)` (the sizes of a
        new clip, or a clip to upscale)."""

        def run():
            pipe = self.modelscope_pipeline(call.model_name)
            pipe.set_scheduler(call.scheduler)
            latents = pipe(
                call.prompt,
                num_inference_steps=call.num_inference_steps,
                guidance_scale=call.guidance_scale,
                negative_prompt=call.negative_prompt,
                generator=torch.Generator("cpu").manual_seed(call.seed),
                output_type="latent",
                callback_on_step_end=self._step_callback(),
                **inputs(pipe),
            ).frames
            return pipe, latents, fps, None

        return self._generate(mode, call, call.path, run)

    def process_modelscope(self, prompt: str | None = None, **kwargs) -> str:
        """ModelScope/Zeroscope text-to-video; returns the path of the written video (see `modelscope`)."""
        return self.modelscope(prompt, **kwargs).path

    def process_modelscope_upscale(self, video_path=None, prompt: str = "", **kwargs) -> str:
        """Upscale a clip (e.g. a ModelScope result) with Zeroscope XL; returns the new video's path."""
        return self.modelscope_upscale(video_path, prompt, **kwargs).path

    # ---------------------------------------------------------------------------------------------- generating
    def _generate(self, mode: str, call: Call, path, run) -> GenerationResult:
        """The end of every mode: a checked output path, then, holding the device, `run()` -> (pipeline, latents,
        fps, frames to show beside or None) and the written video, its generation card in its metadata and beside
        it (`cards`)."""
        path = output_path(path, self.settings.output_dir, self.settings.output_ttl_hours * 3600, call.output_format)
        with self._generating(mode):
            pipe, latents, fps, beside = run()
            inputs = input_files(call)
            card = self._card(call, pipe, path, inputs)
            metadata = {"comment": card.model_dump_json()}
            writer = VideoWriter(path, fps, getattr(call, "watermark", ""), call.smooth_fps, metadata)
            self._tile_vae(pipe, latents)
            companions = ClipFiles(path, card, inputs)  # the card and the inputs: written with the video, or not
            companions.stage()
            try:
                self._write(pipe, latents, writer, beside)
            except BaseException:
                companions.discard()
                raise
            companions.commit()
        logger.info("Wrote %s (%s, seed %d)", path, mode, call.seed)
        return GenerationResult(path=str(path), seed=call.seed, notes=list(call.notes), card=card)

    def _card(self, call: Call, pipe, path, inputs: dict[str, InputFile]) -> Card:
        """The call's generation card: its parameters, and the models it used with their revisions."""
        roles = {"model": getattr(call, "model_name", None), "controlnet": getattr(call, "controlnet_name", None)}
        roles["lora"] = getattr(call, "lora", None)
        models = {}
        for role, name in roles.items():
            if name:
                with contextlib.suppress(InputError, ModelLoadError):
                    models[role] = self.resolve_model_name(name)
        card = make_card(call.MODE, call, models, type(pipe.scheduler).__name__, Path(path), inputs)
        for role, name in roles.items():  # the names as given (a hub id, an alias), revisions of what they named
            if role in card.models and name:
                card.models[role].name = str(name)
        return card

    def run_card(self, source, path=None, inputs=None) -> GenerationResult:
        """Make a clip again from its generation card: a `Card`, a dict, a card file (.json) or a video made here.
        `path`: where to write (default: a new file in the output folder); `inputs`: a folder (or several) holding
        the input files the card names, when they are not beside the card."""
        card, parameters = card_with_inputs(source, inputs)
        return getattr(self, MODES[card.mode])(**parameters, path=path)

    def _video_input(self, video, resolution: int, start_t, end_t, fps, call: VideoInputCall) -> VideoClip:
        """Read the frames of an input video (at most the call's `max_frames`); its notes go to the call."""
        clip = load_video(video, resolution, start_t, end_t, fps, call.max_frames)
        call.notes += clip.notes
        return clip

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

    def _step_callback(self):
        """The denoising loop's step callback: stop within one step of a cancellation and, for a job that shows
        previews (the page), send a picture of the first frames at step 0 and every T2VZ_PREVIEW_EVERY steps."""
        job, every = current_job(), self.settings.preview_every
        if job is None or job.preview is None or not every:
            return on_step
        show = job.preview

        def callback(pipe, step: int, timestep: int, tensors: dict) -> dict:
            tensors = on_step(pipe, step, timestep, tensors)
            if step % every == 0 and tensors.get("denoised") is not None:
                sdxl = getattr(pipe.unet.config, "addition_embed_type", None) == "text_time"
                show(preview_image(tensors["denoised"], self.preview_decoder(), sdxl))
            return tensors

        return callback

    def _check_work(self, call: Call, frames: int, height: int, width: int, steps: float, fps: float, shown_width=0):
        """Refuse a web request that asks for more than T2VZ_MAX_WORK megapixel-steps (`modes.check_work`)."""
        if from_web() and self.settings.work_limit:
            check_work(self.settings.work_limit, call, frames, height, width, steps, fps, shown_width or width)

    def _tile_vae(self, pipe, latents: torch.Tensor) -> None:
        """Decode in overlapping tiles where T2VZ_VAE_TILING says so (auto: frames of 1024 px and more, such as
        SDXL's, whose full-frame decoding needs several GB at once)."""
        side = max(latents.shape[-2:]) * pipe.vae_scale_factor
        tiling = self.settings.vae_tiling
        if tiling == "on" or (tiling == "auto" and side >= VAE_TILING_FROM):
            pipe.vae.enable_tiling()
        else:
            pipe.vae.disable_tiling()

    @staticmethod
    def _write(pipe, latents: torch.Tensor, writer: VideoWriter, beside=None) -> None:
        """Decode a few frames at a time and write them as they come: memory stays flat in the clip's length.
        `beside`: uint8 frames (e.g. the condition) shown left of the result. See `VideoWriter` for whole files."""
        import numpy as np
        from tqdm.auto import tqdm

        # A second phase on the page's progress bar (Gradio tracks tqdm): decoding and writing long clips takes time.
        with writer, tqdm(total=len(latents), desc="Writing the video", unit="frames") as bar:
            start = 0
            for frames in pipe.decode_latents_iter(latents, DECODE_CHUNK_SIZE):
                check_cancelled()  # a stopped request writes nothing: the writer drops its partial file
                if beside is not None:
                    left = beside[start : start + len(frames)].astype(np.float32) / 255.0
                    frames = np.concatenate([left, frames], axis=2)
                    start += len(frames)
                writer.write(frames)
                bar.update(len(frames))
