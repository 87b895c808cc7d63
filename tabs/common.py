"""What the tabs share: one concurrency id for every generation event, errors the user can read, generation
handlers that can be stopped, and examples cached on first use. The shared controls are in `tabs.controls`."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
from collections.abc import Callable

import gradio as gr

from errors import InputError, StudioError
from model import GenerationResult
from registry import Mode
from settings import Settings
from tabs.card_upload import connect_card_upload
from tabs.results import LATEST, RUNNING, connect_result_extras, page_key, preview_sink, result_extras
from tabs.web_rules import check_model_names
from utils.jobs import Job, RequestRules, job_scope
from utils.validation import as_flag

logger = logging.getLogger(__name__)

# Every generation event shares one worker: the GPU runs one request at a time, the rest wait in the queue.
GENERATION_CONCURRENCY_ID = "generation"
# Parameters the endpoints gained after they were published, in the order they came: they go last.
ADDED_LATER = (
    "output_format",
    "smooth_fps",
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
    "free_init_iterations",
    "consistency",
    "flow_fusion",
    "frame_smoother",
    "vidtome_local",
    "vidtome_global",
    "motion_adapter",
    "strength",
    "context_length",
    "context_stride",
    "split_inference",
    "motion_lora",
    "motion_lora_weight",
    "sparse_control",
    "sparse_control_scale",
    "context_scope",
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

    def launch(
        self,
        *args,
        js: str | None = None,
        app_kwargs: dict | None = None,
        trusted_proxies: tuple[str, ...] = (),
        **kwargs,
    ):
        """Gradio's launch, with the page's script and guards on its routes: a cancel stops exactly the job it names
        (`ExactCancel`); with a login every route but the login page needs it (`RequireLogin`); and the client's
        address is taken from X-Forwarded-For only from `trusted_proxies` (the web server, uvicorn, would otherwise
        believe any process on this machine, the share tunnel's visitors included, about their address)."""
        from starlette.middleware import Middleware

        from utils.cancel import ExactCancel
        from utils.login import RequireLogin

        app_kwargs = dict(app_kwargs or {})
        # The first is the outermost: the login is checked before a cancel is carried out.
        guards = [*([Middleware(RequireLogin)] if kwargs.get("auth") else []), Middleware(ExactCancel)]
        app_kwargs["middleware"] = [*guards, *(app_kwargs.get("middleware") or [])]
        previous = os.environ.get("FORWARDED_ALLOW_IPS")
        os.environ["FORWARDED_ALLOW_IPS"] = ",".join(trusted_proxies)  # read by uvicorn as the server starts
        try:
            return super().launch(*args, js=js or PAGE_JS, app_kwargs=app_kwargs, **kwargs)
        finally:
            if previous is None:
                os.environ.pop("FORWARDED_ALLOW_IPS", None)
            else:
                os.environ["FORWARDED_ALLOW_IPS"] = previous

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
            if not isinstance(block, FILE_INPUTS) or value is None:
                continue
            kind = "picture" if isinstance(block, gr.Image) else "video" if isinstance(block, gr.Video) else "file"
            is_file = isinstance(value, dict) and isinstance(value.get("path"), str)
            if not is_file:
                raise gr.Error(
                    f"{name} must be an uploaded {kind} file (with gradio_client: handle_file(path)), got "
                    f"{type(value).__name__}."
                )
            if not self.is_upload(value["path"]):
                raise gr.Error(
                    f"{name} names a file that was not uploaded to this app: upload the {kind} (with gradio_client: "
                    "handle_file(path)); files of the server are never read for a request."
                )
        super().validate_inputs(block_fn, inputs)

    def get_api_info(self, all_endpoints: bool = False, page: str | None = None):
        """Gradio's API description, without the server's files: an input whose default is a file of the server
        (a tab's example video) is shown without one; an API client sends its own."""
        info = super().get_api_info(all_endpoints=all_endpoints, page=page)
        for endpoint in [*info.get("named_endpoints", {}).values(), *info.get("unnamed_endpoints", {}).values()]:
            for parameter in endpoint.get("parameters", []):
                default = parameter.get("parameter_default")
                if isinstance(default, dict) and "path" in default:
                    parameter["parameter_has_default"], parameter["parameter_default"] = False, None
        return info

    def is_upload(self, path: str) -> bool:
        """Whether a request's file is one this app may read: an upload (Gradio's upload folder) or a file it
        serves itself (its outputs and examples, sent back as inputs). Gradio refuses the others itself, but its
        clients then get no message."""
        from gradio import utils as gradio_utils

        if "\0" in path:
            return False
        if gradio_utils.is_static_file(path):
            return True
        allowed, _ = gradio_utils.is_allowed_file(
            gradio_utils.abspath(path),
            blocked_paths=self.blocked_paths,
            allowed_paths=[],
            created_paths=[gradio_utils.get_upload_folder()],
        )
        return allowed


def run_generation(fn: Callable[..., GenerationResult], *args, **kwargs) -> GenerationResult:
    """Call a Model method; problems the user can fix become `gr.Error` with the fix, others a short message.

    Stack traces and server paths go to the log, never to the browser.
    """
    try:
        result = fn(*args, **kwargs)
    except StudioError as error:  # a message the user can act on
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


def _uploaded_picture(payload):
    """An uploaded picture as the path of the upload, not decoded here: Gradio's own preprocessing would open it
    with PIL first (a decompression bomb, a text file named .png or a truncated file then fails with no message);
    the Model reads it, bounded by its pixel count, and names the problem."""
    if payload is None:
        return None
    if not getattr(payload, "path", None):
        raise gr.Error("The picture must be an uploaded file (with gradio_client: handle_file(path)).")
    return payload.path


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


def _generate_in_job(job: Job, generate: Callable[..., GenerationResult], kwargs: dict, settings: Settings):
    """The worker side of a web request, as `job`: the web's rules (model names, flags, `RequestRules.web`) and the
    Model call."""
    with job_scope(job):
        try:
            if as_flag("randomize_seed", kwargs.pop("randomize_seed", False)):
                kwargs["seed"] = -1
            kwargs = check_model_names(kwargs, settings.models_root)
        except InputError as error:
            raise gr.Error(str(error)) from error
        return run_generation(generate, **kwargs, rules=RequestRules.web(settings))


def connect_generation(
    event: Callable,
    model,
    mode: Mode,
    controls: dict[str, gr.components.Component],
    outputs: list[gr.components.Component],
    randomize: gr.Checkbox | None = None,
    *,
    stop: gr.Button | None = None,
):
    """Wire `controls` (named as the mode's parameters) to the `model`'s method of `mode` (`registry.Mode`: the
    endpoint is named after it) through `event` (e.g. `button.click`).

    The handler gets an explicit signature with those names, so API clients see the Python API's parameter
    names, and a tqdm-tracking progress bar. The outputs are the video and, where there are two, the seed used.
    With `randomize`, a ticked box turns the seed into -1 (drawn and reported). Model names must be hub ids,
    offline aliases or folders inside the settings' models root. Values reach the Model as sent (it checks them).

    The Model runs in a worker thread as a web `Job`. Cancelling the event (the `stop` button, an API client's
    cancel) or the client going away (a closed tab) sets the job's stop flag: the denoising loop ends within one
    step, nothing is written, and the handler returns only then, so the queue's worker is free for the next request.
    Returns the event's dependency.
    """
    generate, api_name, settings = getattr(model, mode.method), mode.name, model.settings
    # Parameters added after the endpoints were published go after randomize_seed: positional clients keep theirs.
    first = {name: control for name, control in controls.items() if name not in ADDED_LATER}
    later = {name: controls[name] for name in ADDED_LATER if name in controls}  # in the order they came
    ordered = {**first, **({"randomize_seed": randomize} if randomize is not None else {}), **later}
    names = list(ordered)

    async def handler(*values):
        *values, request, _progress = values
        kwargs = dict(zip(names, values, strict=True))
        job, key = Job(preview=preview_sink(request, api_name)), page_key(request, api_name)
        if key:
            RUNNING.put(key, job)  # for the Stop's note
        # The copied context carries Gradio's progress tracker into the worker thread.
        run = contextvars.copy_context().run
        future = asyncio.get_running_loop().run_in_executor(
            None, run, _generate_in_job, job, generate, kwargs, settings
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
        finally:
            job.finished.set()
        if key:
            LATEST.put(key, result)  # for the page's follow-up: the card, the history
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
        if isinstance(control, gr.Image):
            control.preprocess = _uploaded_picture
        elif not isinstance(control, FILE_INPUTS):
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
    if mode.label:  # a tab's own mode: a dropped card (or a clip of its history) fills its controls
        extras = result_extras(outputs[0])
        connect_card_upload(mode, ordered, settings, extras.history if extras is not None else None)
    return dependency


def tab_examples(
    model,
    mode: Mode,
    rows: list[list],
    inputs: dict[str, gr.components.Component],
    outputs: list[gr.components.Component],
    page_only: tuple[str, ...] = (),
) -> gr.Examples:
    """A tab's examples: each row sets `inputs` (named as the mode's parameters, but for the `page_only` ones).

    Where the settings cache examples (the hub models, T2VZ_CACHE_EXAMPLES), they are cached lazily: the first click
    on an example makes its video with the mode's defaults for everything else, later clicks, from any visitor,
    show that video at once (kept in T2VZ_EXAMPLES_CACHE_DIR)."""
    if not model.settings.caches_examples:
        return gr.Examples(examples=rows, inputs=list(inputs.values()))
    names = list(inputs)

    def make(*values):
        kwargs = {name: value for name, value in zip(names, values, strict=True) if name not in page_only}
        result = run_generation(getattr(model, mode.method), **kwargs, rules=RequestRules.web(model.settings))
        return result.path, result.seed

    return gr.Examples(
        examples=rows,
        inputs=list(inputs.values()),
        outputs=outputs,
        fn=make,
        cache_examples=True,
        cache_mode="lazy",
    )
