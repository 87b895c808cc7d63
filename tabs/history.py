"""This browser session's results on a tab, newest first: click one to watch it again (and download it from the
player), to download its card, or to put its settings back into the tab's controls.

The history lives in the page's session state (the server keeps it per browser tab, as Gradio keeps any State) and
holds what the outputs folder holds: an entry whose video has been pruned (`T2VZ_OUTPUT_TTL_HOURS`) drops out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from clip_files import sidecar

MAX_ENTRIES = 48  # per tab and browser tab: the oldest go first


@dataclass
class History:
    """The page's history of one tab: the pictures (`gallery`), the entries behind them (`entries`, a State of
    dicts: video, card, seed, caption), the one clicked last (`chosen`) and the button that puts its settings back."""

    gallery: gr.Gallery
    entries: gr.State
    chosen: gr.State
    use: gr.Button


def history_controls(elem_id: str) -> History:
    with gr.Accordion("History (this session)", open=True):
        gallery = gr.Gallery(
            label="Newest first: click one to see it again",
            columns=4,
            height="auto",
            allow_preview=False,
            interactive=False,
            elem_id=f"{elem_id}-history",
        )
        use = gr.Button("Use these settings", size="sm", interactive=False, elem_id=f"{elem_id}-history-use")
    return History(gallery, gr.State([]), gr.State(None), use)


def caption(parameters: dict, seed: int) -> str:
    """A result's main settings, for its picture in the history."""
    parts = [f"seed {seed}"]
    frames = parameters.get("video_length") or parameters.get("num_frames") or parameters.get("max_frames")
    if frames:
        parts.append(f"{frames} frames")
    if parameters.get("num_inference_steps"):
        parts.append(f"{parameters['num_inference_steps']} steps")
    prompt = parameters.get("prompt")
    if isinstance(prompt, str) and prompt:
        parts.append(prompt if len(prompt) <= 40 else f"{prompt[:39]}…")
    return " · ".join(parts)


def entry(result) -> dict:
    """A history entry of a `model.GenerationResult`."""
    card = sidecar(result.path)
    parameters = result.card.parameters if result.card is not None else {}
    return {
        "video": str(result.path),
        "card": str(card) if card.is_file() else None,
        "seed": int(result.seed),
        "caption": caption(parameters, int(result.seed)),
    }


def still_here(entries) -> list[dict]:
    """The entries whose video is still in the outputs folder."""
    return [e for e in entries or [] if isinstance(e, dict) and Path(str(e.get("video", ""))).is_file()]


def with_result(entries, result) -> tuple[list[dict], list[tuple[str, str]]]:
    """The history with `result` first, and the gallery's pictures of it."""
    kept = [entry(result), *still_here(entries)][:MAX_ENTRIES]
    return kept, [(e["video"], e["caption"]) for e in kept]


def chosen_entry(entries, index) -> dict | None:
    entries = entries or []
    if not isinstance(index, int) or not 0 <= index < len(entries):
        return None
    chosen = entries[index]
    return chosen if Path(str(chosen.get("video", ""))).is_file() else None
