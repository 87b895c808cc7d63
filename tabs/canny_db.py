"""Edge + DreamBooth tab: Canny edges guide a video on a DreamBooth-style base model."""

from __future__ import annotations

import gradio as gr

from model import Model
from registry import Mode
from tabs.canny import threshold_controls
from tabs.controls import model_info, page_helper
from tabs.guided import example, guided_demo

# Per style (by its label): a motion video whose content fits the example's prompt (after the style's trigger).
EXAMPLE_SUBJECTS = {
    "Anime": ("astronaut_pan.mp4", "an astronaut in a white suit, smiling"),
    "Arcane": ("cat_zoom.mp4", "a cat looking into the camera"),
    "GTA-5": ("rocket_zoom.mp4", "a rocket on the launch pad"),
    "Avatar": ("coffee_pan.mp4", "a cup of coffee on a wooden table"),
}


def with_trigger(prompt: str, trigger: str, triggers: list[str]) -> str:
    """The prompt led by the chosen style's trigger word, any other style's leading trigger removed (switching from
    Arcane to GTA-5 must not leave "gtav style, arcane style, ...")."""
    text = prompt.strip()
    for other in sorted(set(triggers), key=len, reverse=True):
        if text == other or text.startswith(f"{other},"):
            text = text[len(other) :].lstrip(", ").strip()
            break
    return f"{trigger}, {text}" if text else trigger


def create_demo(model: Model, mode: Mode) -> gr.Blocks:
    styles = model.settings.dreambooth_styles
    by_label = {s.label: s for s in styles}

    def controls(prompt: gr.Textbox) -> dict:
        """The style picker (page only), the DreamBooth model it chooses, and the edge thresholds."""
        style = gr.Radio(
            label="Style",
            info="Sets the DreamBooth model below and the trigger word the prompt starts with.",
            choices=list(by_label),
            value=styles[0].label,
        )
        db_path = gr.Dropdown(
            label="DreamBooth model",
            info=f"Chosen by the style above, or any SD 1.x model. {model_info(model.settings.models_root)}",
            choices=list(dict.fromkeys(s.model for s in styles)),
            value=styles[0].model,
            allow_custom_value=True,
        )

        def pick(label: str, text: str):
            chosen = by_label[label]
            return gr.Dropdown(value=chosen.model), with_trigger(text, chosen.trigger, [s.trigger for s in styles])

        # On the user's choice only (`input`): an example sets the style, its model and its prompt together.
        style.input(page_helper(pick), [style, prompt], [db_path, prompt], queue=False, api_visibility="private")
        return {"style": style, **threshold_controls(), "db_path": db_path}

    # Each example sets the style and model its prompt's trigger belongs to, with a video that fits.
    fallback = next(iter(EXAMPLE_SUBJECTS.values()))
    examples = [
        [example(video), f"{s.trigger}, {subject}", s.label, s.model]
        for s in styles
        for video, subject in [EXAMPLE_SUBJECTS.get(s.label, fallback)]
    ]
    return guided_demo(
        model,
        title="Edge-guided video on a DreamBooth model",
        description="Pick a style (its trigger word goes into the prompt) and a motion; any DreamBooth model of "
        "Stable Diffusion 1.x works too.",
        mode=mode,
        examples=examples,
        extra_controls=controls,
        default_video=example(EXAMPLE_SUBJECTS.get(styles[0].label, fallback)[0]),
        base_model=False,
        example_controls=("style", "db_path"),
        page_only=("style",),
        prompt_value=f"{styles[0].trigger}, ",
    )
