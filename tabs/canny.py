"""Edge tab: the Canny edges of a video guide a new video through a canny ControlNet."""

from __future__ import annotations

import gradio as gr

from model import Model
from modes import CannyCall
from registry import Mode
from tabs.guided import example, guided_demo

EXAMPLES = [
    [example("coffee_pan.mp4"), "a cup of tea on a wooden table, watercolor"],
    [example("cat_zoom.mp4"), "a tiger, photorealistic"],
    [example("rocket_zoom.mp4"), "a lighthouse at night"],
]


def threshold_controls(prompt: gr.Textbox | None = None) -> dict:
    with gr.Row():
        low, high = (
            gr.Slider(label=f"Canny {name} threshold", minimum=1, maximum=255, value=CannyCall.default(key), step=1)
            for name, key in (("low", "low_threshold"), ("high", "high_threshold"))
        )
    return {"low_threshold": low, "high_threshold": high}


def create_demo(model: Model, mode: Mode) -> gr.Blocks:
    return guided_demo(
        model,
        title="Edge-guided video",
        description="The edges of your video keep their place; the prompt decides what fills them.",
        mode=mode,
        examples=EXAMPLES,
        extra_controls=threshold_controls,
        default_video=EXAMPLES[0][0],
    )
