"""Checks of user input that every tab shares. Each failure is an `InputError` whose message names the parameter,
what was given and what to do instead; the tabs show it as a Gradio error and keep serving."""

from __future__ import annotations

import math
from numbers import Real
from pathlib import Path


class InputError(ValueError):
    """A request parameter the user can fix."""


def as_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """An integer (floats with no fraction, as sliders send, are accepted) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value != int(value):
        raise InputError(f"{name} must be a whole number, got {value!r}.")
    number = int(value)
    _check_range(name, number, low, high)
    return number


def as_float(name: str, value, low: float | None = None, high: float | None = None) -> float:
    """A finite number within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value!r}.")
    number = float(value)
    _check_range(name, number, low, high)
    return number


def _check_range(name: str, number, low, high) -> None:
    if low is not None and high is not None and not low <= number <= high:
        raise InputError(f"{name} must be between {low} and {high}, got {number}.")
    if low is not None and number < low:
        raise InputError(f"{name} must be at least {low}, got {number}.")
    if high is not None and number > high:
        raise InputError(f"{name} must be at most {high}, got {number}.")


def as_text(name: str, value, required: bool = True) -> str:
    """A string; stripped, and non-empty if `required`."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, got {type(value).__name__}.")
    text = value.strip()
    if required and not text:
        hint = "describe what the video should show" if name in ("Prompt", "Instruction") else "fill it in"
        raise InputError(f"{name} is empty: {hint}.")
    return text


def as_resolution(name: str, value, maximum: int, multiple: int = 8, minimum: int = 64) -> int:
    """A side length in pixels: a multiple of `multiple` in [minimum, maximum]."""
    number = as_int(name, value, minimum, maximum)
    if number % multiple:
        lower = number // multiple * multiple
        raise InputError(f"{name} must be a multiple of {multiple}, got {number}: try {max(minimum, lower)}.")
    return number


def check_ui_model_name(value, models_root: Path, aliases=()) -> str:
    """A model named through the web UI or its API: a Hugging Face id, an offline alias, or a folder inside
    `models_root` (named relative to it). Anything else on the server's disk is refused (no `../` escapes); the
    Python API is not restricted. Returns the name unchanged: the Model resolves it."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    name = as_text("Model", value)
    if name in aliases:
        return name
    root = Path(models_root).resolve()
    candidate = (root / name).resolve() if not Path(name).expanduser().is_absolute() else Path(name).resolve()
    looks_like_path = name.startswith((".", "/", "~")) or "\\" in name or name.count("/") != 1 or candidate.exists()
    if looks_like_path:
        if not candidate.is_relative_to(root):
            raise InputError(
                f"Model folders must be inside the models folder ({root.name}/): give a Hugging Face id such as "
                "owner/model, or a folder name inside it."
            )
        return name
    try:
        validate_repo_id(name)
    except HFValidationError as error:
        raise InputError(f"'{name}' is not a valid Hugging Face model id (owner/model).") from error
    return name
