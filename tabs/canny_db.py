"""Edge + DreamBooth tab: Canny edges guide a video on a DreamBooth-style base model."""

from __future__ import annotations

import gradio as gr

from model import Model
from tabs.canny import threshold_controls
from tabs.common import model_label
from tabs.guided import example, guided_demo

MOTIONS = ["coffee_pan.mp4", "cat_zoom.mp4", "astronaut_pan.mp4", "rocket_zoom.mp4"]


def create_demo(model: Model) -> gr.Blocks:
    styles = model.settings.dreambooth_styles
    first = styles[0]

    def model_control() -> gr.Dropdown:
        return gr.Dropdown(
            label=model_label("DreamBooth model (or pick a style below)", model.settings.models_root),
            choices=list(dict.fromkeys(s.model for s in styles)),
            value=first.model,
            allow_custom_value=True,
        )

    def wire(controls: dict) -> None:
        by_label = {s.label: s for s in styles}

        def pick(label: str, prompt: str):
            style = by_label[label]
            if style.trigger not in prompt:
                prompt = f"{style.trigger}, {prompt}" if prompt.strip() else style.trigger
            return gr.Dropdown(value=style.model), prompt

        controls["_style"].change(
            pick,
            [controls["_style"], controls["prompt"]],
            [controls["db_path"], controls["prompt"]],
            queue=False,
            api_visibility="private",
        )

    style = lambda: {  # noqa: E731
        "_style": gr.Radio(label="Style", choices=[s.label for s in styles], value=first.label),
        **threshold_controls(),
    }
    examples = [[example(MOTIONS[i % len(MOTIONS)]), f"{s.trigger}, a portrait"] for i, s in enumerate(styles)]
    return guided_demo(
        model,
        title="Edge-guided video on a DreamBooth model",
        description="Pick a style (its trigger word goes into the prompt) and a motion; any DreamBooth model of "
        "Stable Diffusion 1.x works too.",
        generate=model.controlnet_canny_db,
        api_name="canny_db",
        examples=examples,
        extra_controls=style,
        default_video=example(MOTIONS[0]),
        base_model_control=model_control,
        wire=wire,
        base_parameter="db_path",
    )
