"""Helpers the tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def serving(model) -> Iterator[str]:
    """The app of `model`, launched on a free local port for the enclosed block; yields its URL."""
    from app import build_demo

    demo = build_demo(model)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield demo.local_url
    finally:
        demo.close()


def event_index(demo, elem_id: str, trigger: str) -> int:
    """The function index of the event `trigger` (e.g. "upload") of the component with `elem_id`: the page's own
    events are private (no API name), but any HTTP client can still call them by index, as the page does."""
    ids = [block._id for block in demo.blocks.values() if getattr(block, "elem_id", None) == elem_id]
    for index, dependency in enumerate(demo.config["dependencies"]):
        if any(target == [ids[0], trigger] or tuple(target) == (ids[0], trigger) for target in dependency["targets"]):
            return index
    raise LookupError(f"No {trigger} event on #{elem_id}")


def call_event(url: str, fn_index: int, data: list, session: str = "test-session", timeout: float = 120) -> dict:
    """Call an event by its index through the queue, as the page does; returns {"success", "output", "log"}: the
    outputs (or the error) and the messages (gr.Info/gr.Warning) it sent."""
    import json

    import httpx

    base = url.rstrip("/")
    joined = httpx.post(
        f"{base}/gradio_api/queue/join",
        json={"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None},
    )
    joined.raise_for_status()
    event_id = joined.json()["event_id"]
    logs: list[str] = []
    with httpx.stream("GET", f"{base}/gradio_api/queue/data", params={"session_hash": session}, timeout=timeout) as s:
        for line in s.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("event_id") not in (None, event_id):
                continue
            if message.get("msg") == "log":
                logs.append(message.get("log", ""))
            if message.get("msg") == "process_completed":
                return {"success": message.get("success"), "output": message.get("output", {}), "log": logs}
    raise RuntimeError("The event stream ended without a result")


def upload(url: str, path) -> dict:
    """Upload a file as the page does; the file payload a request then sends."""
    from pathlib import Path

    import httpx

    with open(path, "rb") as handle:
        answer = httpx.post(f"{url.rstrip('/')}/gradio_api/upload", files={"files": (Path(path).name, handle)})
    answer.raise_for_status()
    return {"path": answer.json()[0], "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}


# The text-to-video endpoint as first published: 19 values, randomize_seed last.
TEXT2VIDEO_VALUES = '["a cat", "tiny-sd", 12, 12, 0, 1, "", 2, 2, 0.0, 0, 64, 4, 3, 7.5, "", "", 1.0, false]'


def web(model, method: str, *args, job=None, **kwargs):
    """Call a Model method as a web request does: the web's rules apply (and `job`, if given, is the request's)."""
    from utils.jobs import Job, RequestRules, job_scope

    with job_scope(job or Job()):
        return getattr(model, method)(*args, rules=RequestRules.web(model.settings), **kwargs)


def video_of(result) -> str:
    """The video of an endpoint's answer (the video alone, or (video, seed))."""
    result = result[0] if isinstance(result, tuple | list) else result
    return result["video"] if isinstance(result, dict) else result


def call_raw(url: str, endpoint: str, data) -> str:
    """A request as any HTTP client sends it (Gradio's two-step call API) with `data` (a JSON text, or values to
    encode); returns the event stream's text."""
    import json

    import httpx

    base = url.rstrip("/")
    content = data if isinstance(data, str) else json.dumps(data)
    event = httpx.post(
        f"{base}/gradio_api/call/{endpoint}",
        content=f'{{"data": {content}}}',
        headers={"content-type": "application/json"},
    ).json()["event_id"]
    return httpx.get(f"{base}/gradio_api/call/{endpoint}/{event}", timeout=120).text


@contextmanager
def serving_with_login(settings, args: list[str] | None = None) -> Iterator[tuple[str, object]]:
    """The app of `settings` (which name a login) launched as `python app.py [args]` launches it; yields its URL
    (without the trailing slash) and its login throttle (`utils.login.LoginThrottle`)."""
    from app import build_demo, launch_options, parse_args
    from model import Model

    options = launch_options(settings, parse_args(args or []))
    demo = build_demo(Model(settings=settings))
    demo.launch(
        prevent_thread_lock=True,
        server_name="127.0.0.1",
        quiet=True,
        auth=options["auth"],
        app_kwargs=options["app_kwargs"],
        trusted_proxies=options["trusted_proxies"],
    )
    try:
        yield demo.local_url.rstrip("/"), options["auth"].__self__
    finally:
        demo.close()


@contextmanager
def stopping_after(steps: int) -> Iterator[tuple]:
    """A job whose Stop is pressed after `steps` denoising steps (the Model's step callback wrapped while the block
    runs), and the list of steps seen: (job, calls)."""
    import model as model_module
    from utils.jobs import Job, on_step

    job, calls = Job(), []

    def stop_after(pipe, step, timestep, tensors):
        calls.append(step)
        if len(calls) == steps:
            job.stop.set()
        return on_step(pipe, step, timestep, tensors)

    original, model_module.on_step = model_module.on_step, stop_after
    try:
        yield job, calls
    finally:
        model_module.on_step = original
