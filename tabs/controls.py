"""The controls the tabs share, each named as the Model parameter it sets, and the speed preset that sets several."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from modes import (
    CONSISTENCY,
    LORA_WEIGHTS,
    MAX_CONTEXT,
    MAX_FEATURE_REUSE,
    MAX_MERGING_RATIO,
    MIN_CHUNK,
    ZERO_SHOT,
    Call,
    GuidedCall,
    SDCall,
    Text2VideoCall,
)
from pipelines.base import VP_NAMES
from pipelines.cross_frame_attention import CROSS_FRAME_MODES
from pipelines.token_merging import MAX_GLOBAL, MAX_LOCAL
from utils.video import MAX_SMOOTH_FPS

QUALITY_PRESET, FAST_PRESET = "Quality", "Fast (4-8 steps)"
# The coherence options every SD tab sends (in the endpoints' order; FreeInit is text-to-video's own).
COHERENCE_OPTIONS = ("flow_fusion", "frame_smoother", "vidtome_local", "vidtome_global")


def page_helper(fn: Callable) -> Callable:
    """A page-only helper (a control that sets others, a picture shown beside): a value it cannot take, which
    only a hand-made request sends, gets a message instead of an error Gradio shows as none."""

    @functools.wraps(fn)
    def helper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (TypeError, ValueError, KeyError, AttributeError, OSError, OverflowError) as error:
            raise gr.Error(f"This control cannot take that value ({type(error).__name__}): nothing changed.") from None

    return helper


def preset_control() -> gr.Radio:
    """The speed preset (page only: it sets other controls, see `connect_speed_preset`)."""
    return gr.Radio(
        label="Preset",
        info="Fast: the LCM scheduler, few steps, no guidance and, with hub models, the LCM-LoRA.",
        choices=[QUALITY_PRESET, FAST_PRESET],
        value=QUALITY_PRESET,
    )


def quality_values(steps: int, guidance: float, *timesteps: int | None) -> dict:
    """What the Quality preset sets the speed controls back to: the tab's own steps and guidance, no scheduler of
    its own, no LoRA, and (text-to-video) its t0/t1 (-1 for the method's own)."""
    values = {"scheduler": "default", "num_inference_steps": steps, "guidance_scale": guidance, "lora": ""}
    values["lora_weight"] = 1.0
    values.update({name: -1 if t is None else t for name, t in zip(("t0", "t1"), timesteps, strict=False)})
    return values


def scheduler_control(choices: tuple[str, ...] = VP_NAMES) -> gr.Dropdown:
    """The scheduler, named as the Model's parameter; "default": the model's own."""
    return gr.Dropdown(
        label="Scheduler",
        info="default: the model's own; lcm and tcd need a distillation LoRA such as LCM-LoRA.",
        choices=["default", *choices],
        value="default",
    )


def connect_speed_preset(
    preset: gr.Radio,
    settings,
    targets: dict[str, gr.components.Component],
    quality: dict,
    model_name: gr.components.Component | None = None,
) -> None:
    """Choosing a preset sets `targets` (scheduler, num_inference_steps, guidance_scale, lora, lora_weight, and t0/t1
    where given): Quality to the tab's `quality` values, Fast to the LCM scheduler, few steps, guidance 1 (off),
    the method's T/T' on that schedule and the base model's LCM-LoRA (`model_name`'s family; SD 1.x without one)."""
    names = list(targets)

    def choose(chosen: str, *model):
        base = model[0] if model else settings.default_sd_model
        fast = {
            "scheduler": "lcm",
            "num_inference_steps": settings.fast_steps,
            "guidance_scale": 1.0,
            "lora": settings.fast_lora(base),
            "lora_weight": 1.0,
            "t0": -1,
            "t1": -1,
        }
        values = fast if chosen == FAST_PRESET else quality
        return [gr.update(value=values[name]) if name in values else gr.update() for name in names]

    inputs = [preset] + ([model_name] if model_name is not None else [])
    preset.input(page_helper(choose), inputs, list(targets.values()), queue=False, api_visibility="private")


def generate_buttons(label: str = "Generate") -> tuple[gr.Button, gr.Button]:
    """The run button and, beside it, Stop: it ends the running generation within one denoising step (active only
    while one runs)."""
    with gr.Row():
        run = gr.Button(label, variant="primary", scale=3)
        stop = gr.Button("Stop", variant="stop", scale=1, interactive=False)
    return run, stop


def output_controls() -> dict[str, gr.components.Component]:
    """The file's format and an optional smoothing to a higher frame rate, named as the Model's parameters."""
    with gr.Row():
        return {
            "output_format": gr.Radio(label="Output format", choices=["mp4", "webm", "gif"], value="mp4"),
            "smooth_fps": gr.Slider(
                label="Smooth to fps",
                info="Motion interpolation to a higher frame rate; 0: off.",
                minimum=0,
                maximum=MAX_SMOOTH_FPS,
                value=Call.default("smooth_fps"),
                step=1,
            ),
        }


def video_input(label: str, elem_id: str, value: str | None = None) -> gr.Video:
    """A video to upload and, below it, a button that takes a GIF (the video box takes only video/* files, and the
    app's own GIF results must go back in as inputs): the GIF is put in the box as a playable mp4 of its frames."""
    # No `format`: Gradio would convert uploads with a system ffmpeg; load_video reads any format itself.
    video = gr.Video(label=label, sources=["upload"], value=value, elem_id=elem_id, height=320)
    gif = gr.UploadButton("Use a GIF", file_types=[".gif"], size="sm", elem_id=f"{elem_id}-gif")
    gif.upload(as_playable, gif, video, queue=False, api_visibility="private", show_progress="minimal")
    return video


def as_playable(path) -> str | None:
    """An uploaded GIF as an mp4 for a video box (`utils.video.playable_copy`), or a message naming the problem."""
    import tempfile

    from errors import InputError
    from utils.video import playable_copy

    if not isinstance(path, str) or not path:
        raise gr.Error("Upload a .gif file.")
    try:
        return str(playable_copy(path, tempfile.mkdtemp(prefix="t2vz-gif-")))
    except InputError as error:
        raise gr.Error(str(error)) from None


def seed_controls(default: int = 0) -> tuple[gr.Number, gr.Checkbox]:
    seed = gr.Number(label="Seed", value=default, precision=0, minimum=-1)
    randomize = gr.Checkbox(label="Randomize seed", value=False)
    return seed, randomize


def live_model_search(dropdown: gr.Dropdown, curated: list[str], models_root: Path, online: bool) -> None:
    """As the user types into a model dropdown, offer matching local folders and Hugging Face models."""
    from utils.model_list import model_choices

    def search(query: str):
        return gr.Dropdown(choices=model_choices(curated, models_root, query or "", online))

    dropdown.key_up(
        page_helper(search),
        [dropdown],
        [dropdown],
        queue=False,
        trigger_mode="always_last",
        api_visibility="private",
        show_progress="hidden",
    )


def model_info(models_root: Path) -> str:
    """The info line of a model field: what it takes, naming the models folder the web UI may read."""
    return f"A Hugging Face id, or a diffusers folder or .safetensors file in {Path(models_root).name}/."


def lora_controls() -> tuple[gr.Textbox, gr.Slider]:
    with gr.Row():
        lora = gr.Textbox(
            label="LoRA",
            info="Optional: a Hugging Face id or a .safetensors file in the models folder.",
            value="",
            scale=3,
        )
        low, high = LORA_WEIGHTS
        default = SDCall.default("lora_weight")
        weight = gr.Slider(label="LoRA weight", minimum=low, maximum=high, value=default, step=0.05, scale=1)
    return lora, weight


def chunking_controls(max_frames: int, chunk_size: int) -> dict[str, gr.components.Component]:
    """Chunk size and token merging, named as the Model's parameters."""
    with gr.Row():
        return {
            "chunk_size": gr.Slider(
                label="Chunk size",
                info="Frames per pass: lower uses less memory, same clip.",
                minimum=MIN_CHUNK,
                maximum=max_frames,
                value=chunk_size,
                step=1,
            ),
            "merging_ratio": gr.Slider(
                label="Token merging ratio",
                info="Faster, less detail.",
                minimum=0.0,
                maximum=MAX_MERGING_RATIO,
                value=SDCall.default("merging_ratio"),
                step=0.1,
            ),
        }


def cross_frame_control() -> gr.Radio:
    """What each frame attends to, named as the Model's parameter."""
    return gr.Radio(
        label="Cross-frame attention mode",
        info="What each frame attends to: anchor, the paper's (the first frame); sparse-causal, the first and the "
        "previous frame.",
        choices=list(CROSS_FRAME_MODES),
        value="anchor",
    )


def feature_reuse_control() -> gr.Slider:
    """Feature reuse, named as the Model's parameter (an endpoint's new parameters go after its older ones)."""
    return gr.Slider(
        label="Feature reuse",
        info="The UNet's deep blocks run every k steps and are reused between: faster; 1: exact.",
        minimum=1,
        maximum=MAX_FEATURE_REUSE,
        value=SDCall.default("feature_reuse"),
        step=1,
    )


def video_sampling_controls(max_frames: int, default_max: int, rate: tuple, size=None) -> dict:
    """How many frames of the input video, at what rate (`rate` = (parameter, label, minimum, value, info)), and,
    with `size` = (max_resolution, value), the frames' long side, named as the Model's parameters."""
    name, label, minimum, value, info = rate
    with gr.Row():
        controls = {
            "max_frames": gr.Slider(label="Max frames", minimum=1, maximum=max_frames, value=default_max, step=1),
            name: gr.Slider(label=label, info=info, minimum=minimum, maximum=30, value=value, step=1),
        }
        if size is not None:
            controls["resolution"] = gr.Slider(
                label="Resolution (long side)", minimum=64, maximum=size[0], value=size[1], step=8
            )
    return controls


def video_part_section() -> dict[str, gr.components.Component]:
    """The closed section of which part of the input video to use: start and end seconds."""
    with gr.Accordion("Part of the input video", open=False), gr.Row():
        return {
            "start_t": gr.Number(label="Start (s)", value=0, minimum=0),
            "end_t": gr.Number(label="End (s)", info="-1: to the end.", value=-1, minimum=-1),
        }


def prompt_detail_section(
    scheduler_choices: tuple[str, ...] = VP_NAMES, negative: bool = True
) -> dict[str, gr.components.Component]:
    """The closed section of what a clip rarely needs about its prompt and sampler: negative prompt (where the mode
    takes one), scheduler, LoRA."""
    title = "Negative prompt, scheduler and LoRA" if negative else "Scheduler and LoRA"
    with gr.Accordion(title, open=False):
        controls = {"n_prompt": gr.Textbox(label="Negative prompt", value="")} if negative else {}
        controls["scheduler"] = scheduler_control(scheduler_choices)
        controls["lora"], controls["lora_weight"] = lora_controls()
    return controls


def consistency_control() -> gr.Radio:
    """The consistency level, in view on every SD tab: it sets the coherence options of the "Consistency and
    memory" section (`connect_consistency`) and goes with the request (`modes.CONSISTENCY`)."""
    return gr.Radio(
        label="Consistency",
        info="Balanced: frames fused along the motion, smoothed and their tokens merged (VidToMe), at little "
        "cost; strong: more, and in text-to-video one more pass of the frames (about 2x the time).",
        choices=list(CONSISTENCY),
        value=SDCall.default("consistency"),
        elem_classes="t2vz-consistency",
    )


def coherence_controls() -> dict[str, gr.components.Component]:
    """The coherence options every SD mode has: flow-guided fusion and the interleaved-frame smoother."""
    off = CONSISTENCY["off"]
    with gr.Row():
        return {
            "flow_fusion": share_slider(
                "Flow fusion",
                "How far each frame is pulled toward the one before it, moved along the motion; 0: off.",
                off["flow_fusion"],
            ),
            "frame_smoother": gr.Checkbox(
                label="Interleaved-frame smoother",
                info="Every other frame made from its neighbours at two steps (ControlVideo).",
                value=off["frame_smoother"],
            ),
            "vidtome_local": share_slider(
                "Token merging across frames",
                "VidToMe: the share of tokens merged with their match in the window's middle frame; 0: off.",
                off["vidtome_local"],
                MAX_LOCAL,
            ),
            "vidtome_global": share_slider(
                "Global token merging",
                "VidToMe: the share merged with tokens carried from earlier frames; 0: off.",
                off["vidtome_global"],
                MAX_GLOBAL,
            ),
        }


def share_slider(label: str, info: str, value: float, maximum: float = 1.0) -> gr.Slider:
    """A coherence option's share, from 0 (off) to `maximum`."""
    return gr.Slider(label=label, info=info, minimum=0.0, maximum=maximum, value=value, step=0.05)


def connect_consistency(level: gr.Radio, controls: dict[str, gr.components.Component]) -> None:
    """Choosing a consistency level sets the section's coherence options (those of `controls` it names)."""
    targets = {name: controls[name] for name in CONSISTENCY["off"] if name in controls}

    def choose(chosen: str) -> list:
        return [gr.update(value=CONSISTENCY[chosen][name]) for name in targets]

    level.input(page_helper(choose), [level], list(targets.values()), queue=False, api_visibility="private")


def consistency_section(
    max_frames: int, chunk_size: int, more: Callable[[], dict] | None = None, motion: bool = False
) -> dict:
    """The closed section of how frames agree and what the memory holds: cross-frame mode, flow fusion and the
    frame smoother, the tab's `more` (e.g. background smoothing), token merging, feature reuse, chunk size; with
    `motion`, a motion module's long-clip options."""
    with gr.Accordion("Consistency and memory", open=False):
        controls = {"cross_frame": cross_frame_control()}
        controls.update(coherence_controls())
        controls.update(more() if more else {})
        controls.update(chunking_controls(max_frames, chunk_size))
        controls["feature_reuse"] = feature_reuse_control()
        controls.update(motion_window_controls() if motion else {})
    return controls


MOTION_WINDOWS = (
    "context_length",
    "context_stride",
    "context_scope",
    "split_inference",
)  # a motion module's long-clip options


def motion_window_controls() -> dict[str, gr.components.Component]:
    """A motion module's long clips: FreeNoise's window and stride, and split inference."""
    with gr.Row():
        return {
            "context_length": gr.Slider(
                label="Context length (motion module)",
                info="FreeNoise: frames the motion module sees at once; 0: the whole clip, or its adapter's length "
                "for longer clips.",
                minimum=0,
                maximum=MAX_CONTEXT,
                value=Text2VideoCall.default("context_length"),
                step=1,
            ),
            "context_stride": gr.Slider(
                label="Context stride (motion module)",
                info="Frames between FreeNoise's windows: smaller blends more, costs more.",
                minimum=1,
                maximum=16,
                value=Text2VideoCall.default("context_stride"),
                step=1,
            ),
            "context_scope": gr.Dropdown(
                label="Windows over (motion module)",
                info="The temporal layers (FreeNoise, as diffusers), or the whole UNet window by window: memory flat "
                "in the clip's length, each frame run once per window that holds it (length / stride times).",
                choices=[("temporal layers (FreeNoise)", "temporal"), ("the whole UNet (low memory)", "unet")],
                value=Text2VideoCall.default("context_scope"),
            ),
            "split_inference": gr.Checkbox(
                label="Split inference (motion module)",
                info="Run the motion UNet's layers on slices: less memory for long clips, the same clip.",
                value=Text2VideoCall.default("split_inference"),
            ),
        }


def output_section(more: Callable[[], dict] | None = None) -> dict:
    """The closed section of the file written: format, smoothing to a higher rate, and the tab's `more`."""
    with gr.Accordion("Output", open=False):
        controls = output_controls()
        controls.update(more() if more else {})
    return controls


def motion_source_control(settings, elem_id: str, also: str = "") -> gr.Dropdown:
    """Where the motion comes from: Text2Video-Zero's zero-shot motion, or an AnimateDiff motion adapter (a hub id
    or a folder, typed or picked). `also`: what else stops applying with an adapter, before "the zero-shot options"."""
    return gr.Dropdown(
        label="Motion source",
        info="Zero-shot: any SD model, no extra weights. A motion adapter (AnimateDiff): trained motion for SD 1.x "
        f"models (clips past the adapter's length go in FreeNoise windows; prompts may change at frames, "
        f"'0: a calm sea | 24: a storm'); {also}the zero-shot options then do not apply.",
        choices=[("zero-shot (Text2Video-Zero)", ZERO_SHOT), *((name, name) for name in settings.motion_adapters)],
        value=ZERO_SHOT,
        allow_custom_value=True,
        elem_id=elem_id,
    )


def motion_strength_control(elem_id: str) -> gr.Slider:
    """How much of the input video a motion-module clip may change: 1 starts from noise (the condition alone)."""
    return gr.Slider(
        label="Strength (motion module)",
        info="1: from noise, the condition alone shapes the clip; lower keeps more of the input video's look.",
        minimum=0.05,
        maximum=1.0,
        value=GuidedCall.default("strength"),
        step=0.05,
        elem_id=elem_id,
    )


def prompt_and_model(mode_name: str, models, default: str) -> tuple[gr.Textbox, gr.Dropdown]:
    """A tab's prompt and its model field: one of `models`, or any hub id or local folder typed in."""
    prompt = gr.Textbox(label="Prompt", lines=2)
    model_name = gr.Dropdown(
        label="Model",
        info="A Hugging Face id or a local diffusers folder.",
        choices=list(models),
        value=default,
        allow_custom_value=True,
        elem_id=f"{mode_name}-model",
    )
    return prompt, model_name
