"""What the tabs share: one concurrency id for every generation event, and errors the user can read."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from model import TINY_ALIASES, GenerationResult, ModelLoadError, OutOfMemory
from utils.validation import InputError, check_ui_model_name

logger = logging.getLogger(__name__)

# Every generation event shares one worker: the GPU runs one request at a time, the rest wait in the queue.
GENERATION_CONCURRENCY_ID = "generation"
# Parameters that name a model: from the web, only hub ids, offline aliases or folders under the models root.
MODEL_PARAMETERS = ("model_name", "controlnet_name", "db_path", "lora")


def run_generation(fn: Callable[..., GenerationResult], *args, **kwargs) -> GenerationResult:
    """Call a Model method; problems the user can fix become `gr.Error` with the fix, others a short message.

    Stack traces and server paths go to the log, never to the browser.
    """
    try:
        result = fn(*args, **kwargs)
    except (InputError, ModelLoadError, OutOfMemory) as error:
        raise gr.Error(str(error)) from error
    except Exception as error:
        logger.exception("Generation failed")
        raise gr.Error(f"Generation failed ({type(error).__name__}). Try again with other settings.") from error
    for note in result.notes:
        gr.Info(note)
    return result


def connect_generation(
    event: Callable,
    generate: Callable[..., GenerationResult],
    controls: dict[str, gr.components.Component],
    outputs: list[gr.components.Component],
    api_name: str,
    randomize: gr.Checkbox | None = None,
    *,
    models_root: Path,
) -> None:
    """Wire `controls` (named as `generate`'s keyword arguments) to `generate` through `event` (e.g. `button.click`).

    The handler gets an explicit signature with those names, so API clients see the Python API's parameter
    names, and a tqdm-tracking progress bar. The outputs are the video and, where there are two, the seed used.
    With `randomize`, a ticked box turns the seed into -1 (drawn and reported). Model names must be hub ids,
    offline aliases or folders inside `models_root`.
    """
    names = list(controls) + (["randomize_seed"] if randomize is not None else [])

    def handler(*values, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (Gradio's progress idiom)
        kwargs = dict(zip(names, values, strict=True))
        if kwargs.pop("randomize_seed", False):
            kwargs["seed"] = -1
        try:
            for name in MODEL_PARAMETERS:
                if kwargs.get(name):
                    kwargs[name] = check_ui_model_name(kwargs[name], models_root, TINY_ALIASES)
        except InputError as error:
            raise gr.Error(str(error)) from error
        result = run_generation(generate, **kwargs)
        return (result.path, result.seed) if len(outputs) == 2 else result.path

    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
    progress = inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=gr.Progress(track_tqdm=True))
    handler.__signature__ = inspect.Signature([*parameters, progress])
    inputs = list(controls.values()) + ([randomize] if randomize is not None else [])
    event(
        handler,
        inputs=inputs,
        outputs=outputs,
        api_name=api_name,
        concurrency_id=GENERATION_CONCURRENCY_ID,
        concurrency_limit=1,
    )


def seed_controls(default: int = 0) -> tuple[gr.Number, gr.Checkbox]:
    seed = gr.Number(label="Seed", value=default, precision=0, minimum=-1)
    randomize = gr.Checkbox(label="Randomize seed", value=False)
    return seed, randomize


def live_model_search(dropdown: gr.Dropdown, curated: list[str], models_root: Path, online: bool) -> None:
    """As the user types into a model dropdown, offer matching local folders and Hugging Face models."""
    from utils.model_list import model_choices

    def search(query: str):
        return gr.Dropdown(choices=model_choices(curated, models_root, query or "", online))

    dropdown.key_up(
        search,
        [dropdown],
        [dropdown],
        queue=False,
        trigger_mode="always_last",
        api_visibility="private",
        show_progress="hidden",
    )


def model_label(what: str, models_root: Path) -> str:
    """The label of a model field: what it takes, naming the models folder the web UI may read."""
    return f"{what} (a Hugging Face id, or a diffusers folder or .safetensors file in {Path(models_root).name}/)"


def size_and_steps_controls(max_resolution: int, resolution: int, steps: int) -> tuple[gr.Slider, gr.Slider]:
    """The video tabs' row of frame size (long side) and denoising steps."""
    with gr.Row():
        size = gr.Slider(label="Resolution (long side)", minimum=64, maximum=max_resolution, value=resolution, step=8)
        num_steps = gr.Slider(label="Denoising steps", minimum=1, maximum=100, value=steps, step=1)
    return size, num_steps


def lora_controls() -> tuple[gr.Textbox, gr.Slider]:
    with gr.Row():
        lora = gr.Textbox(
            label="LoRA (optional: a Hugging Face id or a .safetensors file in the models folder)", value="", scale=3
        )
        weight = gr.Slider(label="LoRA weight", minimum=-2.0, maximum=2.0, value=1.0, step=0.05, scale=1)
    return lora, weight


def chunking_controls(max_frames: int, chunk_size: int) -> dict[str, gr.components.Component]:
    """Chunk size and token merging, named as the Model's parameters."""
    with gr.Row():
        return {
            "chunk_size": gr.Slider(
                label="Chunk size (frames per pass; lower uses less memory)",
                minimum=2,
                maximum=max_frames,
                value=chunk_size,
                step=1,
            ),
            "merging_ratio": gr.Slider(label="Token merging ratio", minimum=0.0, maximum=0.9, value=0.0, step=0.1),
        }


def video_range_controls(max_frames: int, default_max: int, rate: tuple[str, str, int, float]):
    """Which part of the input video to use: start/end seconds, a frame rate (`rate` = (parameter, label,
    minimum, value)) and the most frames, named as the Model's parameters."""
    name, label, minimum, value = rate
    with gr.Row():
        controls = {
            "start_t": gr.Number(label="Start (s)", value=0, minimum=0),
            "end_t": gr.Number(label="End (s, -1 = to the end)", value=-1, minimum=-1),
        }
    with gr.Row():
        controls[name] = gr.Slider(label=label, minimum=minimum, maximum=30, value=value, step=1)
        controls["max_frames"] = gr.Slider(
            label="Max frames", minimum=1, maximum=max_frames, value=default_max, step=1
        )
    return controls
