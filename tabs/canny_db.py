"""Edge + DreamBooth tab: Canny edges guide a video on a DreamBooth-style base model."""

from __future__ import annotations

import gradio as gr

from model import Model
from tabs.canny import threshold_controls
from tabs.common import model_label
from tabs.guided import example, guided_demo

MOTIONS = ["coffee_pan.mp4", "cat_zoom.mp4", "astronaut_pan.mp4", "rocket_zoom.mp4"]


def with_trigger(prompt: str, trigger: str, triggers: list[str]) -> str:
    """The prompt led by the chosen style's trigger word, any other style's leading trigger removed (switching from
    Arcane to GTA-5 must not leave "gtav style, arcane style, ...")."""
    text = prompt.strip()
    for other in sorted(set(triggers), key=len, reverse=True):
        if text == other or text.startswith(f"{other},"):
            text = text[len(other) :].lstrip(", ").strip()
            break
    return f"{trigger}, {text}" if text else trigger


def create_demo(model: Model) -> gr.Blocks:
    styles = model.settings.dreambooth_styles
    by_label = {s.label: s for s in styles}

    def controls(prompt: gr.Textbox) -> dict:
        """The style picker (page only), the DreamBooth model it chooses, and the edge thresholds."""
        style = gr.Radio(label="Style", choices=list(by_label), value=styles[0].label)
        db_path = gr.Dropdown(
            label=model_label(
                "DreamBooth model (chosen by the style above, or any SD 1.x model)", model.settings.models_root
            ),
            choices=list(dict.fromkeys(s.model for s in styles)),
            value=styles[0].model,
            allow_custom_value=True,
        )

        def pick(label: str, text: str):
            chosen = by_label[label]
            return gr.Dropdown(value=chosen.model), with_trigger(text, chosen.trigger, [s.trigger for s in styles])

        style.change(pick, [style, prompt], [db_path, prompt], queue=False, api_visibility="private")
        return {**threshold_controls(), "db_path": db_path}

    examples = [[example(MOTIONS[i % len(MOTIONS)]), f"{s.trigger}, a portrait"] for i, s in enumerate(styles)]
    return guided_demo(
        model,
        title="Edge-guided video on a DreamBooth model",
        description="Pick a style (its trigger word goes into the prompt) and a motion; any DreamBooth model of "
        "Stable Diffusion 1.x works too.",
        generate=model.controlnet_canny_db,
        api_name="canny_db",
        examples=examples,
        extra_controls=controls,
        default_video=example(MOTIONS[0]),
        base_model=False,
    )
