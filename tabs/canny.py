"""Edge tab: the Canny edges of a video guide a new video through a canny ControlNet."""

from __future__ import annotations

import gradio as gr

from model import Model
from tabs.guided import example, guided_demo

EXAMPLES = [
    [example("coffee_pan.mp4"), "a cup of tea on a wooden table, watercolor"],
    [example("cat_zoom.mp4"), "a tiger, photorealistic"],
    [example("rocket_zoom.mp4"), "a lighthouse at night"],
]


def threshold_controls(prompt: gr.Textbox | None = None) -> dict:
    with gr.Row():
        low = gr.Slider(label="Canny low threshold", minimum=1, maximum=255, value=100, step=1)
        high = gr.Slider(label="Canny high threshold", minimum=1, maximum=255, value=200, step=1)
    return {"low_threshold": low, "high_threshold": high}


def create_demo(model: Model) -> gr.Blocks:
    return guided_demo(
        model,
        title="Edge-guided video",
        description="The edges of your video keep their place; the prompt decides what fills them.",
        generate=model.controlnet_canny,
        api_name="canny",
        examples=EXAMPLES,
        extra_controls=threshold_controls,
        default_video=EXAMPLES[0][0],
    )
