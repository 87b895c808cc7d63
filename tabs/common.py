"""What the tabs share: one concurrency id for every generation event, errors the user can read, and generation
handlers that can be stopped."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from cards import MODES, Card
from model import TINY_ALIASES, GenerationResult, ModelLoadError, OutOfMemory
from modes import LORA_WEIGHTS, MAX_FEATURE_REUSE, MAX_MERGING_RATIO, MIN_CHUNK, Call, SDCall
from pipelines.base import VP_NAMES
from pipelines.cross_frame_attention import CROSS_FRAME_MODES
from tabs.results import connect_result_extras, preview_sink, result_controls  # noqa: F401 (tabs import it here)
from utils.jobs import Cancelled, Job, job_scope
from utils.validation import InputError, as_flag, check_ui_model_name
from utils.video import MAX_SMOOTH_FPS, OutputError

logger = logging.getLogger(__name__)

# Every generation event shares one worker: the GPU runs one request at a time, the rest wait in the queue.
GENERATION_CONCURRENCY_ID = "generation"
# Parameters that name a model: from the web, only hub ids, offline aliases or folders under the models root.
MODEL_PARAMETERS = ("model_name", "controlnet_name", "db_path", "lora")
# Parameters the endpoints gained after they were published, in the order they came: they go last.
ADDED_LATER = (
    "scheduler",
    "feature_reuse",
    "cross_frame",
    "motion_zoom",
    "motion_rotation",
    "motion_path",
    "image",
    "image_strength",
    "smooth_bg",
    "smooth_bg_strength",
    "smooth_bg_mask",
    "use_cf_attn",
    "use_motion_field",
    "shared_noise",
)
# Inputs whose values Gradio must still process itself: files (its checks keep requests to uploaded files).
FILE_INPUTS = (gr.Video, gr.File, gr.Image)


# The page's script: a number typed into a slider's box beyond its range is set to the bound when the box loses
# focus (Gradio does that silently, on its change event: this listener runs first); say so beside the slider.
PAGE_JS = """
() => {
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "number" || box.value === "") return;
    const value = Number(box.value), low = Number(box.min), high = Number(box.max);
    const bound = box.max !== "" && value > high ? ["above its maximum", high]
                : box.min !== "" && value < low ? ["below its minimum", low] : null;
    if (!bound) return;
    const name = (box.getAttribute("aria-label") || "").replace(/^number input for /, "") || "This value";
    const block = box.closest(".block") || box.parentElement;
    block.querySelector(":scope > .t2vz-clamp-note")?.remove();
    const note = document.createElement("div");
    note.className = "t2vz-clamp-note";
    note.setAttribute("role", "status");
    note.style.cssText = "color: var(--color-accent); font-size: var(--text-sm); padding: 4px 0;";
    note.textContent = `${name}: ${box.value} is ${bound[0]}, ${bound[1]}; it is set to ${bound[1]}.`;
    block.appendChild(note);
    setTimeout(() => note.remove(), 8000);
  }, true);
}
"""


class StudioBlocks(gr.Blocks):
    """The app's Blocks. A request that misses values, or sends something other than an uploaded file where a video
    goes, gets a message naming the parameter: Gradio's own checks fail with errors its clients see only as "The
    upstream Gradio app has raised an exception". A request without the parameters added since an endpoint was
    published (ADDED_LATER) gets their defaults. The page runs `PAGE_JS` unless `launch` is given its own."""

    def launch(self, *args, js: str | None = None, **kwargs):
        return super().launch(*args, js=js or PAGE_JS, **kwargs)

    def validate_inputs(self, block_fn, inputs: list) -> None:
        names = list(inspect.signature(block_fn.fn).parameters) if block_fn.fn else []
        names = [*names[: len(block_fn.inputs)], *(b.label or f"value {i + 1}" for i, b in enumerate(block_fn.inputs))]
        missing = names[len(inputs) : len(block_fn.inputs)]
        if missing and all(name in ADDED_LATER for name in missing):
            # A client of the endpoint as first published: the parameters added since take their defaults.
            inputs.extend(block.value for block in block_fn.inputs[len(inputs) :])
        if len(inputs) < len(block_fn.inputs):
            wanted = names[: len(block_fn.inputs)]
            raise gr.Error(
                f"Missing value for {', '.join(wanted[len(inputs) :])}: this endpoint takes {len(wanted)} values, in "
                f"this order: {', '.join(wanted)}."
            )
        for name, block, value in zip(names, block_fn.inputs, inputs, strict=False):
            is_file = isinstance(value, dict) and isinstance(value.get("path"), str)
            if isinstance(block, FILE_INPUTS) and value is not None and not is_file:
                raise gr.Error(
                    f"{name} must be an uploaded video file (with gradio_client: handle_file(path)), got "
                    f"{type(value).__name__}."
                )
        super().validate_inputs(block_fn, inputs)


def run_generation(fn: Callable[..., GenerationResult], *args, **kwargs) -> GenerationResult:
    """Call a Model method; problems the user can fix become `gr.Error` with the fix, others a short message.

    Stack traces and server paths go to the log, never to the browser.
    """
    try:
        result = fn(*args, **kwargs)
    except (InputError, ModelLoadError, OutOfMemory, OutputError, Cancelled) as error:
        raise gr.Error(str(error)) from error
    except Exception as error:
        logger.exception("Generation failed")
        raise gr.Error(f"Generation failed ({type(error).__name__}). Try again with other settings.") from error
    for note in result.notes:
        gr.Info(note)
    return result


def _as_sent(payload):
    """A request's value as sent. Gradio's own preprocessing bounds values with messages that name no field ("Value
    17 is greater than maximum value 9"), turns any text into a prompt and rounds a float seed silently; the Model
    checks every value itself and names the parameter in its message."""
    return payload


def _client_gone() -> Callable[[], bool]:
    """Whether the client of the running request has gone: its tab closed or its result stream dropped. Gradio then
    marks the request's queue event as no longer alive, but offers no public hook for it, so this reads the event
    (gradio is pinned); where it cannot be found, the client never counts as gone. The heartbeat behind Gradio's
    `unload` is no such signal: an API client's heartbeat may time out on a busy server while it still waits for its
    result."""
    from gradio.context import LocalContext

    queue = getattr(LocalContext.blocks.get(None), "_queue", None)
    event = getattr(queue, "event_ids_to_events", {}).get(LocalContext.event_id.get(None))
    return lambda: event is not None and not getattr(event, "alive", True)


def _generate_in_job(job: Job, generate: Callable[..., GenerationResult], kwargs: dict, models_root: Path):
    """The worker side of a web request: the web's rules (model names, flags) and the Model call, as `job`."""
    with job_scope(job):
        try:
            if as_flag("randomize_seed", kwargs.pop("randomize_seed", False)):
                kwargs["seed"] = -1
            for name in MODEL_PARAMETERS:
                if kwargs.get(name):
                    what = "LoRA" if name == "lora" else "Model"
                    kwargs[name] = check_ui_model_name(kwargs[name], models_root, TINY_ALIASES, what)
        except InputError as error:
            raise gr.Error(str(error)) from error
        return run_generation(generate, **kwargs)


def connect_generation(
    event: Callable,
    generate: Callable[..., GenerationResult],
    controls: dict[str, gr.components.Component],
    outputs: list[gr.components.Component],
    api_name: str,
    randomize: gr.Checkbox | None = None,
    *,
    models_root: Path,
    stop: gr.Button | None = None,
):
    """Wire `controls` (named as `generate`'s keyword arguments) to `generate` through `event` (e.g. `button.click`).

    The handler gets an explicit signature with those names, so API clients see the Python API's parameter
    names, and a tqdm-tracking progress bar. The outputs are the video and, where there are two, the seed used.
    With `randomize`, a ticked box turns the seed into -1 (drawn and reported). Model names must be hub ids,
    offline aliases or folders inside `models_root`. Values reach the Model as sent (it checks them).

    The Model runs in a worker thread as a web `Job`. Cancelling the event (the `stop` button, an API client's
    cancel) or the client going away (a closed tab) sets the job's stop flag: the denoising loop ends within one
    step, nothing is written, and the handler returns only then, so the queue's worker is free for the next request.
    Returns the event's dependency.
    """
    # Parameters added after the endpoints were published go after randomize_seed: positional clients keep theirs.
    first = {name: control for name, control in controls.items() if name not in ADDED_LATER}
    later = {name: control for name, control in controls.items() if name in ADDED_LATER}
    ordered = {**first, **({"randomize_seed": randomize} if randomize is not None else {}), **later}
    names = list(ordered)

    async def handler(*values):
        *values, request, _progress = values
        kwargs = dict(zip(names, values, strict=True))
        job = Job(from_web=True, preview=preview_sink(request, api_name))
        # The copied context carries Gradio's progress tracker into the worker thread.
        run = contextvars.copy_context().run
        future = asyncio.get_running_loop().run_in_executor(
            None, run, _generate_in_job, job, generate, kwargs, models_root
        )
        gone = _client_gone()
        try:
            while not future.done():
                await asyncio.wait([future], timeout=0.5)
                if gone():
                    job.stop.set()
            result = future.result()
        except asyncio.CancelledError:
            job.stop.set()
            await asyncio.wait([future])  # within one denoising step
            future.exception()  # retrieved: the worker's Cancelled is expected, not an error to log
            raise
        return (result.path, result.seed) if len(outputs) == 2 else result.path

    # Gradio finds its progress tracker among the positional parameters only (a keyword-only one is never fed, and
    # no step progress would reach the page), by its default.
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    # The later parameters default to their controls' values: API clients may leave them out (an optional image too).
    parameters = [
        inspect.Parameter(name, positional, **({"default": ordered[name].value} if name in later else {}))
        for name in names
    ]
    progress = inspect.Parameter("progress", positional, default=gr.Progress(track_tqdm=True))
    request = inspect.Parameter("request", positional, default=None, annotation=gr.Request)  # given by Gradio
    handler.__signature__ = inspect.Signature([*parameters, request, progress])  # type: ignore[attr-defined]
    handler.__annotations__ = {"request": gr.Request}  # Gradio finds the request by the annotations
    for control in controls.values():
        if not isinstance(control, FILE_INPUTS):
            control.preprocess = _as_sent
    if randomize is not None:
        randomize.preprocess = _as_sent
    inputs = list(ordered.values())

    def connect():
        dependency = event(
            handler,
            inputs=inputs,
            outputs=outputs,
            api_name=api_name,
            concurrency_id=GENERATION_CONCURRENCY_ID,
            concurrency_limit=getattr(generate, "concurrency", 1),  # one generation per device
            show_progress_on=outputs[:1],  # one progress bar, on the video, not on every output
        )
        if stop is not None:
            stop.click(None, cancels=[dependency], queue=False, api_visibility="private")
        return dependency

    dependency = connect_result_extras(outputs[0], event, api_name, stop, connect)
    connect_card_upload(generate, ordered, api_name)
    return dependency


QUALITY_PRESET, FAST_PRESET = "Quality", "Fast (4-8 steps)"


def preset_control() -> gr.Radio:
    """The speed preset (page only: it sets other controls, see `connect_speed_preset`)."""
    return gr.Radio(
        label="Preset (Fast: the LCM scheduler, few steps, no guidance and, with hub models, the LCM-LoRA)",
        choices=[QUALITY_PRESET, FAST_PRESET],
        value=QUALITY_PRESET,
    )


def scheduler_control(choices: tuple[str, ...] = VP_NAMES) -> gr.Dropdown:
    """The scheduler, named as the Model's parameter; "default": the model's own."""
    return gr.Dropdown(
        label="Scheduler (default: the model's own; lcm and tcd need a distillation LoRA such as LCM-LoRA)",
        choices=["default", *choices],
        value="default",
    )


def connect_speed_preset(
    preset: gr.Radio,
    settings,
    targets: dict[str, gr.components.Component],
    quality: dict,
    model_name: gr.components.Component | None = None,
) -> None:
    """Choosing a preset sets `targets` (scheduler, num_inference_steps, guidance_scale, lora, lora_weight, and t0/t1
    where given): Quality to the tab's `quality` values, Fast to the LCM scheduler, few steps, guidance 1 (off),
    the method's T/T' on that schedule and the base model's LCM-LoRA (`model_name`'s family; SD 1.x without one)."""
    names = list(targets)

    def choose(chosen: str, *model):
        base = model[0] if model else settings.default_sd_model
        fast = {
            "scheduler": "lcm",
            "num_inference_steps": settings.fast_steps,
            "guidance_scale": 1.0,
            "lora": settings.fast_lora(base),
            "lora_weight": 1.0,
            "t0": -1,
            "t1": -1,
        }
        values = fast if chosen == FAST_PRESET else quality
        return [gr.update(value=values[name]) if name in values else gr.update() for name in names]

    inputs = [preset] + ([model_name] if model_name is not None else [])
    preset.input(choose, inputs, list(targets.values()), queue=False, api_visibility="private")


def tab_examples(
    model,
    rows: list[list],
    inputs: dict[str, gr.components.Component],
    generate: Callable[..., GenerationResult],
    outputs: list[gr.components.Component],
    page_only: tuple[str, ...] = (),
) -> gr.Examples:
    """A tab's examples: each row sets `inputs` (named as `generate`'s parameters, but for the `page_only` ones).

    Where the settings cache examples (the hub models, T2VZ_CACHE_EXAMPLES), they are cached lazily: the first click
    on an example makes its video with the mode's defaults for everything else, later clicks, from any visitor,
    show that video at once (kept in T2VZ_EXAMPLES_CACHE_DIR)."""
    if not model.settings.caches_examples:
        return gr.Examples(examples=rows, inputs=list(inputs.values()))
    names = list(inputs)

    def make(*values):
        kwargs = {name: value for name, value in zip(names, values, strict=True) if name not in page_only}
        result = run_generation(generate, **kwargs)
        return result.path, result.seed

    return gr.Examples(
        examples=rows,
        inputs=list(inputs.values()),
        outputs=outputs,
        fn=make,
        cache_examples=True,
        cache_mode="lazy",
    )


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


def generate_buttons(label: str = "Generate") -> tuple[gr.Button, gr.Button]:
    """The run button and, beside it, Stop: it ends the running generation within one denoising step."""
    with gr.Row():
        run = gr.Button(label, variant="primary", scale=3)
        stop = gr.Button("Stop", variant="stop", scale=1)
    return run, stop


def output_controls() -> dict[str, gr.components.Component]:
    """The file's format and an optional smoothing to a higher frame rate, named as the Model's parameters."""
    with gr.Row():
        return {
            "output_format": gr.Radio(label="Output format", choices=["mp4", "webm", "gif"], value="mp4"),
            "smooth_fps": gr.Slider(
                label="Smooth to fps (motion interpolation; 0 = off)",
                minimum=0,
                maximum=MAX_SMOOTH_FPS,
                value=Call.default("smooth_fps"),
                step=1,
            ),
        }


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
        low, high = LORA_WEIGHTS
        default = SDCall.default("lora_weight")
        weight = gr.Slider(label="LoRA weight", minimum=low, maximum=high, value=default, step=0.05, scale=1)
    return lora, weight


def chunking_controls(max_frames: int, chunk_size: int) -> dict[str, gr.components.Component]:
    """Chunk size and token merging, named as the Model's parameters."""
    with gr.Row():
        return {
            "chunk_size": gr.Slider(
                label="Chunk size (frames per pass; lower uses less memory)",
                minimum=MIN_CHUNK,
                maximum=max_frames,
                value=chunk_size,
                step=1,
            ),
            "merging_ratio": gr.Slider(
                label="Token merging ratio (faster, less detail)",
                minimum=0.0,
                maximum=MAX_MERGING_RATIO,
                value=SDCall.default("merging_ratio"),
                step=0.1,
            ),
        }


def cross_frame_control() -> gr.Radio:
    """What each frame attends to, named as the Model's parameter."""
    return gr.Radio(
        label="Cross-frame attention (anchor: the paper's; sparse-causal: the anchor and the previous frame)",
        choices=list(CROSS_FRAME_MODES),
        value="anchor",
    )


def feature_reuse_control() -> gr.Slider:
    """Feature reuse, named as the Model's parameter (an endpoint's new parameters go after its older ones)."""
    return gr.Slider(
        label="Feature reuse (the UNet's deep blocks run every k steps, reused between: faster; 1 = exact)",
        minimum=1,
        maximum=MAX_FEATURE_REUSE,
        value=SDCall.default("feature_reuse"),
        step=1,
    )


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
