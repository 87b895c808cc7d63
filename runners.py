"""How each mode runs: from its checked call (`modes`) to the latents of its clip, on the Model's loaded pipelines.

Each `run_*` takes the Model, the call and the request's rules (`utils.jobs.RequestRules`: what a web request may
ask) and returns the written clip through `Model.write_clip`, the one ending of every mode (the device held, the
video decoded and written with its card). The registry (`registry`) names the runner of each mode.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch

from catalogue import FEW_STEP_VIDEO_MODELS, upscale_long_side
from errors import InputError
from modes import (
    CannyCall,
    GuidedCall,
    ModelScopeCall,
    Pix2PixCall,
    PoseCall,
    Text2VideoCall,
    ThreeDCall,
    UpscaleCall,
    VideoModelCall,
)
from pipelines.motion_module import MotionSDXLPipeline, window_starts
from pipelines.options import fit_chunk
from pipelines.text_to_video_zero import image_tensor
from utils.jobs import RequestRules
from utils.prompt_travel import check_schedule_fits
from utils.video import load_video, shape_size

if TYPE_CHECKING:
    from model import GenerationResult, Model
    from registry import Mode


def generator(call) -> torch.Generator:
    """The call's seed as the pipelines take it (on the CPU: the same noise on every device)."""
    return torch.Generator("cpu").manual_seed(call.seed)


def sampling(model: Model, call: Text2VideoCall | GuidedCall | ThreeDCall) -> dict:
    """What a text-to-video pipeline call (zero-shot, motion module, ModelScope) takes from every call: steps,
    guidance, negative prompt and seed; and the latents back, with the Model's step callback (Stop, previews)."""
    return dict(
        num_inference_steps=call.num_inference_steps,
        guidance_scale=call.guidance_scale,
        negative_prompt=call.n_prompt,
        generator=generator(call),
        output_type="latent",
        callback_on_step_end=model.step_callback(),
    )


def clip_size(model: Model, pipe, call: Text2VideoCall) -> int:
    """The frame side: the call's, or the model's own (512 for SD 1.x, 768 for SD 2.x-v, 1024 for SDXL)."""
    return call.resolution or model.settings.own_resolution(pipe.unet.config.sample_size * pipe.vae_scale_factor)


def run_text2video(model: Model, mode: Mode, call: Text2VideoCall, rules: RequestRules) -> GenerationResult:
    """Zero-shot text-to-video (image-to-video with `image`); with a motion adapter, AnimateDiff's motion."""
    if call.motion_adapter:
        return run_motion_module(model, mode, call, rules)

    def run():
        pipe = model.text2video_pipeline(call.model_name, rules)
        pipe.set_scheduler(call.scheduler)
        model.apply_lora(pipe, call.lora, call.lora_weight, rules)
        resolution = clip_size(model, pipe, call)
        # FreeInit runs the steps from T again each iteration: counted as whole passes (a bound, not a guess).
        steps = call.num_inference_steps * (1 + call.free_init_iterations)
        model.check_work(call, rules, call.video_length, resolution, resolution, steps, call.fps)
        if call.image is not None:
            note_image_strength(pipe, call)
        latents = pipe(
            call.prompt,
            video_length=call.video_length,
            height=resolution,
            width=resolution,
            image=call.image,
            options=call.zero_shot(),
            **sampling(model, call),
        ).frames
        return pipe, latents, call.fps, None

    return model.write_clip(mode, "text-to-video", call, call.path, run, rules)


def run_motion_module(model: Model, mode: Mode, call: Text2VideoCall, rules: RequestRules) -> GenerationResult:
    """Text-to-video with a motion module: the SD base (and its LoRA) with the adapter's temporal layers; with an
    image, image-to-video through SparseCtrl (the image the keyframe at frame 0)."""

    def run():
        parts = dict(motion_lora=call.motion_lora, motion_lora_weight=call.motion_lora_weight)
        if call.image is not None:
            parts["sparse_control"] = call.sparse_control
        pipe = model.motion_pipeline(call.model_name, call.motion_adapter, call.lora, call.lora_weight, rules, **parts)
        pipe.set_scheduler(call.scheduler)
        motion = motion_options(pipe, call, call.video_length)
        resolution = clip_size(model, pipe, call)
        steps = call.num_inference_steps * (1 + call.free_init_iterations)  # FreeInit: whole passes
        steps *= window_passes(motion, call.video_length)
        model.check_work(call, rules, call.video_length, resolution, resolution, steps, call.fps)
        size = dict(num_frames=call.video_length, height=resolution, width=resolution)
        if call.image is not None:  # the first frame, cropped to the clip's shape
            keyframe = image_tensor(call.image, resolution, resolution, "cpu", torch.float32)
            size.update(
                keyframes=keyframe, keyframe_indices=[0], controlnet_conditioning_scale=call.sparse_control_scale
            )
        latents = pipe(
            **motion, **size, free_init_iterations=call.free_init_iterations, **sampling(model, call)
        ).frames
        return pipe, latents, call.fps, None

    return model.write_clip(mode, "text-to-video with a motion module", call, call.path, run, rules)


def note_image_strength(pipe, call: Text2VideoCall) -> None:
    """Say so where the image strength asked for takes effect as another (the image enters at a schedule step)."""
    options = call.zero_shot()
    used = pipe.image_strength_used(call.num_inference_steps, options.t0, options.t1, call.image_strength)
    if abs(used - call.image_strength) > 1e-6:
        call.notes.append(
            f"Image strength {call.image_strength:g} takes effect as {used:.2f}: the image enters at a step of the "
            f"schedule, so at {call.num_inference_steps} steps strengths between those steps give the same clip."
        )


def run_guided(model: Model, mode: Mode, call: GuidedCall, rules: RequestRules) -> GenerationResult:
    """Video in -> condition frames (the mode's condition, `annotate`) -> guided zero-shot video (or, with a motion
    adapter, AnimateDiff's motion guided by the same ControlNet)."""
    call.controlnet_name = call.controlnet_name or model.settings.controlnet_model(mode.condition)  # on the card
    clip = model.read_input_video(call.video_path, call.input_fps, call)
    frames, height, width = clip.frames.shape[:3]
    shown_width = width * (2 if call.show_condition else 1)  # the condition beside the result, when shown

    def check_work(passes: float = 1.0) -> None:  # passes: how often a step runs each frame (whole-UNet windows)
        steps = call.num_inference_steps * passes
        model.check_work(call, rules, frames, height, width, steps, clip.fps, shown_width)

    check_work()
    if call.motion_adapter:
        return run_guided_motion(model, mode, call, clip, rules, check_work)
    options = dataclasses.replace(call.zero_shot(), chunk_size=fit_chunk(call.chunk_size, frames, call.notes))

    def run():
        condition = annotate(model, mode.condition, call, clip.frames)
        pipe = model.controlnet_pipeline(call.model_name, call.controlnet_name, rules)
        pipe.set_scheduler(call.scheduler)
        model.apply_lora(pipe, call.lora, call.lora_weight, rules)
        latents = pipe(
            call.prompt,
            condition,
            num_inference_steps=call.num_inference_steps,
            guidance_scale=call.guidance_scale,
            negative_prompt=call.n_prompt,
            eta=call.eta,
            generator=generator(call),
            controlnet_conditioning_scale=call.controlnet_conditioning_scale,
            motion_frames=clip.frames,  # the flow the coherence options follow: the input's, not its condition's
            options=options,
            output_type="latent",
            callback_on_step_end=model.step_callback(),
        ).frames
        return pipe, latents, clip.fps, condition if call.show_condition else None

    return model.write_clip(mode, f"{mode.condition}-guided generation", call, call.path, run, rules)


def run_guided_motion(
    model: Model, mode: Mode, call: GuidedCall, clip, rules: RequestRules, check_work
) -> GenerationResult:
    """The guided modes with a motion module: the condition frames guide AnimateDiff's motion through the same
    ControlNet; with a strength below 1 the clip starts from the noised input video (video-to-video).
    `check_work(passes)`: the work bound again once the windows are known."""

    def run():
        pipe = model.motion_pipeline(
            call.model_name, call.motion_adapter, call.lora, call.lora_weight, rules, call.controlnet_name
        )
        pipe.set_scheduler(call.scheduler)
        motion = motion_options(pipe, call, len(clip.frames))
        if (passes := window_passes(motion, len(clip.frames))) > 1:  # the bound checked before counted one pass
            check_work(passes)
        condition = annotate(model, mode.condition, call, clip.frames)
        video = None if call.strength >= 1 else torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255
        latents = pipe(
            motion.pop("prompt"),
            condition,
            **motion,
            controlnet_conditioning_scale=call.controlnet_conditioning_scale,
            video=video,
            strength=call.strength,
            eta=call.eta,
            **sampling(model, call),
        ).frames
        return pipe, latents, clip.fps, condition if call.show_condition else None

    what = f"{mode.condition}-guided generation with a motion module"
    return model.write_clip(mode, what, call, call.path, run, rules)


def motion_options(pipe, call: Text2VideoCall | GuidedCall, frames: int) -> dict:
    """What a motion-module pipeline takes besides the clip: the prompt (keyframed ones as {frame: prompt}) and
    the windows. A clip longer than the adapter's length goes in windows of that length (said in a note); a window
    longer than it is refused."""
    most = pipe.unet.config.motion_max_seq_length
    keyframes = call.keyframes()
    check_schedule_fits(keyframes, frames)
    if keyframes and isinstance(pipe, MotionSDXLPipeline):
        raise InputError("Prompts that change at given frames are served for SD 1.x motion adapters: give one prompt.")
    length = call.context_length
    if length > most:
        raise InputError(
            f"Context length {length} is above what the motion adapter '{call.motion_adapter}' takes ({most} frames, "
            f"the length its temporal attention learned): use at most {most}."
        )
    if not length and frames > most:
        length = most
        call.notes.append(
            f"{frames} frames is above the motion adapter's {most}: FreeNoise windows of {most} frames, "
            f"{call.context_stride} apart, carry the motion through the clip (set Context length to choose)."
        )
    return dict(
        prompt=keyframes or call.prompt,
        context_length=length or None,
        context_stride=min(call.context_stride, length) if length else call.context_stride,
        context_scope=call.context_scope,
        split_inference=call.split_inference,
    )


def window_passes(motion: dict, frames: int) -> float:
    """How many times a step runs each frame through the UNet on average: once, or with whole-UNet windows as often
    as the windows overlap (the work bound counts it)."""
    length = motion["context_length"]
    if not length or motion["context_scope"] != "unet" or length >= frames:
        return 1.0
    return len(window_starts(frames, length, motion["context_stride"])) * length / frames


def annotate(model: Model, condition: str, call: GuidedCall, frames):
    """The condition frames of a guided call: Canny edges (its thresholds), depth or a skeleton drawing (the
    video's own, if it already is one)."""
    from annotators.canny import canny

    if isinstance(call, CannyCall):
        return canny(frames, call.low_threshold, call.high_threshold)
    if not isinstance(call, PoseCall):
        return model.annotator(condition)(frames)
    if call.is_skeleton:
        return frames
    skeletons = model.annotator(call.pose_detector)(frames)
    if not skeletons.any():  # all black: a silent, empty condition would guide nothing
        call.notes.append(
            f"No person was found in any frame by the {call.pose_detector} detector: the pose condition is "
            "empty. Try a video with a person in full view, or tick 'already a skeleton drawing' for one."
        )
    return skeletons


def run_pix2pix(model: Model, mode: Mode, call: Pix2PixCall, rules: RequestRules) -> GenerationResult:
    """Video Instruct-Pix2Pix: the video edited by the instruction."""
    clip = model.read_input_video(call.video_path, call.input_fps, call)
    frames, height, width = clip.frames.shape[:3]
    model.check_work(call, rules, frames, height, width, call.num_inference_steps, clip.fps)
    options = dataclasses.replace(call.zero_shot(), chunk_size=fit_chunk(call.chunk_size, frames, call.notes))

    def run():
        pipe = model.pix2pix_pipeline(call.model_name, rules)
        pipe.set_scheduler(call.scheduler)
        model.apply_lora(pipe, call.lora, call.lora_weight, rules)
        latents = pipe(
            call.prompt,
            clip.frames,
            num_inference_steps=call.num_inference_steps,
            guidance_scale=call.guidance_scale,
            image_guidance_scale=call.image_guidance_scale,
            shared_noise=call.shared_noise,
            negative_prompt=call.n_prompt,
            generator=generator(call),
            options=options,
            output_type="latent",
            callback_on_step_end=model.step_callback(),
        ).frames
        return pipe, latents, clip.fps, None

    return model.write_clip(mode, "video editing", call, call.path, run, rules)


def run_modelscope(model: Model, mode: Mode, call: ModelScopeCall, rules: RequestRules) -> GenerationResult:
    """ModelScope/Zeroscope text-to-video, at the model's own size unless the call names one."""

    def sizes(pipe) -> dict:
        native = pipe.unet.config.sample_size * pipe.vae_scale_factor
        height, width = call.height or native, call.width or native
        steps = call.num_inference_steps * (1 + call.free_init_iterations)  # FreeInit: whole passes
        model.check_work(call, rules, call.video_length, height, width, steps, call.fps)
        return {
            "num_frames": call.video_length,
            "height": height,
            "width": width,
            "free_init_iterations": call.free_init_iterations,
        }

    return run_three_d(model, mode, "ModelScope generation", call, call.fps, sizes, rules)


def run_upscale(model: Model, mode: Mode, call: UpscaleCall, rules: RequestRules) -> GenerationResult:
    """Zeroscope XL video-to-video on a clip (a ModelScope result, or any): the Model remembers no clip between
    requests, so one visitor's clip never reaches another."""
    long_side = min(upscale_long_side(call.model_name), model.settings.max_resolution)
    clip = load_video(
        call.video_path,
        max(call.width or 0, call.height or 0) or long_side,
        fps=call.input_fps,
        max_frames=model.settings.max_frames,
    )
    _, clip_height, clip_width, _ = clip.frames.shape
    call.width, call.height = shape_size(clip_width, clip_height, call.width, call.height, long_side)
    frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0
    frames = torch.nn.functional.interpolate(frames, size=(call.height, call.width), mode="bicubic").clamp(0, 1)
    call.notes += clip.notes
    steps = call.num_inference_steps * call.strength
    model.check_work(call, rules, len(frames), call.height, call.width, steps, clip.fps)
    inputs = {"video": frames, "strength": call.strength}
    return run_three_d(model, mode, "upscaling", call, clip.fps, lambda pipe: inputs, rules)


def run_three_d(model: Model, mode: Mode, label: str, call: ThreeDCall, fps: float, inputs, rules: RequestRules):
    """Load the ModelScope/Zeroscope model, set the call's scheduler and run it on `inputs(pipe)` (the sizes of a
    new clip, or a clip to upscale)."""

    def run():
        pipe = model.modelscope_pipeline(call.model_name, rules)
        pipe.set_scheduler(call.scheduler)
        latents = pipe(call.prompt, **sampling(model, call), **inputs(pipe)).frames
        return pipe, latents, fps, None

    return model.write_clip(mode, label, call, call.path, run, rules)


def run_video_model(model: Model, mode: Mode, call: VideoModelCall, rules: RequestRules) -> GenerationResult:
    """A trained video transformer's clip (`pipelines.video_models`): the family's defaults fill what the call
    leaves out, its shape rules round what it cannot take (with a note), then its diffusers pipeline denoises."""
    from PIL import Image

    from pipelines.video_families import check_image, fit_shape
    from pipelines.video_models import CleanEstimate, TrainedVideo, generate, shifted

    def run():
        pipe, family, image_mode = model.video_pipeline(call.model_name, call.image is not None, rules)
        check_image(family, image_mode, call.image is not None, call.model_name)
        steps, guidance = FEW_STEP_VIDEO_MODELS.get(call.model_name, (None, None))  # a distilled model's own
        call.num_inference_steps = call.num_inference_steps or steps
        call.guidance_scale = guidance if call.guidance_scale is None else call.guidance_scale
        limits = (model.settings.max_frames, model.settings.max_resolution)
        image = None if call.image is None else Image.fromarray(call.image)
        shape = fit_shape(pipe, family, call, call.notes, limits, image)
        call.video_length, call.height, call.width, call.fps = shape.frames, shape.height, shape.width, shape.fps
        call.num_inference_steps, call.guidance_scale = shape.steps, shape.guidance  # the card: the clip as made
        model.check_work(call, rules, shape.frames, shape.height, shape.width, shape.steps, shape.fps)
        model.apply_video_lora(pipe, family, call.lora, call.lora_weight, rules)
        sampling = dict(negative_prompt=call.n_prompt, generator=generator(call))
        sampling["callback_on_step_end"] = model.step_callback(CleanEstimate(family, shape), shape.steps)
        sampling["embeds_on"] = model.device if model.text_encoders_on_cpu else None
        with shifted(pipe, family, call.shift):
            latents = generate(pipe, family, call.prompt, shape, image, **sampling)
        return TrainedVideo(pipe, family), latents, shape.fps, None

    return model.write_clip(mode, f"{mode.label or 'trained video'} generation", call, call.path, run, rules)
