"""One call per mode, as data: every parameter with its default (the original Text2Video-Zero names), checked once.

`XCall.checked(settings, **given)` builds the call and checks every value before anything loads: each failure is an
`InputError` that names the parameter and what it takes. Values that the call adjusts (a chunk size above the clip)
are adjusted with a note for the user. The limits live here, and the tabs read their bounds from here.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from catalogue import MODELSCOPE_SIZES, POSE_DETECTORS
from errors import InputError
from pipelines.background import MASK_SOURCES
from pipelines.base import MAX_MERGING_RATIO, VP_NAMES
from pipelines.base import SCHEDULERS as ALL_SCHEDULERS
from pipelines.cross_frame_attention import CROSS_FRAME_MODES
from pipelines.free_init import MAX_FREE_INIT
from pipelines.instruct_pix2pix_video import MAX_IMAGE_GUIDANCE
from pipelines.modelscope import SCHEDULERS
from pipelines.motion_module import CONTEXT_SCOPES
from pipelines.options import MAX_ZOOM, ZeroShot, camera_path, check_t0_t1, fit_chunk
from pipelines.token_merging import MAX_GLOBAL, MAX_LOCAL
from settings import Settings
from utils.images import read_image
from utils.prompt_travel import check_schedule_fits, prompt_schedule
from utils.validation import as_file, as_flag, as_float, as_int, as_resolution, as_text, quote
from utils.video import MAX_SMOOTH_FPS, VIDEO_FORMATS

MAX_SEED = 2**63 - 1
MAX_STEPS = 500
MAX_FPS = 60
MAX_MOTION = 100.0
MAX_GUIDANCE = 50.0
MAX_CONTROLNET_SCALE = 5.0
LORA_WEIGHTS = (-2.0, 2.0)
MAX_SHIFT = 20.0  # flow-matching schedule shifts: Wan uses 3 (480p) to 5 (720p), HunyuanVideo-1.5 7
MIN_CHUNK = 2  # the anchor and at least one other frame per UNet pass
MAX_FEATURE_REUSE = 10
MAX_ROTATION = 45.0  # degrees per frame
# What motion-interpolating one output frame (smooth_fps) costs, in denoising steps of a frame of its size, for the
# work bound: ffmpeg's minterpolate (always on the CPU) took 0.23 s per output megapixel here
# (bench/bench_smoothing.py); an SD 1.5 step with guidance takes about 0.15 s per megapixel on a data-centre GPU in
# float16 (an estimate from published throughput, not measured here; the bench measures it with --device cuda). On
# a CPU a step costs far more, and this over-counts, on the safe side.
SMOOTHING_STEPS = 2
# "Consistency": what each level sets the coherence options to, where a call leaves them out (None); a value given
# explicitly wins. Measured (bench/coherence.py, bench/bench_real_size.py --cases 7): flow fusion and the smoother
# work on the clean estimates and cost no UNet pass; VidToMe's joint attention is quadratic in a window's merged
# tokens, so the local ratio stays high (0.9, VidToMe's own: 1.3 frames' worth of tokens per window of 4, cheaper
# than each frame reading the anchor) and a global ratio adds the carried tokens (0.8: VidToMe's); strong adds one
# FreeInit pass of the frames from T in text-to-video (about twice the time of off there).
CONSISTENCY = {
    "off": {"flow_fusion": 0.0, "frame_smoother": False, "vidtome_local": 0.0, "vidtome_global": 0.0},
    "balanced": {"flow_fusion": 0.5, "frame_smoother": True, "vidtome_local": 0.9, "vidtome_global": 0.0},
    "strong": {"flow_fusion": 0.8, "frame_smoother": True, "vidtome_local": 0.9, "vidtome_global": 0.8},
}
for _level, _free_init in zip(CONSISTENCY, (0, 0, 1), strict=True):  # text-to-video's FreeInit passes
    CONSISTENCY[_level]["free_init_iterations"] = _free_init

C = TypeVar("C", bound="Call")


def draw_seed(seed) -> int:
    """-1 draws a random seed; anything else must be a valid seed."""
    seed = as_int("seed", seed, -1, MAX_SEED)
    return secrets.randbelow(2**31) if seed == -1 else seed


def watermark_text(watermark) -> str:
    """The watermark to draw; None, "" and "None" (the original demo's choice) mean none."""
    return "" if watermark in (None, "None") else as_text("Watermark", watermark, required=False)


def check_work(
    limit: int, call: Call, frames: int, height: int, width: int, steps: float, fps: float, shown_width: int
) -> None:
    """Refuse a request that asks for more than `limit` megapixel-steps (T2VZ_MAX_WORK) in all: the denoising (frames
    x pixels x steps) and, where asked, the smoothing to a higher frame rate (its frames x the written pixels x
    `SMOOTHING_STEPS`); the message gives each stage's arithmetic."""
    stages = [(f"{frames} frames x {width}x{height} px x {steps:g} steps", frames * height * width * steps / 1e6)]
    if call.smooth_fps > fps:
        written = math.ceil(frames * call.smooth_fps / fps)
        stages.append(
            (
                f"smoothing to {call.smooth_fps:g} fps: {written} frames x {shown_width}x{height} px x "
                f"{SMOOTHING_STEPS} steps' worth",
                written * height * shown_width * SMOOTHING_STEPS / 1e6,
            )
        )
    work = sum(amount for _, amount in stages)
    if work > limit:
        fix = " or less smoothing (smooth_fps)" if len(stages) > 1 else ""
        raise InputError(
            f"This request is too large for this server: {' + '.join(text for text, _ in stages)} = {work:,.0f} "
            f"megapixel-steps, above its limit of {limit:,} (T2VZ_MAX_WORK). Use fewer frames, a lower resolution "
            f"or fewer steps{fix}."
        )


# One name per concept in every call (the Text2Video-Zero names): n_prompt, video_length (frames of a new clip),
# video_path (the input video), path (where the clip goes), input_fps (the rate an input video is read at, which the
# clip keeps). The other names, diffusers' and those some endpoints were published with, are accepted at the edge,
# here only: each is taken as the mode's own name where the mode has no parameter of its own by that name (`fps`
# is text-to-video's and ModelScope's own frame rate, and an input's rate elsewhere).
ALIASES = {
    "negative_prompt": ("n_prompt",),
    "num_frames": ("video_length",),
    "video": ("video_path",),
    "save_path": ("path",),
    "out_fps": ("input_fps",),
    "fps": ("input_fps",),
}


def picture_and_source(value) -> tuple[Any, Any]:
    """An input picture as an array, and what a card records it by: the file it came from, else the array."""
    source = value if isinstance(value, (str, Path)) and str(value).strip() else None
    picture = read_image(value)
    return picture, None if picture is None else source or picture


@dataclass
class Call:
    """What every mode's call has: the seed, the notes for the user, and the unknown-parameter check."""

    FILES: ClassVar[tuple[str, ...]] = ()  # the parameters that take an input file (a card names them by content)

    seed: Any = 0
    output_format: Any = None  # mp4, webm or gif; None: the path's own suffix, else mp4
    smooth_fps: Any = 0  # interpolate the clip up to this frame rate (motion-compensated); 0: off
    notes: list[str] = field(default_factory=list)

    @classmethod
    def checked(cls: type[C], settings: Settings, **given) -> C:
        known = {f.name for f in dataclasses.fields(cls)} - {"notes"}
        given = cls._own_names(given, known)
        unknown = sorted(set(given) - known)
        if unknown:
            raise InputError(
                f"Unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: this mode takes "
                f"{', '.join(sorted(known))}."
            )
        call = cls(**given)
        call.check(settings)
        return call

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of a parameter: the tabs and the settings' profiles start from it (one place for each)."""
        return next(f.default for f in dataclasses.fields(cls) if f.name == name)

    @classmethod
    def own_parameters(cls, given: dict) -> dict:
        """`given` with the other names of its parameters (`ALIASES`) taken as this call's own."""
        return cls._own_names(given, {f.name for f in dataclasses.fields(cls)} - {"notes"})

    @staticmethod
    def _own_names(given: dict, known: set[str]) -> dict:
        """`given` with aliases (see ALIASES) renamed to this mode's own names; both names at once is an error."""
        renamed = dict(given)
        for alias, names in ALIASES.items():
            own = next((name for name in names if name in known), None)
            if alias in given and alias not in known and own is not None:
                if own in given:
                    raise InputError(f"{alias} and {own} name the same parameter: give one of them.")
                renamed[own] = renamed.pop(alias)
        return renamed

    def input_files(self) -> dict[str, Any]:
        """The input files of the checked call, by parameter: the file each came from (a path), or, for a picture
        given as an array, the array. A card records them by content (`cards`)."""
        return {name: getattr(self, name) for name in self.FILES if getattr(self, name) is not None}

    def check(self, settings: Settings) -> None:
        self.seed = draw_seed(self.seed)
        if self.output_format is not None and self.output_format not in VIDEO_FORMATS:
            raise InputError(
                f"Output format must be one of {', '.join(VIDEO_FORMATS)}, got {quote(self.output_format)}."
            )
        self.smooth_fps = as_float("smooth_fps", self.smooth_fps, 0.0, MAX_SMOOTH_FPS)


@dataclass
class SDCall(Call):
    """What the Stable Diffusion modes share: prompts, steps, guidance, token merging, chunks, LoRA, watermark."""

    prompt: Any = None
    model_name: Any = None
    n_prompt: Any = ""
    num_inference_steps: Any = 50
    guidance_scale: Any = 7.5
    chunk_size: Any = 8
    merging_ratio: Any = 0.0
    use_cf_attn: Any = True
    watermark: Any = None
    lora: Any = None
    lora_weight: Any = 1.0
    scheduler: Any = None  # None: the model's own (DDIM for the zero-shot method); "lcm"/"tcd" for 4-8 steps
    feature_reuse: Any = 1  # k > 1: the UNet's deep blocks run every k steps, reused between (faster, not exact)
    cross_frame: Any = "anchor"  # what each frame attends to: the anchor, or the anchor and the previous frame
    consistency: Any = "off"  # off, balanced or strong: the coherence options below where they are left out
    flow_fusion: Any = None  # 0 to 1: each frame's clean estimate pulled toward its predecessor's along the flow
    frame_smoother: Any = None  # every other frame interpolated from its neighbours at two steps (ControlVideo)
    vidtome_local: Any = None  # VidToMe: the share of tokens merged across the frames of a window (0 to 0.9)
    vidtome_global: Any = None  # VidToMe: the share merged with the tokens carried from earlier windows (0 to 0.9)

    PROMPT_LABEL: ClassVar[str] = "Prompt"
    MIN_STEPS: ClassVar[int] = 1
    SCHEDULERS: ClassVar[tuple[str, ...]] = VP_NAMES  # the zero-shot method needs variance-preserving ones

    def keyframes(self) -> dict[int, str] | None:
        """The prompt's keyframes ({frame: prompt}) where it changes at given frames, else None (`prompt_travel`)."""
        return prompt_schedule(self.prompt)

    def zero_shot(self) -> ZeroShot:
        """The checked call's zero-shot options, as the one value the engine takes (`pipelines.options`)."""
        return ZeroShot.of(self)

    def check(self, settings: Settings) -> None:
        self.prompt = as_text(self.PROMPT_LABEL, self.prompt)
        self.n_prompt = as_text("Negative prompt", self.n_prompt, required=False)
        self.num_inference_steps = as_int("Steps", self.num_inference_steps, self.MIN_STEPS, MAX_STEPS)
        self.guidance_scale = as_float("Guidance scale", self.guidance_scale, 0.0, MAX_GUIDANCE)
        self.chunk_size = as_int("Chunk size", self.chunk_size, MIN_CHUNK)
        self.merging_ratio = as_float("Merging ratio", self.merging_ratio, 0.0, MAX_MERGING_RATIO)
        self.use_cf_attn = as_flag("use_cf_attn", self.use_cf_attn)
        self.watermark = watermark_text(self.watermark)
        self.lora = as_text("LoRA", self.lora, required=False)
        self.lora_weight = as_float("LoRA weight", self.lora_weight, *LORA_WEIGHTS)
        self.feature_reuse = as_int("Feature reuse", self.feature_reuse, 1, MAX_FEATURE_REUSE)
        if self.cross_frame not in CROSS_FRAME_MODES:
            raise InputError(
                f"Cross-frame attention must be one of {', '.join(CROSS_FRAME_MODES)}, got {quote(self.cross_frame)}."
            )
        if self.scheduler in (None, "", "default"):
            self.scheduler = None
        else:
            self.scheduler = _scheduler(self.scheduler, self.SCHEDULERS)
        self.check_consistency()
        super().check(settings)

    def check_consistency(self) -> None:
        """The consistency level, and the coherence options it sets where the call leaves them out."""
        if self.consistency not in CONSISTENCY:
            raise InputError(f"Consistency must be one of {', '.join(CONSISTENCY)}, got {quote(self.consistency)}.")
        for name, value in CONSISTENCY[self.consistency].items():
            if hasattr(self, name) and getattr(self, name) is None:
                setattr(self, name, value)
        self.flow_fusion = as_float("Flow fusion", self.flow_fusion, 0.0, 1.0)
        self.frame_smoother = as_flag("frame_smoother", self.frame_smoother)
        self.vidtome_local = as_float("VidToMe local ratio", self.vidtome_local, 0.0, MAX_LOCAL)
        self.vidtome_global = as_float("VidToMe global ratio", self.vidtome_global, 0.0, MAX_GLOBAL)


# The motion source "zero-shot" (Text2Video-Zero's motion field), and the options only it reads.
ZERO_SHOT = "zero-shot"
ZERO_SHOT_ONLY = (
    "motion_field_strength_x",
    "motion_field_strength_y",
    "motion_zoom",
    "motion_rotation",
    "motion_path",
    "use_motion_field",
    "t0",
    "t1",
    "use_cf_attn",
    "cross_frame",
    "merging_ratio",
    "feature_reuse",
    "smooth_bg",
    "flow_fusion",
    "frame_smoother",
    "vidtome_local",
    "vidtome_global",
    "image_strength",
)


MAX_CONTEXT = 64  # FreeNoise's window, at most (each adapter's own length is checked when it is loaded)
# The options only a motion module reads.
MOTION_ONLY = (
    "context_length",
    "context_stride",
    "context_scope",
    "split_inference",
    "strength",
    "motion_lora",
    "sparse_control",
)


def check_motion_source(call: Text2VideoCall | GuidedCall) -> bool:
    """Whether the call takes a motion adapter (`motion_adapter` None or "zero-shot": the zero-shot motion), with its
    options checked: FreeNoise's windows and prompt travel (`call.keyframes()`). With an adapter, the zero-shot
    options set away from their defaults are named in a note, as they do not apply; without one, the motion
    module's options are."""
    adapter = as_text("Motion adapter", call.motion_adapter, required=False)
    call.motion_adapter = None if adapter in ("", ZERO_SHOT) else adapter
    call.context_length = as_int("Context length", call.context_length, 0, MAX_CONTEXT)
    call.context_stride = as_int("Context stride", call.context_stride, 1, MAX_CONTEXT)
    if call.context_length and call.context_stride > call.context_length:
        raise InputError(
            f"Context stride {call.context_stride} is above the context length {call.context_length}: windows that "
            "far apart would leave frames out. Use a stride of at most the length (4 is FreeNoise's own)."
        )
    call.split_inference = as_flag("split_inference", call.split_inference)
    if call.context_scope not in CONTEXT_SCOPES:
        raise InputError(
            f"Context scope must be one of {', '.join(CONTEXT_SCOPES)} (FreeNoise's windows in the temporal layers, "
            f"or the whole UNet window by window), got {quote(call.context_scope)}."
        )
    keyframed = call.keyframes()
    if call.motion_adapter is None:
        if keyframed:
            raise InputError(
                "Prompts that change at given frames need a motion module: pick a motion adapter as the motion "
                "source, or give one prompt."
            )
        unused = [name for name in MOTION_ONLY if hasattr(call, name) and getattr(call, name) != call.default(name)]
        if unused:
            call.notes.append(f"These options apply with a motion module only, and were ignored: {', '.join(unused)}.")
        return False
    unused = [
        name for name in ZERO_SHOT_ONLY if hasattr(call, name) and getattr(call, name) != zero_shot_default(call, name)
    ]
    if unused:
        call.notes.append(f"With a motion module these zero-shot options do not apply: {', '.join(unused)}.")
    return True


def zero_shot_default(call: Call, name: str) -> Any:
    """What a zero-shot option is when nobody sets it: the "off" consistency level's, or the call's default."""
    level = CONSISTENCY["off"]
    return level[name] if name in level else call.default(name)


@dataclass
class Text2VideoCall(SDCall):
    """Zero-shot text-to-video. `t0`/`t1`: step indices of T' and T counted from the end of the schedule;
    `resolution` None: the model's own size; `path` None: a fresh file in the output folder."""

    MIN_STEPS: ClassVar[int] = 2  # the method needs T' below T
    FILES: ClassVar[tuple[str, ...]] = ("image",)

    motion_field_strength_x: Any = 12
    motion_field_strength_y: Any = 12
    t0: Any = None  # None (or -1): T' at timestep 881 of whatever schedule runs, the original t0=44 of 50 steps
    t1: Any = None  # None (or -1): T at timestep 941, the original t1=47 of 50 steps
    video_length: Any = 8
    resolution: Any = None
    fps: Any = 4
    use_motion_field: Any = True
    path: Any = None
    motion_zoom: Any = 0.0  # per frame: 0.02 = 2 % closer each frame, negative: away
    motion_rotation: Any = 0.0  # degrees per frame, counter-clockwise
    motion_path: Any = None  # per frame (dx, dy) in px of a 512-px frame, e.g. [[0, 0], [8, 0]] or "0,0; 8,0"
    image: Any = None  # image-to-video: the first frame (a file path, or an array / PIL image from Python)
    image_strength: Any = 0.3  # how far the model may move the anchor from the image (0 to 1)
    smooth_bg: Any = False  # pull every frame's background toward the anchor's
    smooth_bg_strength: Any = 0.4
    smooth_bg_mask: Any = "attention"  # the foreground: the UNet's cross-attention maps, or MediaPipe's "person"
    free_init_iterations: Any = None  # FreeInit: the all-frames phase again this many times (0: off)
    motion_adapter: Any = None  # the motion source: None for zero-shot, or an AnimateDiff motion adapter (id/folder)
    context_length: Any = 0  # FreeNoise: frames per window of the motion module (0: all; longer clips: its length)
    context_stride: Any = 4  # FreeNoise: frames between windows
    split_inference: Any = False  # the motion UNet's layers on slices of the batch: less memory, the same clip
    context_scope: Any = "temporal"  # the windows in the temporal layers (FreeNoise), or the whole UNet ("unet")
    motion_lora: Any = ""  # with a motion adapter: an AnimateDiff motion LoRA (a camera move), id or folder
    motion_lora_weight: Any = 1.0
    sparse_control: Any = ""  # with a motion adapter and an image: the SparseCtrl model ("": the settings' RGB one)
    sparse_control_scale: Any = 1.0  # how strongly the image steers the clip through SparseCtrl

    def check(self, settings: Settings) -> None:
        self.model_name = self.model_name or settings.default_sd_model
        super().check(settings)
        self.motion_lora = as_text("Motion LoRA", self.motion_lora, required=False)
        self.motion_lora_weight = as_float("Motion LoRA weight", self.motion_lora_weight, *LORA_WEIGHTS)
        self.video_length = as_int("Video length", self.video_length, 1, settings.max_frames)
        self.chunk_size = fit_chunk(self.chunk_size, self.video_length, self.notes)
        auto = (None, -1, "")
        if self.t0 in auto and self.t1 in auto:
            self.t0 = self.t1 = None
        else:  # the original's step indices of T' and T
            self.t0, self.t1 = as_int("t0", self.t0, 0), as_int("t1", self.t1, 0)
            check_t0_t1(self.t0, self.t1, self.num_inference_steps)
        motion = (-MAX_MOTION, MAX_MOTION)
        self.motion_field_strength_x = as_float("Motion strength x", self.motion_field_strength_x, *motion)
        self.motion_field_strength_y = as_float("Motion strength y", self.motion_field_strength_y, *motion)
        if self.resolution is not None:
            self.resolution = as_resolution("Resolution", self.resolution, settings.max_resolution)
        self.fps = as_float("fps", self.fps, 1, MAX_FPS)
        self.use_motion_field = as_flag("use_motion_field", self.use_motion_field)
        self.motion_zoom = as_float("Zoom per frame", self.motion_zoom, -MAX_ZOOM, MAX_ZOOM)
        self.motion_rotation = as_float("Rotation per frame", self.motion_rotation, -MAX_ROTATION, MAX_ROTATION)
        self.motion_path = camera_path(self.motion_path)
        self.image_strength = as_float("Image strength", self.image_strength, 0.0, 1.0)
        self.image, self.image_source = picture_and_source(self.image)
        self.smooth_bg = as_flag("smooth_bg", self.smooth_bg)
        self.smooth_bg_strength = as_float("Background smoothing strength", self.smooth_bg_strength, 0.0, 1.0)
        if self.smooth_bg_mask not in MASK_SOURCES:
            raise InputError(
                f"Background mask must be one of {', '.join(MASK_SOURCES)}, got {quote(self.smooth_bg_mask)}."
            )
        self.free_init_iterations = as_int("FreeInit iterations", self.free_init_iterations, 0, MAX_FREE_INIT)
        self.sparse_control = as_text("SparseCtrl model", self.sparse_control, required=False)
        self.sparse_control_scale = as_float("SparseCtrl scale", self.sparse_control_scale, 0.0, MAX_CONTROLNET_SCALE)
        if check_motion_source(self) and self.image is not None:
            self.sparse_control = self.sparse_control or settings.sparse_controls[0]  # on the card
        check_schedule_fits(self.keyframes(), self.video_length)

    def input_files(self) -> dict[str, Any]:
        return {} if self.image is None else {"image": self.image_source}


@dataclass
class VideoInputCall(SDCall):
    """The modes that read a video: which part of it, at what rate and size, at most how many frames."""

    resolution: Any = 512
    start_t: Any = 0.0
    end_t: Any = -1
    max_frames: Any = None
    video_path: Any = None
    path: Any = None

    FILES: ClassVar[tuple[str, ...]] = ("video_path",)

    def check(self, settings: Settings) -> None:
        self.video_path = as_file("Input video", self.video_path, required=False)
        super().check(settings)
        self.resolution = as_resolution("Resolution", self.resolution, settings.max_resolution)
        limit = settings.max_frames
        self.max_frames = as_int("Max frames", limit if self.max_frames is None else self.max_frames, 1, limit)


@dataclass
class GuidedCall(VideoInputCall):
    """A ControlNet-guided video (pose, edges, depth): the condition comes from `video_path`'s frames."""

    controlnet_name: Any = None
    num_inference_steps: Any = 20
    guidance_scale: Any = 9.0
    seed: Any = 42
    controlnet_conditioning_scale: Any = 1.0
    eta: Any = 0.0
    input_fps: Any = 4
    show_condition: Any = False
    motion_adapter: Any = None  # the motion source: None for zero-shot, or an AnimateDiff motion adapter (id/folder)
    strength: Any = 1.0  # with a motion adapter: below 1 the clip starts from the noised input video (its look kept)
    context_length: Any = 0  # FreeNoise: frames per window of the motion module (0: all; longer clips: its length)
    context_stride: Any = 4  # FreeNoise: frames between windows
    split_inference: Any = False  # the motion UNet's layers on slices of the batch: less memory, the same clip
    context_scope: Any = "temporal"  # the windows in the temporal layers (FreeNoise), or the whole UNet ("unet")

    def check(self, settings: Settings) -> None:
        self.model_name = self.model_name or settings.default_sd_model
        super().check(settings)
        self.controlnet_conditioning_scale = as_float(
            "ControlNet conditioning scale", self.controlnet_conditioning_scale, 0.0, MAX_CONTROLNET_SCALE
        )
        self.eta = as_float("eta", self.eta, 0.0, 1.0)
        self.show_condition = as_flag("show_condition", self.show_condition)
        self.strength = as_float("Strength", self.strength, 0.0, 1.0)
        if self.strength == 0:
            raise InputError("Strength must be above 0 (and at most 1): 0 would return the input video unchanged.")
        check_motion_source(self)


@dataclass
class CannyCall(GuidedCall):
    low_threshold: Any = 100
    high_threshold: Any = 200

    def check(self, settings: Settings) -> None:
        from annotators.canny import check_thresholds

        self.low_threshold, self.high_threshold = check_thresholds(self.low_threshold, self.high_threshold)
        super().check(settings)


@dataclass
class PoseCall(GuidedCall):
    """`is_skeleton`: the video already is an OpenPose skeleton drawing; `pose_detector` None: the configured one."""

    is_skeleton: Any = False
    pose_detector: Any = None

    def check(self, settings: Settings) -> None:
        self.is_skeleton = as_flag("is_skeleton", self.is_skeleton)
        self.pose_detector = self.pose_detector or settings.default_pose_detector
        if self.pose_detector not in POSE_DETECTORS:
            raise InputError(f"Pose detector must be 'openpose' or 'mediapipe', got {quote(self.pose_detector)}.")
        super().check(settings)


@dataclass
class Pix2PixCall(VideoInputCall):
    """Video Instruct-Pix2Pix: edit `video_path` by the instruction in `prompt`; `input_fps` -1: the input's rate."""

    PROMPT_LABEL: ClassVar[str] = "Instruction"
    SCHEDULERS: ClassVar[tuple[str, ...]] = tuple(ALL_SCHEDULERS)  # its own default: Euler ancestral

    image_guidance_scale: Any = 1.0
    input_fps: Any = -1
    shared_noise: Any = True  # one starting noise for every frame (steadier); False: per frame, as the original

    def check(self, settings: Settings) -> None:
        self.model_name = self.model_name or settings.default_pix2pix_model
        super().check(settings)
        self.scheduler = self.scheduler or "euler-a"  # the original demo's (the pipeline is kept between calls)
        self.shared_noise = as_flag("shared_noise", self.shared_noise)
        self.image_guidance_scale = as_float(
            "Image guidance scale", self.image_guidance_scale, 0.0, MAX_IMAGE_GUIDANCE
        )


def _size(name: str, value, default: int | None, settings: Settings) -> int | None:
    if value in (None, 0, ""):
        return default
    return as_resolution(name, value, settings.max_resolution, minimum=8)


def _scheduler(name, choices: tuple[str, ...] = SCHEDULERS) -> str:
    if name not in choices:
        raise InputError(f"Scheduler must be one of {', '.join(choices)}, got {quote(name)}.")
    return name


@dataclass
class ThreeDCall(Call):
    """What the ModelScope/Zeroscope calls (their 3-D UNet denoises every frame together) share."""

    prompt: Any = None
    model_name: Any = None
    n_prompt: Any = ""
    num_inference_steps: Any = 25
    guidance_scale: Any = 9.0
    scheduler: Any = "dpm++"
    path: Any = None

    def check(self, settings: Settings) -> None:
        self.prompt = as_text("Prompt", self.prompt)
        self.n_prompt = as_text("Negative prompt", self.n_prompt, required=False)
        self.num_inference_steps = as_int("Steps", self.num_inference_steps, 1, MAX_STEPS)
        self.guidance_scale = as_float("Guidance scale", self.guidance_scale, 0.0, MAX_GUIDANCE)
        self.scheduler = _scheduler(self.scheduler)
        super().check(settings)


@dataclass
class ModelScopeCall(ThreeDCall):
    """ModelScope/Zeroscope text-to-video; `height`/`width` None: the model's own size."""

    video_length: Any = 16
    height: Any = None
    width: Any = None
    fps: Any = 8
    free_init_iterations: Any = 0  # FreeInit: the whole sampling again this many times (0: off)

    def check(self, settings: Settings) -> None:
        super().check(settings)
        self.free_init_iterations = as_int("FreeInit iterations", self.free_init_iterations, 0, MAX_FREE_INIT)
        self.model_name = as_text("Model", self.model_name or settings.default_modelscope_model)
        self.video_length = as_int("Frames", self.video_length, 1, settings.max_frames)
        native = MODELSCOPE_SIZES.get(self.model_name)
        self.width = _size("Width", self.width, native[0] if native else None, settings)
        self.height = _size("Height", self.height, native[1] if native else None, settings)
        self.fps = as_float("fps", self.fps, 1, MAX_FPS)


@dataclass
class UpscaleCall(ThreeDCall):
    """Zeroscope XL video-to-video on `video_path` at width x height, keeping `1 - strength` of the clip;
    `input_fps` -1: the clip's own rate. A size left out follows the clip's shape: both out, the long side is the
    upscale model's own (`catalogue.upscale_long_side`)."""

    FILES: ClassVar[tuple[str, ...]] = ("video_path",)

    video_path: Any = None
    strength: Any = 0.6
    width: Any = None
    height: Any = None
    input_fps: Any = -1

    def check(self, settings: Settings) -> None:
        super().check(settings)
        self.model_name = as_text("Upscale model", self.model_name or settings.default_upscale_model)
        self.strength = as_float("Strength", self.strength, 0.0, 1.0)
        if self.strength == 0:
            raise InputError("Strength must be above 0 (and at most 1): 0 would return the clip unchanged.")
        self.width = _size("Width", self.width, None, settings)
        self.height = _size("Height", self.height, None, settings)
        if self.video_path in (None, ""):
            raise InputError(
                "No clip to upscale: generate a clip first (it fills the 'Clip to upscale' box) or upload one."
            )
        self.video_path = as_file("Clip to upscale", self.video_path)


@dataclass
class VideoModelCall(Call):
    """A trained video transformer's clip (Wan, LTX-Video, CogVideoX, HunyuanVideo-1.5: `pipelines.video_families`)
    from a prompt and, where the model takes one, a first frame (`image`). Frames, size, rate, steps and guidance left
    out (None or 0) are the model family's own (guidance: None or -1); the runner fills them in, so the card records
    the clip as made."""

    FILES: ClassVar[tuple[str, ...]] = ("image",)

    prompt: Any = None
    model_name: Any = None
    n_prompt: Any = ""
    image: Any = None  # image-to-video: the first frame (a file path, or an array / PIL image from Python)
    video_length: Any = None
    height: Any = None
    width: Any = None
    fps: Any = None
    num_inference_steps: Any = None
    guidance_scale: Any = None
    lora: Any = None  # a LoRA of the model's family (a step-distillation LoRA for few steps)
    lora_weight: Any = 1.0
    shift: Any = None  # the flow-matching schedule's shift (more: more steps at high noise); None or 0: the model's
    path: Any = None

    def check(self, settings: Settings) -> None:
        super().check(settings)
        self.prompt = as_text("Prompt", self.prompt)
        self.n_prompt = as_text("Negative prompt", self.n_prompt, required=False)
        self.model_name = as_text("Model", self.model_name or settings.default_video_model)
        unset = (None, 0, "")
        if self.video_length not in unset:
            self.video_length = as_int("Frames", self.video_length, 1, settings.max_frames)
        self.height = _size("Height", self.height, None, settings)
        self.width = _size("Width", self.width, None, settings)
        if self.fps not in unset:
            self.fps = as_float("fps", self.fps, 1, MAX_FPS)
        if self.num_inference_steps not in unset:
            self.num_inference_steps = as_int("Steps", self.num_inference_steps, 1, MAX_STEPS)
        if self.guidance_scale in ("", -1):  # the page's "the model's own"
            self.guidance_scale = None
        if self.guidance_scale is not None:
            self.guidance_scale = as_float("Guidance scale", self.guidance_scale, 0.0, MAX_GUIDANCE)
        self.lora = as_text("LoRA", self.lora, required=False)
        self.lora_weight = as_float("LoRA weight", self.lora_weight, *LORA_WEIGHTS)
        self.shift = None if self.shift in unset else as_float("Shift", self.shift, 0.1, MAX_SHIFT)
        self.image, self.image_source = picture_and_source(self.image)

    def input_files(self) -> dict[str, Any]:
        return {} if self.image is None else {"image": self.image_source}
