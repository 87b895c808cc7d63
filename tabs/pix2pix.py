"""Video Instruct-Pix2Pix tab: edit a video by an instruction."""

from __future__ import annotations

import gradio as gr

from model import Model
from modes import Pix2PixCall
from pipelines.base import SCHEDULERS
from registry import Mode
from tabs.common import connect_generation, tab_examples
from tabs.controls import (
    COHERENCE_OPTIONS,
    connect_consistency,
    consistency_control,
    consistency_section,
    generate_buttons,
    model_info,
    output_section,
    prompt_detail_section,
    seed_controls,
    video_input,
    video_part_section,
    video_sampling_controls,
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
            with gr.Column(elem_id=f"{mode.name}-controls"):
                # In view: what a person sets for every clip. Below, closed: the rest, by what it is for.
                video = video_input("Input video", f"{mode.name}-video", EXAMPLES[0][0])
                prompt = gr.Textbox(label="Instruction", lines=2, placeholder="make it Van Gogh Starry Night style")
                model_name = gr.Dropdown(
                    label="Instruct-Pix2Pix model",
                    info=model_info(settings.models_root),
                    choices=pix2pix_model_choices(settings),
                    value=settings.default_pix2pix_model,
                    allow_custom_value=True,
                )
                level = consistency_control()
                rate = ("out_fps", "Output frame rate", -1, -1, "-1: the input's.")
                sampling = video_sampling_controls(
                    settings.max_frames, d.max_frames, rate, (settings.max_resolution, d.resolution)
                )
                with gr.Row():
                    seed, randomize = seed_controls(Pix2PixCall.default("seed"))
                with gr.Row():
                    num_steps = gr.Slider(
                        label="Denoising steps", minimum=1, maximum=100, value=d.pix2pix_steps, step=1
                    )
                    image_guidance = gr.Slider(
                        label="Image guidance",
                        info="How closely to keep the input.",
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
                run_button, stop_button = generate_buttons("Edit")
                part = video_part_section()
                detail = prompt_detail_section(tuple(SCHEDULERS), negative=False)
                consistency = consistency_section(
                    settings.max_frames,
                    d.chunk_size,
                    lambda: {
                        "shared_noise": gr.Checkbox(
                            label="One starting noise for every frame",
                            info="Steadier; off: noise per frame, as the original.",
                            value=True,
                        )
                    },
                )
                output = output_section()
            with gr.Column():
                result, seed_used = result_controls("Edited video", f"{mode.name}-result")

        tab_examples(model, mode, EXAMPLES, {"video": video, "prompt": prompt}, [result, seed_used])
        # The endpoint's positional order, as published (new parameters go last: `tabs.common.ADDED_LATER`).
        controls = {
            "video": video,
            "prompt": prompt,
            "model_name": model_name,
            "image_guidance_scale": image_guidance,
            "guidance_scale": guidance,
            "resolution": sampling["resolution"],
            "num_inference_steps": num_steps,
            "seed": seed,
            "start_t": part["start_t"],
            "end_t": part["end_t"],
            "out_fps": sampling["out_fps"],
            "max_frames": sampling["max_frames"],
            "chunk_size": consistency["chunk_size"],
            "merging_ratio": consistency["merging_ratio"],
            "lora": detail["lora"],
            "lora_weight": detail["lora_weight"],
            **output,
            "scheduler": detail["scheduler"],
            "feature_reuse": consistency["feature_reuse"],
            "cross_frame": consistency["cross_frame"],
            "shared_noise": consistency["shared_noise"],
            "consistency": level,
            **{name: consistency[name] for name in COHERENCE_OPTIONS},
        }
        connect_consistency(level, consistency)
        connect_generation(run_button.click, model, mode, controls, [result, seed_used], randomize, stop=stop_button)
    return demo
