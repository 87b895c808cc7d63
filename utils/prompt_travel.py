"""Prompts that change at given frames ("prompt travel"): `0: a calm sea | 24: a storm` holds the first prompt from
frame 0 and moves to the second by frame 24 (the text embeddings are interpolated between keyframes and the last
is held to the end, see `pipelines.motion_module`). Motion modules take them; a prompt without keyframes is one
prompt for the whole clip."""

from __future__ import annotations

import re

from errors import InputError
from utils.validation import quote

KEYFRAME = re.compile(r"^\s*(\d+)\s*:\s*(.*?)\s*$", re.DOTALL)
EXAMPLE = '"0: a calm sea | 24: a storm at sea"'


def prompt_schedule(prompt: str) -> dict[int, str] | None:
    """The keyframed prompts of `prompt` ({frame: prompt}), or None for a plain prompt. Keyframes must start at 0,
    rise and each hold a prompt; a prompt that starts like one but breaks the form is refused by name."""
    parts = prompt.split("|")
    matches = [KEYFRAME.match(part) for part in parts]
    if not matches[0]:
        if any(matches):
            raise InputError(
                f"The prompt mixes keyframed parts with one that has no frame number ({quote(parts[0].strip())}): "
                f"write every part as 'frame: prompt', e.g. {EXAMPLE}."
            )
        return None
    schedule: dict[int, str] = {}
    for part, match in zip(parts, matches, strict=True):
        if not match:
            raise InputError(
                f"Prompt part {quote(part.strip())} has no frame number: write every part as 'frame: prompt', e.g. "
                f"{EXAMPLE}."
            )
        frame, text = int(match.group(1)), match.group(2)
        if not text:
            raise InputError(f"The prompt for frame {frame} is empty: give each keyframe a prompt.")
        if schedule and frame <= max(schedule):
            raise InputError(
                f"Prompt keyframes must rise: frame {frame} comes after frame {max(schedule)}. Order them by frame."
            )
        schedule[frame] = text
    if 0 not in schedule:
        raise InputError(
            f"The first prompt keyframe must be frame 0 (the clip needs a prompt from its start), got {min(schedule)}."
        )
    return schedule


def check_schedule_fits(schedule: dict[int, str] | None, frames: int) -> None:
    """Refuse keyframes past the clip's last frame."""
    if schedule and max(schedule) >= frames:
        raise InputError(
            f"The prompt keyframe {max(schedule)} is past the end of the clip: its {frames} frames are numbered 0 "
            f"to {frames - 1}."
        )
