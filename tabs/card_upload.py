"""A generation card (or a video made here) dropped on a tab fills the tab's controls: the clip can be made again."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from cards import MODES, Card
from utils.validation import InputError

# The card mode each Model method makes, and the tab parameters that carry a card's parameter under another name.
CARD_MODES = {method: mode for mode, method in MODES.items() if mode != "modelscope_upscale"}
CARD_MODES["controlnet_canny_db"] = "canny"
CARD_RENAMES = {"controlnet_canny_db": {"model_name": "db_path"}}


def card_values(card: Card, method: str, names: list[str]) -> dict:
    """The values a card gives a tab's controls (by their names), as the controls take them."""
    renames = CARD_RENAMES.get(method, {})
    values = {}
    for key, value in card.parameters.items():
        name = renames.get(key, key)
        if name not in names:
            continue
        if name == "motion_path" and isinstance(value, list):
            value = "; ".join(f"{dx:g},{dy:g}" for dx, dy in value)
        if name in ("t0", "t1") and value is None:
            value = -1
        if name == "scheduler" and value is None:
            value = "default"
        values[name] = value
    if "randomize_seed" in names:
        values["randomize_seed"] = False  # the card's own seed
    return values


def connect_card_upload(generate: Callable, controls: dict, api_name: str) -> None:
    """A card (or a video made here) dropped on the tab fills its controls, for the clip to be made again."""
    method = getattr(generate, "__name__", "")
    mode = CARD_MODES.get(method)
    if mode is None:
        return
    names = list(controls)
    upload = gr.File(
        label="Make a clip again: drop its generation card (.json) or the video itself here",
        file_types=[".json", ".mp4", ".webm"],
        elem_id=f"{api_name}-card",
    )

    def fill(file):
        if not file:
            return [gr.skip()] * len(names)
        try:
            card = Card.read(getattr(file, "name", file))
        except InputError as error:
            raise gr.Error(str(error)) from None
        if card.mode != mode:
            raise gr.Error(f"This card is for the {card.mode} mode; this tab makes {mode} clips.")
        values = card_values(card, method, names)
        gr.Info(f"Filled {len(values)} settings from the card (seed {card.parameters.get('seed')}).")
        return [gr.update(value=values[name]) if name in values else gr.skip() for name in names]

    upload.upload(fill, [upload], list(controls.values()), queue=False, api_visibility="private")
