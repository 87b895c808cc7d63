"""Video Instruct-Pix2Pix tab: edit a video by an instruction."""

from __future__ import annotations

import gradio as gr

from model import Model
from modes import Pix2PixCall
from pipelines.base import SCHEDULERS
from registry import Mode
from tabs.common import connect_generation, tab_examples
from tabs.controls import (
    chunking_controls,
    cross_frame_control,
    feature_reuse_control,
    generate_buttons,
    lora_controls,
    model_label,
    output_controls,
    scheduler_control,
    seed_controls,
    size_and_steps_controls,
    video_input,
    video_range_controls,
)
from tabs.defaults import guided_defaults, pix2pix_model_choices
from tabs.guided import example
from tabs.results import result_controls

EXAMPLES = [
    [example("cat_zoom.mp4"), "make it Van Gogh Starry Night style"],
    [example("coffee_pan.mp4"), "make it night"],
    [example("astronaut_pan.mp4"), "turn her into a marble statue"],
    [example("rocket_zoom.mp4"), "make it snow"],
]


def create_demo(model: Model, mode: Mode) -> gr.Blocks:
    settings = model.settings
    d = guided_defaults(settings)
    with gr.Blocks() as demo:
        gr.Markdown(
            '## Video Instruct-Pix2Pix\nTell the video what to become ("make it night"); every frame is edited the '
            "same way."
        )
        with gr.Row():
            with gr.Column():
                video = video_input("Input video", f"{mode.name}-video", EXAMPLES[0][0])
                prompt = gr.Textbox(label="Instruction", lines=2, placeholder="make it Van Gogh Starry Night style")
                run_button, stop_button = generate_buttons("Edit")
                with gr.Accordion("Advanced options", open=False):
                    scheduler = scheduler_control(tuple(SCHEDULERS))
                    model_name = gr.Dropdown(
                        label=model_label("Instruct-Pix2Pix model", settings.models_root),
                        choices=pix2pix_model_choices(settings),
                        value=settings.default_pix2pix_model,
                        allow_custom_value=True,
                    )
                    with gr.Row():
                        image_guidance = gr.Slider(
                            label="Image guidance (how closely to keep the input)",
                            minimum=0.0,
                            maximum=5.0,
                            value=Pix2PixCall.default("image_guidance_scale"),
                            step=0.1,
                        )
                        guidance = gr.Slider(
                            label="Instruction guidance",
                            minimum=0,
                            maximum=20,
                            value=Pix2PixCall.default("guidance_scale"),
                            step=0.5,
                        )
                    resolution, num_steps = size_and_steps_controls(
                        settings.max_resolution, d.resolution, d.pix2pix_steps
                    )
                    with gr.Row():
                        seed, randomize = seed_controls(Pix2PixCall.default("seed"))
                    video_range = video_range_controls(
                        settings.max_frames, d.max_frames, ("out_fps", "Output frame rate (-1 = the input's)", -1, -1)
                    )
                    chunking = chunking_controls(settings.max_frames, d.chunk_size)
                    feature_reuse = feature_reuse_control()
                    cross_frame = cross_frame_control()
                    shared_noise = gr.Checkbox(
                        label="One starting noise for every frame (steadier; off: noise per frame, as the original)",
                        value=True,
                    )
                    lora, lora_weight = lora_controls()
                    output = output_controls()
            with gr.Column():
                result, seed_used = result_controls("Edited video", f"{mode.name}-result")

        tab_examples(model, mode, EXAMPLES, {"video": video, "prompt": prompt}, [result, seed_used])
        controls = {
            "video": video,
            "prompt": prompt,
            "model_name": model_name,
            "image_guidance_scale": image_guidance,
            "guidance_scale": guidance,
            "resolution": resolution,
            "num_inference_steps": num_steps,
            "seed": seed,
            **video_range,
            **chunking,
            "lora": lora,
            "lora_weight": lora_weight,
            **output,
            "scheduler": scheduler,
            "feature_reuse": feature_reuse,
            "cross_frame": cross_frame,
            "shared_noise": shared_noise,
        }
        connect_generation(run_button.click, model, mode, controls, [result, seed_used], randomize, stop=stop_button)
    return demo
