"""Checks of user input that every tab shares. Each failure is an `InputError` whose message names the parameter,
what was given and what to do instead; the tabs show it as a Gradio error and keep serving."""

from __future__ import annotations

import math
from numbers import Real
from pathlib import PurePath

from errors import InputError

MAX_QUOTED = 60  # characters of a user's value quoted back in a message: errors never echo a megabyte back


def shorten(text: str, limit: int = MAX_QUOTED) -> str:
    """Text as a message shows it: a short prefix, with the full length said."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def quote(value, limit: int = MAX_QUOTED) -> str:
    """A value as a message shows it: its repr, cut to a short prefix with the full length said."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() > 64:
        return f"a {len(str(abs(value))) if abs(value).bit_length() < 10_000 else 'many'}-digit number"
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value):,} characters)"
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nested too deeply, or an integer too long to print
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def as_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """An integer (floats with no fraction, as sliders send, are accepted) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value != int(value):  # type: ignore[call-overload]
        raise InputError(f"{name} must be a whole number, got {quote(value)}.")
    number = int(value)  # type: ignore[call-overload]
    _check_range(name, number, low, high)
    return number


def as_float(name: str, value, low: float | None = None, high: float | None = None) -> float:
    """A finite number within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {quote(value)}.")
    number = float(value)
    _check_range(name, number, low, high)
    return number


def _check_range(name: str, number, low, high) -> None:
    if low is not None and high is not None and not low <= number <= high:
        raise InputError(f"{name} must be between {low} and {high}, got {quote(number)}.")
    if low is not None and number < low:
        raise InputError(f"{name} must be at least {low}, got {quote(number)}.")
    if high is not None and number > high:
        raise InputError(f"{name} must be at most {high}, got {quote(number)}.")


def as_text(name: str, value, required: bool = True) -> str:
    """A string; stripped, and non-empty if `required`."""
    hint = "describe what the video should show" if name in ("Prompt", "Instruction") else "fill it in"
    if value is None:
        if required:
            raise InputError(f"{name} is missing: {hint}.")
        return ""
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, got {type(value).__name__}.")
    text = value.strip()
    if required and not text:
        raise InputError(f"{name} is empty: {hint}.")
    return text


def as_file(name: str, value, required: bool = True) -> str | None:
    """A file named by a path (text or a path object), as a string; None for none where not `required`. Only its
    type is checked here: the reader of the file says what is wrong with it, naming the file, not its folder."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError(f"{name} is missing: give a file.")
        return None
    if isinstance(value, (str, PurePath)):
        return str(value)
    raise InputError(f"{name} must be a file path (text), got {type(value).__name__}.")


def as_resolution(name: str, value, maximum: int, multiple: int = 8, minimum: int = 64) -> int:
    """A side length in pixels: a multiple of `multiple` in [minimum, maximum]."""
    number = as_int(name, value, minimum, maximum)
    if number % multiple:
        lower = number // multiple * multiple
        raise InputError(f"{name} must be a multiple of {multiple}, got {number}: try {max(minimum, lower)}.")
    return number


def as_flag(name: str, value) -> bool:
    """A yes/no switch: true or false only. Text such as "no" is refused rather than read as true."""
    if not isinstance(value, bool):
        raise InputError(f"{name} must be true or false, got {quote(value)}.")
    return value
