"""What the tabs share: one concurrency id for every generation event, and errors the user can read."""

from __future__ import annotations

import logging
from collections.abc import Callable

import gradio as gr

from model import GenerationResult, ModelLoadError
from utils.validation import InputError

logger = logging.getLogger(__name__)

# Every generation event shares one worker: the GPU runs one request at a time, the rest wait in the queue.
GENERATION_CONCURRENCY_ID = "generation"


def run_generation(fn: Callable[..., GenerationResult], *args, **kwargs) -> GenerationResult:
    """Call a Model method; problems the user can fix become `gr.Error` with the fix, others a short message.

    Stack traces and server paths go to the log, never to the browser.
    """
    try:
        result = fn(*args, **kwargs)
    except (InputError, ModelLoadError) as error:
        raise gr.Error(str(error)) from error
    except Exception as error:
        logger.exception("Generation failed")
        raise gr.Error(f"Generation failed ({type(error).__name__}). Try again with other settings.") from error
    for note in result.notes:
        gr.Info(note)
    return result


def seed_controls(default: int = 0) -> tuple[gr.Number, gr.Checkbox]:
    seed = gr.Number(label="Seed", value=default, precision=0, minimum=-1)
    randomize = gr.Checkbox(label="Randomize seed", value=False)
    return seed, randomize


def effective_seed(seed, randomize: bool) -> int:
    """-1 (a random seed, reported back) when the user asked for one."""
    return -1 if randomize else seed
