"""The controls the tabs share, each named as the Model parameter it sets, and the speed preset that sets several."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from modes import LORA_WEIGHTS, MAX_FEATURE_REUSE, MAX_MERGING_RATIO, MIN_CHUNK, Call, SDCall
from pipelines.base import VP_NAMES
from pipelines.cross_frame_attention import CROSS_FRAME_MODES
from utils.video import MAX_SMOOTH_FPS

QUALITY_PRESET, FAST_PRESET = "Quality", "Fast (4-8 steps)"


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
        label="Preset (Fast: the LCM scheduler, few steps, no guidance and, with hub models, the LCM-LoRA)",
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
        label="Scheduler (default: the model's own; lcm and tcd need a distillation LoRA such as LCM-LoRA)",
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
                label="Smooth to fps (motion interpolation; 0 = off)",
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
    video = gr.Video(label=label, sources=["upload"], value=value, elem_id=elem_id)
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


def model_label(what: str, models_root: Path) -> str:
    """The label of a model field: what it takes, naming the models folder the web UI may read."""
    return f"{what} (a Hugging Face id, or a diffusers folder or .safetensors file in {Path(models_root).name}/)"


def size_and_steps_controls(max_resolution: int, resolution: int, steps: int) -> tuple[gr.Slider, gr.Slider]:
    """The video tabs' row of frame size (long side) and denoising steps."""
    with gr.Row():
        size = gr.Slider(label="Resolution (long side)", minimum=64, maximum=max_resolution, value=resolution, step=8)
        num_steps = gr.Slider(label="Denoising steps", minimum=1, maximum=100, value=steps, step=1)
    return size, num_steps


def lora_controls() -> tuple[gr.Textbox, gr.Slider]:
    with gr.Row():
        lora = gr.Textbox(
            label="LoRA (optional: a Hugging Face id or a .safetensors file in the models folder)", value="", scale=3
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
                label="Chunk size (frames per pass; lower uses less memory)",
                minimum=MIN_CHUNK,
                maximum=max_frames,
                value=chunk_size,
                step=1,
            ),
            "merging_ratio": gr.Slider(
                label="Token merging ratio (faster, less detail)",
                minimum=0.0,
                maximum=MAX_MERGING_RATIO,
                value=SDCall.default("merging_ratio"),
                step=0.1,
            ),
        }


def cross_frame_control() -> gr.Radio:
    """What each frame attends to, named as the Model's parameter."""
    return gr.Radio(
        label="Cross-frame attention (anchor: the paper's; sparse-causal: the anchor and the previous frame)",
        choices=list(CROSS_FRAME_MODES),
        value="anchor",
    )


def feature_reuse_control() -> gr.Slider:
    """Feature reuse, named as the Model's parameter (an endpoint's new parameters go after its older ones)."""
    return gr.Slider(
        label="Feature reuse (the UNet's deep blocks run every k steps, reused between: faster; 1 = exact)",
        minimum=1,
        maximum=MAX_FEATURE_REUSE,
        value=SDCall.default("feature_reuse"),
        step=1,
    )


def video_range_controls(max_frames: int, default_max: int, rate: tuple[str, str, int, float]):
    """Which part of the input video to use: start/end seconds, a frame rate (`rate` = (parameter, label,
    minimum, value)) and the most frames, named as the Model's parameters."""
    name, label, minimum, value = rate
    with gr.Row():
        controls = {
            "start_t": gr.Number(label="Start (s)", value=0, minimum=0),
            "end_t": gr.Number(label="End (s, -1 = to the end)", value=-1, minimum=-1),
        }
    with gr.Row():
        controls[name] = gr.Slider(label=label, minimum=minimum, maximum=30, value=value, step=1)
        controls["max_frames"] = gr.Slider(
            label="Max frames", minimum=1, maximum=max_frames, value=default_max, step=1
        )
    return controls
