"""A generation card (or a video made here) dropped on a tab fills the tab's controls: the clip can be made again.

A card is data from a stranger. It is checked as a request is, by the same code (the mode's call and the web's
model-name rule), before anything fills in; a card that fails changes nothing and says why, naming the key. A card
never fills a file control: the files it names (by content, `cards.InputFile`) are uploaded by the user, and the
message says which, so nothing from a card ever becomes a path the server reads or serves.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from cards import Card
from clip_files import is_reference
from errors import InputError
from registry import Mode
from settings import Settings
from tabs.history import History
from tabs.web_rules import check_model_names
from utils.validation import shorten


def checked_card(card: Card, mode: Mode, settings: Settings) -> None:
    """Check a card's values as a web request's are checked (its input files aside: the user uploads them);
    raises `InputError` naming the parameter."""
    parameters = mode.call.own_parameters(card.parameters)
    values = {name: value for name, value in parameters.items() if name not in mode.call.FILES}
    check_model_names(values, settings.models_root)
    mode.call.checked(settings, **values)


def card_values(card: Card, mode: Mode, names: list[str]) -> dict:
    """The values a card gives a tab's controls (named as the mode's endpoint names them; the card's parameters
    by any of their names), as the controls take them; never a file."""
    parameters = mode.call.own_parameters(card.parameters)
    renames = dict(mode.renames)
    values = {}
    for name in names:
        own = next(iter(mode.call.own_parameters({renames.get(name, name): None})))
        if own in mode.call.FILES or own not in parameters:
            continue
        value = parameters[own]
        if own == "motion_path" and isinstance(value, list):
            value = "; ".join(f"{dx:g},{dy:g}" for dx, dy in value)
        if own in ("t0", "t1") and value is None:
            value = -1
        if own == "scheduler" and value is None:
            value = "default"
        values[name] = value
    if "randomize_seed" in names:
        values["randomize_seed"] = False  # the card's own seed
    return values


def files_to_upload(card: Card, mode: Mode) -> list[str]:
    """What the user must upload for the same clip: the input files the card names, each by its name and hash."""
    parameters = mode.call.own_parameters(card.parameters)
    needed = []
    for parameter in mode.call.FILES:
        value: Any = parameters.get(parameter)
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


def connect_card_upload(mode: Mode, controls: dict, settings: Settings, history: History | None = None) -> None:
    """A card of the mode's clips (or a video made here) dropped on its tab fills the tab's `controls`, for the clip
    to be made again; so does "Use these settings" with a clip of the tab's `history`."""
    names = list(controls)
    upload = gr.File(
        label="Make a clip again: drop its generation card (.json) or the video itself here",
        file_types=[".json", ".mp4", ".webm"],
        elem_id=f"{mode.name}-card",
    )

    # The checked card's values, on their way to the controls: a card that fails marks only this (hidden) box with
    # the failure, not every control, and the message says why.
    held = gr.JSON(visible=False)

    def check(file) -> dict:
        return checked_values(str(getattr(file, "name", file))) if file else {}

    def checked_values(path: str) -> dict:
        """A card file's values for the tab's controls, checked, with a note of what was filled."""
        try:
            card = Card.read(path)
            if card.mode != mode.card_mode:
                raise InputError(f"This card is for the {card.mode} mode; this tab makes {mode.card_mode} clips.")
            checked_card(card, mode, settings)
        except InputError as error:
            raise gr.Error(str(error)) from None
        values = card_values(card, mode, names)
        gr.Info(fill_message(card, len(values), files_to_upload(card, mode)))
        return values

    def fill(values):
        values = values if isinstance(values, dict) else {}
        return [gr.update(value=values[name]) if name in values else gr.skip() for name in names]

    def from_history(chosen) -> dict:
        """The settings of a clip of this page's history (its card, beside the clip in the outputs folder)."""
        card = chosen.get("card") if isinstance(chosen, dict) else None
        if not card:
            raise gr.Error("Click a clip of the history first.")
        return checked_values(card)

    # Through the queue (its own, not the generations'): only there do the message and the note reach the page.
    checking = upload.upload(check, [upload], [held], concurrency_limit=4, api_visibility="private")
    checking.success(fill, [held], list(controls.values()), queue=False, api_visibility="private")
    if history is not None:
        again = history.use.click(
            from_history, [history.chosen], [held], concurrency_limit=4, api_visibility="private"
        )
        again.success(fill, [held], list(controls.values()), queue=False, api_visibility="private")
