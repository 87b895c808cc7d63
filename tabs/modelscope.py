"""The trained-video tab: video transformers (Wan, LTX-Video, CogVideoX, HunyuanVideo-1.5: `tabs.video_models`)
and, beside them, ModelScope / Zeroscope, with Zeroscope XL upscaling as a second step."""

from __future__ import annotations

from functools import partial

import gradio as gr

from catalogue import MODELSCOPE_SIZES, upscale_long_side
from model import Model
from modes import ModelScopeCall, UpscaleCall
from pipelines.modelscope import SCHEDULERS
from registry import Mode
from tabs.common import connect_generation, tab_examples
from tabs.controls import (
    as_playable,
    generate_buttons,
    output_section,
    page_helper,
    prompt_and_model,
    seed_controls,
    video_input,
)
from tabs.defaults import modelscope_defaults
from tabs.results import result_controls
from tabs.video_models import create_section
from utils.video import probe_video, shape_size

EXAMPLES = [
    "An astronaut riding a horse on the moon",
    "A panda eating bamboo on a rock",
    "Waves crashing on a rocky beach at sunset, drone shot",
    "A golden retriever running through a field of flowers",
]


def size_slider(label: str, settings, value: int) -> gr.Slider:
    return gr.Slider(label=label, minimum=64, maximum=settings.max_resolution, value=value, step=8)


def clip_controls(settings) -> dict[str, gr.components.Component]:
    """A new clip's options in view (frames and rate, size, steps and guidance, seed); the negative prompt and the
    scheduler in a closed section."""
    defaults = modelscope_defaults(settings)
    width, height = MODELSCOPE_SIZES.get(settings.default_modelscope_model, (256, 256))
    controls = {}
    with gr.Row():
        controls["num_frames"] = gr.Slider(
            label="Frames", minimum=1, maximum=settings.max_frames, value=defaults.num_frames, step=1
        )
        controls["fps"] = gr.Slider(
            label="Frames per second", minimum=1, maximum=30, value=ModelScopeCall.default("fps"), step=1
        )
    with gr.Row():
        controls["width"], controls["height"] = (
            size_slider("Width", settings, width),
            size_slider("Height", settings, height),
        )
    with gr.Row():
        controls["seed"], controls["randomize_seed"] = seed_controls(ModelScopeCall.default("seed"))
    with gr.Row():
        controls["num_inference_steps"] = gr.Slider(
            label="Denoising steps", minimum=1, maximum=100, value=defaults.num_inference_steps, step=1
        )
        controls["guidance_scale"] = gr.Slider(
            label="Guidance scale", minimum=0, maximum=20, value=ModelScopeCall.default("guidance_scale"), step=0.5
        )
    return controls


def clip_detail_section() -> dict[str, gr.components.Component]:
    with gr.Accordion("Negative prompt and scheduler", open=False):
        return {
            "negative_prompt": gr.Textbox(label="Negative prompt", value=""),
            "scheduler": gr.Dropdown(
                label="Scheduler", choices=list(SCHEDULERS), value=ModelScopeCall.default("scheduler")
            ),
        }


def upscale_controls(settings, mode: Mode) -> dict[str, gr.components.Component]:
    """The clip to upscale (this browser session's last result, or an upload) and the upscale's options."""
    gr.Markdown("**Upscale** a clip with Zeroscope XL: your last result, or a clip you upload.")
    # This browser session's own clip: filled from its last result (never another visitor's).
    controls = {"video_path": video_input("Clip to upscale", f"{mode.name}-clip")}
    controls["model_name"] = gr.Dropdown(
        label="Upscale model",
        choices=[settings.default_upscale_model],
        value=settings.default_upscale_model,
        allow_custom_value=True,
    )
    with gr.Row():
        controls["strength"] = gr.Slider(
            label="Upscale strength",
            info="How much to change the clip.",
            minimum=0.05,
            maximum=1.0,
            value=UpscaleCall.default("strength"),
            step=0.05,
        )
        controls["num_inference_steps"] = gr.Slider(
            label="Upscale steps", minimum=1, maximum=100, value=modelscope_defaults(settings).upscale_steps, step=1
        )
    with gr.Row():  # 0: from the clip's shape (a clip in the box sets them to that)
        controls["width"], controls["height"] = (
            gr.Slider(
                label=f"Upscale {side}", info=SHAPE_INFO, minimum=0, maximum=settings.max_resolution, value=0, step=8
            )
            for side in ("width", "height")
        )
    return controls


SHAPE_INFO = "0: from the clip's shape (a clip in the box sets it so)."


def clip_shape(path, model_name, settings):
    """The upscale's size sliders at the clip's shape, its long side the upscale model's own (nothing: no clip)."""
    if not isinstance(path, str) or not path:
        return gr.Slider(), gr.Slider()
    width, height = probe_video(path)["size"]
    long_side = min(upscale_long_side(model_name if isinstance(model_name, str) else ""), settings.max_resolution)
    fitted = shape_size(width, height, None, None, long_side)
    return gr.Slider(value=fitted[0]), gr.Slider(value=fitted[1])


def clip_of_result(path):
    """A new result becomes the clip to upscale; a GIF as a playable mp4 of its frames (the box plays only videos)."""
    if isinstance(path, str) and path.lower().endswith(".gif"):
        return as_playable(path)
    return path


def native_size(name: str):
    """The size sliders at a known model's own size."""
    size = MODELSCOPE_SIZES.get(name) if isinstance(name, str) else None
    return (gr.Slider(value=size[0]), gr.Slider(value=size[1])) if size else (gr.Slider(), gr.Slider())


def create_demo(model: Model, transformers: Mode, mode: Mode, upscale: Mode) -> gr.Blocks:
    with gr.Blocks() as demo:
        gr.Markdown("## Trained video models\nModels trained on video, beside the zero-shot tabs.")
        with gr.Tabs():
            with gr.Tab("Video transformers", id="transformers"):
                create_section(model, transformers)
            with gr.Tab("ModelScope / Zeroscope", id="modelscope"):
                modelscope_section(model, mode, upscale)
    return demo


def modelscope_section(model: Model, mode: Mode, upscale: Mode) -> None:
    settings = model.settings
    gr.Markdown(
        "Trained text-to-video models of 2023; upscale a clip with Zeroscope XL afterwards. (Token merging "
        "does not apply to their 3-D UNet.)"
    )
    with gr.Row():
        with gr.Column(elem_id=f"{mode.name}-controls"):
            prompt, model_name = prompt_and_model(
                mode.name, settings.modelscope_models, settings.default_modelscope_model
            )
            options = clip_controls(settings)
            run_button, stop_button = generate_buttons()
            options.update(clip_detail_section())
            output = output_section()
        with gr.Column():
            result, seed_used = result_controls("Generated video", f"{mode.name}-result")
            with gr.Group():
                upscaling = upscale_controls(settings, upscale)
                upscale_button, upscale_stop = generate_buttons("Upscale")
                upscaled = gr.Video(label="Upscaled video", autoplay=True, loop=True, interactive=False)

    tab_examples(model, mode, [[e] for e in EXAMPLES], {"prompt": prompt}, [result, seed_used])
    sizes = [options["width"], options["height"]]
    model_name.change(page_helper(native_size), [model_name], sizes, queue=False, api_visibility="private")
    randomize = options.pop("randomize_seed")
    # The endpoint's positional order, as published (new parameters go last: `tabs.common.ADDED_LATER`).
    order = ("negative_prompt", "num_frames", "num_inference_steps", "guidance_scale", "height", "width", "fps")
    controls = {
        "prompt": prompt,
        "model_name": model_name,
        **{name: options[name] for name in order},
        "seed": options["seed"],
        "scheduler": options["scheduler"],
        **output,
    }
    connect_generation(run_button.click, model, mode, controls, [result, seed_used], randomize, stop=stop_button)
    # A new result becomes this session's clip to upscale; a clip sets the upscale's size to its shape.
    private = {"queue": False, "api_visibility": "private"}
    result.change(page_helper(clip_of_result), [result], [upscaling["video_path"]], **private)
    clip, sizes = upscaling["video_path"], [upscaling["width"], upscaling["height"]]
    fit = page_helper(partial(clip_shape, settings=settings))
    clip.change(fit, [clip, upscaling["model_name"]], sizes, **private)
    shared = {name: controls[name] for name in ("guidance_scale", "negative_prompt", "seed", "scheduler")}
    upscale_inputs = {"video_path": upscaling["video_path"], "prompt": prompt, **upscaling, **shared}
    connect_generation(upscale_button.click, model, upscale, upscale_inputs, [upscaled], stop=upscale_stop)
