"""Depth tab: the MiDaS depth of a video guides a new video through a depth ControlNet."""

from __future__ import annotations

import gradio as gr

from model import Model
from registry import Mode
from tabs.guided import example, guided_demo

EXAMPLES = [
    [example("cat_zoom.mp4"), "a fox in a snowy forest"],
    [example("rocket_zoom.mp4"), "a castle tower at sunset"],
    [example("coffee_pan.mp4"), "a bowl of ramen, studio photo"],
]


def create_demo(model: Model, mode: Mode) -> gr.Blocks:
    return guided_demo(
        model,
        title="Depth-guided video",
        description="The depth of your video (estimated with MiDaS) keeps the scene's shape; the prompt restyles it.",
        mode=mode,
        examples=EXAMPLES,
        default_video=EXAMPLES[0][0],
    )
