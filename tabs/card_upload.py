"""A generation card (or a video made here) dropped on a tab fills the tab's controls: the clip can be made again.

A card is data from a stranger. It is checked as a request is, by the same code (the mode's call and the web's
model-name rule), before anything fills in; a card that fails changes nothing and says why, naming the key. A card
never fills a file control: the files it names (by content, `cards.InputFile`) are uploaded by the user, and the
message says which, so nothing from a card ever becomes a path the server reads or serves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from cards import MODES, Card, is_reference
from errors import InputError
from modes import CALLS
from settings import Settings
from tabs.web_rules import check_model_names
from utils.validation import shorten

# The card mode each Model method makes, and the tab parameters that carry a card's parameter under another name.
CARD_MODES = {method: mode for mode, method in MODES.items() if mode != "modelscope_upscale"}
CARD_MODES["controlnet_canny_db"] = "canny"
CARD_RENAMES = {"controlnet_canny_db": {"model_name": "db_path"}}


def checked_card(card: Card, settings: Settings) -> None:
    """Check a card's values as a web request's are checked (its input files aside: the user uploads them);
    raises `InputError` naming the parameter."""
    call = CALLS[card.mode]
    values = {name: value for name, value in card.parameters.items() if name not in call.FILES}
    check_model_names(values, settings.models_root)
    call.checked(settings, **values)


def card_values(card: Card, method: str, names: list[str]) -> dict:
    """The values a card gives a tab's controls (by their names), as the controls take them; never a file."""
    renames = CARD_RENAMES.get(method, {})
    files = CALLS[card.mode].FILES
    values = {}
    for key, value in card.parameters.items():
        name = renames.get(key, key)
        if name not in names or key in files:
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


def files_to_upload(card: Card) -> list[str]:
    """What the user must upload for the same clip: the input files the card names, each by its name and hash."""
    needed = []
    for parameter in CALLS[card.mode].FILES:
        value: Any = card.parameters.get(parameter)
        if is_reference(value):
            needed.append(f"'{shorten(str(value['file']))}' (sha256 {shorten(str(value['sha256']), 12)})")
        elif value:
            needed.append("the input it was made from")
    return needed


def fill_message(card: Card, filled: int, needed: list[str]) -> str:
    message = f"Filled {filled} settings from the card (seed {card.parameters.get('seed', 'not given')})."
    if needed:
        message += f" Upload {', '.join(needed)} to make the same clip: a card never names a file of this server."
    return message


def connect_card_upload(generate: Callable, controls: dict, api_name: str, settings: Settings) -> None:
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
            card = Card.read(str(getattr(file, "name", file)))
            if card.mode != mode:
                raise InputError(f"This card is for the {card.mode} mode; this tab makes {mode} clips.")
            checked_card(card, settings)
        except InputError as error:
            raise gr.Error(str(error)) from None
        values = card_values(card, method, names)
        gr.Info(fill_message(card, len(values), files_to_upload(card)))
        return [gr.update(value=values[name]) if name in values else gr.skip() for name in names]

    # Through the queue (its own, not the generations'): only there do the message and the note reach the page.
    upload.upload(fill, [upload], list(controls.values()), concurrency_limit=4, api_visibility="private")
