"""ModelScope / Zeroscope tab: trained text-to-video models, with Zeroscope XL upscaling as a second step."""

from __future__ import annotations

import gradio as gr

from catalogue import MODELSCOPE_SIZES
from model import Model
from modes import ModelScopeCall, UpscaleCall
from pipelines.modelscope import SCHEDULERS
from tabs.common import connect_generation, tab_examples
from tabs.controls import generate_buttons, output_controls, page_helper, seed_controls
from tabs.defaults import modelscope_defaults
from tabs.results import result_controls

EXAMPLES = [
    "An astronaut riding a horse on the moon",
    "A panda eating bamboo on a rock",
    "Waves crashing on a rocky beach at sunset, drone shot",
    "A golden retriever running through a field of flowers",
]


def create_demo(model: Model) -> gr.Blocks:
    settings = model.settings
    width0, height0 = MODELSCOPE_SIZES.get(settings.default_modelscope_model, (256, 256))
    up_width, up_height = MODELSCOPE_SIZES.get(settings.default_upscale_model, (1024, 576))
    with gr.Blocks() as demo:
        gr.Markdown(
            "## ModelScope / Zeroscope text-to-video\nTrained text-to-video models; upscale a clip with "
            "Zeroscope XL afterwards. (Token merging does not apply to their 3-D UNet.)"
        )
        with gr.Row():
            with gr.Column():
                prompt = gr.Textbox(label="Prompt", lines=2)
                model_name = gr.Dropdown(
                    label="Model (a Hugging Face id or a local diffusers folder)",
                    choices=list(settings.modelscope_models),
                    value=settings.default_modelscope_model,
                    allow_custom_value=True,
                    elem_id="modelscope-model",
                )
                run_button, stop_button = generate_buttons()
                with gr.Accordion("Advanced options", open=False):
                    negative_prompt = gr.Textbox(label="Negative prompt", value="")
                    with gr.Row():
                        num_frames = gr.Slider(
                            label="Frames",
                            minimum=1,
                            maximum=settings.max_frames,
                            value=modelscope_defaults(settings).num_frames,
                            step=1,
                        )
                        fps = gr.Slider(
                            label="Frames per second",
                            minimum=1,
                            maximum=30,
                            value=ModelScopeCall.default("fps"),
                            step=1,
                        )
                    with gr.Row():
                        width = gr.Slider(
                            label="Width", minimum=64, maximum=settings.max_resolution, value=width0, step=8
                        )
                        height = gr.Slider(
                            label="Height", minimum=64, maximum=settings.max_resolution, value=height0, step=8
                        )
                    with gr.Row():
                        num_steps = gr.Slider(
                            label="Denoising steps",
                            minimum=1,
                            maximum=100,
                            value=modelscope_defaults(settings).num_inference_steps,
                            step=1,
                        )
                        guidance = gr.Slider(
                            label="Guidance scale",
                            minimum=0,
                            maximum=20,
                            value=ModelScopeCall.default("guidance_scale"),
                            step=0.5,
                        )
                    with gr.Row():
                        seed, randomize = seed_controls(ModelScopeCall.default("seed"))
                        scheduler = gr.Dropdown(
                            label="Scheduler", choices=list(SCHEDULERS), value=ModelScopeCall.default("scheduler")
                        )
                    output = output_controls()
            with gr.Column():
                result, seed_used = result_controls("Generated video", "modelscope-result")
                with gr.Group():
                    gr.Markdown("**Upscale** a clip with Zeroscope XL: your last result, or a clip you upload.")
                    # This browser session's own clip: filled from its last result (never another visitor's).
                    clip = gr.Video(label="Clip to upscale", sources=["upload"], elem_id="modelscope-clip")
                    upscale_model = gr.Dropdown(
                        label="Upscale model",
                        choices=[settings.default_upscale_model],
                        value=settings.default_upscale_model,
                        allow_custom_value=True,
                    )
                    with gr.Row():
                        strength = gr.Slider(
                            label="Strength (how much to change the clip)",
                            minimum=0.05,
                            maximum=1.0,
                            value=UpscaleCall.default("strength"),
                            step=0.05,
                        )
                        up_steps = gr.Slider(
                            label="Steps",
                            minimum=1,
                            maximum=100,
                            value=modelscope_defaults(settings).upscale_steps,
                            step=1,
                        )
                    with gr.Row():
                        up_width = gr.Slider(
                            label="Width", minimum=64, maximum=settings.max_resolution, value=up_width, step=8
                        )
                        up_height = gr.Slider(
                            label="Height", minimum=64, maximum=settings.max_resolution, value=up_height, step=8
                        )
                    upscale_button, upscale_stop = generate_buttons("Upscale")
                    upscaled = gr.Video(label="Upscaled video", autoplay=True, loop=True, interactive=False)

        tab_examples(model, [[e] for e in EXAMPLES], {"prompt": prompt}, model.modelscope, [result, seed_used])

        def native_size(name: str):
            size = MODELSCOPE_SIZES.get(name) if isinstance(name, str) else None
            return (gr.Slider(value=size[0]), gr.Slider(value=size[1])) if size else (gr.Slider(), gr.Slider())

        model_name.change(
            page_helper(native_size), [model_name], [width, height], queue=False, api_visibility="private"
        )
        controls = {
            "prompt": prompt,
            "model_name": model_name,
            "negative_prompt": negative_prompt,
            "num_frames": num_frames,
            "num_inference_steps": num_steps,
            "guidance_scale": guidance,
            "height": height,
            "width": width,
            "fps": fps,
            "seed": seed,
            "scheduler": scheduler,
            **output,
        }
        connect_generation(
            run_button.click,
            model.modelscope,
            controls,
            [result, seed_used],
            "modelscope",
            randomize,
            settings=settings,
            stop=stop_button,
        )
        # A new result becomes this session's clip to upscale.
        result.change(lambda path: path, [result], [clip], queue=False, api_visibility="private")

        upscale_controls = {
            "video_path": clip,  # API clients send the clip itself; none gets "generate or upload a clip first"
            "prompt": prompt,
            "model_name": upscale_model,
            "strength": strength,
            "num_inference_steps": up_steps,
            "width": up_width,
            "height": up_height,
            "guidance_scale": guidance,
            "negative_prompt": negative_prompt,
            "seed": seed,
            "scheduler": scheduler,
        }
        connect_generation(
            upscale_button.click,
            model.modelscope_upscale,
            upscale_controls,
            [upscaled],
            "modelscope_upscale",
            settings=settings,
            stop=upscale_stop,
        )
    return demo
