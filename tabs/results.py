"""The result side of a tab: the video, the seed that made it, a live preview while it is made, and GIF results
shown as pictures (a browser's video player cannot play a GIF).

The preview and the GIF picture belong to the page only: the endpoints' outputs stay (video, seed), and API
clients cost no preview decoding.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from gradio.data_classes import FileData

from tabs.controls import page_helper
from tabs.history import History, chosen_entry, history_controls, with_result
from utils.validation import as_flag

PREVIEW_POLL_SECONDS = 0.5
PREVIEW_HEIGHT = 160  # px: small previews are enlarged to about this height
PRIVATE = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}


def passing_gifs(postprocess: Callable) -> Callable:
    """A video's postprocessing that sends a GIF result out as written: Gradio would otherwise convert it to mp4 with
    a system ffmpeg (an API client asked for a GIF), and without one the page's player could not play it anyway.
    (Set on the instance: a subclass of gr.Video would count as a custom component with its own frontend.)"""

    def postprocess_passing_gifs(value):
        if isinstance(value, (str, Path)) and str(value).lower().endswith(".gif"):
            return FileData(path=str(value), orig_name=Path(value).name)
        return postprocess(value)

    return postprocess_passing_gifs


@dataclass
class ResultExtras:
    """What the page adds to a result: the live preview (picture, on/off, the timer that fetches it while this
    page's generation runs), the picture that shows a GIF result, the seed as text, the clip's card to download,
    and the note a Stop leaves in place of the result."""

    preview: gr.Image
    show_preview: gr.Checkbox
    timer: gr.Timer
    gif: gr.Image
    seed_text: gr.Textbox
    card: gr.File
    status: gr.Markdown
    history: History


# The extras of each result video, found by `connect_generation` from the video it fills.
_EXTRAS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def result_extras(video) -> ResultExtras | None:
    return _EXTRAS.get(video)


class PreviewBoard:
    """The latest preview picture of each page's running generation, keyed by (browser session, endpoint).

    A page asks for previews when it starts a generation (`want`); the generation posts pictures (`post`) only where
    one was asked for; the page's timer takes each new picture once (`take`) and stops once the generation has ended
    (`end`). The session id is the client's to choose, so no caller can push out another's entry: a session holds
    at most `per_session` entries, the board at most `limit`, and a new entry beyond either is refused (that page
    shows no preview) rather than evicting one. An entry nobody polls or posts to for `idle_seconds` (a page that
    went away, or made-up sessions) expires.
    """

    def __init__(
        self, limit: int = 256, per_session: int = 8, idle_seconds: float = 30.0, clock=time.monotonic
    ) -> None:
        self._entries: dict[tuple[str, str], dict] = {}
        self._lock = threading.Lock()
        self._limit, self._per_session, self._idle, self._clock = limit, per_session, idle_seconds, clock

    def want(self, key: tuple[str, str]) -> bool:
        """Start an entry for a page's generation; False where it is refused (see the class)."""
        with self._lock:
            now = self._clock()
            for stale in [k for k, entry in self._entries.items() if now - entry["touched"] > self._idle]:
                del self._entries[stale]
            if key not in self._entries:
                mine = sum(1 for session, _ in self._entries if session == key[0])
                if mine >= self._per_session or len(self._entries) >= self._limit:
                    return False
            self._entries[key] = {"image": None, "new": False, "ended": False, "touched": now}
            return True

    def wanted(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return key in self._entries

    def post(self, key: tuple[str, str], image) -> None:
        with self._lock:
            if key in self._entries:
                self._entries[key].update(image=image, new=True, touched=self._clock())

    def end(self, key: tuple[str, str]) -> None:
        with self._lock:
            if key in self._entries:
                self._entries[key]["ended"] = True

    def take(self, key: tuple[str, str]) -> tuple[object | None, bool]:
        """(a picture not taken before, or None; whether the generation has ended, which forgets the entry)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None, True
            image = entry["image"] if entry["new"] else None
            entry["new"], entry["touched"] = False, self._clock()
            if entry["ended"]:
                del self._entries[key]
            return image, entry["ended"]


PREVIEWS = PreviewBoard()


class PageStore:
    """A value per page (browser session and endpoint) handed from a generation (an endpoint: its outputs stay video
    and seed) to the page's own follow-ups. Pages take theirs at once; entries nobody takes (API clients'
    generations) are dropped oldest first beyond `limit`."""

    def __init__(self, limit: int = 1024) -> None:
        self._entries: OrderedDict[tuple[str, str], object] = OrderedDict()
        self._lock, self._limit = threading.Lock(), limit

    def put(self, key: tuple[str, str], value) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = value
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)

    def get(self, key: tuple[str, str]):
        with self._lock:
            return self._entries.get(key)

    def take(self, key: tuple[str, str]):
        with self._lock:
            return self._entries.pop(key, None)


LATEST = PageStore()  # each page's latest result (`GenerationResult`): its card, its place in the history
RUNNING = PageStore()  # each page's latest job (`utils.jobs.Job`): what a Stop reports on
STOP_WAIT_SECONDS = 30  # how long the Stop's note waits for the generation to end (within one step, normally)


def page_key(request: gr.Request | None, api_name: str) -> tuple[str, str] | None:
    """What a page's generation is known by (its browser session and endpoint): its previews, its job, its result."""
    session = getattr(request, "session_hash", None)
    return (session, api_name) if session else None


def enlarged(image, height: int = PREVIEW_HEIGHT):
    """A small preview (latent-to-RGB pictures are 1/8 of the frame size) repeated pixel by pixel up to about
    `height`: the page shows it sharp instead of blurring it up."""
    import numpy as np

    factor = max(1, -(-height // max(1, image.shape[0])))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1) if factor > 1 else image


def preview_sink(request: gr.Request | None, api_name: str) -> Callable[[object], None] | None:
    """Where a generation of this request posts its previews: its page's board entry, if the page asked for one."""
    key = page_key(request, api_name)
    if key is None or not PREVIEWS.wanted(key):
        return None
    return lambda image: PREVIEWS.post(key, enlarged(image))


def result_controls(label: str, elem_id: str) -> tuple[gr.Video, gr.Number]:
    """The result video (an output: no upload or webcam box) and the seed that made it: a number for the API, shown
    on the page as text that stays empty until there is a seed (an empty Number reads 0). Below them, the page's
    live preview and, for a GIF result, the GIF itself (`ResultExtras`)."""
    # No `format`: Gradio would convert a WebM result with a system ffmpeg; mp4 and WebM both play in browsers.
    result = gr.Video(label=label, autoplay=True, loop=True, interactive=False, elem_id=elem_id)
    result.postprocess = passing_gifs(result.postprocess)  # type: ignore[method-assign]
    gif = gr.Image(label="Result (GIF)", type="filepath", visible=False, interactive=False, elem_id=f"{elem_id}-gif")
    seed_used = gr.Number(label="Seed used (number)", value=None, precision=0, interactive=False, visible=False)
    shown = gr.Textbox(label="Seed used", value="", interactive=False)
    seed_used.change(page_helper(lambda seed: "" if seed is None else str(int(seed))), seed_used, shown, **PRIVATE)
    status = gr.Markdown(visible=False, elem_id=f"{elem_id}-status")
    card = gr.File(
        label="Card of this clip (drop it on a tab to make it again)",
        visible=False,
        interactive=False,
        elem_id=f"{elem_id}-card",
    )
    preview = gr.Image(
        label="Preview (the first frames, as the denoising goes)",
        visible=False,
        interactive=False,
        elem_id=f"{elem_id}-preview",
    )
    show_preview = gr.Checkbox(label="Show a live preview while generating", value=True)
    history = history_controls(elem_id)

    def show_gif(path):
        """A GIF result shows as a picture, in place of the video player."""
        is_gif = isinstance(path, str) and path.lower().endswith(".gif")
        return gr.Video(visible=not is_gif), gr.Image(value=path if is_gif else None, visible=is_gif)

    result.change(page_helper(show_gif), [result], [result, gif], **PRIVATE)
    timer = gr.Timer(PREVIEW_POLL_SECONDS, active=False)
    _EXTRAS[result] = ResultExtras(preview, show_preview, timer, gif, shown, card, status, history)
    return result, seed_used


def stopped_note(steps: tuple[int, int] | None) -> str:
    if steps is None:
        return "**Stopped** before the denoising began; nothing was written."
    done, total = steps
    return f"**Stopped** at step {done} of {total}; nothing was written."


def connect_result_extras(result: gr.Video, event: Callable, api_name: str, stop, connect: Callable[[], object]):
    """The page's side of a generation that fills `result`: `connect()` wires the generation itself to `event` (e.g.
    a button's click) and returns its dependency. Before it, on the same click (registered first: the page runs a
    click's listeners one after another), Stop becomes active, the video player shows again and, with previews on,
    the preview clears and its timer starts; each tick shows a new picture; the generation's end, success or not,
    stops the timer, hides the preview and makes Stop inactive again; a success offers the clip's card. A Stop
    shows, in place of the result, at which of the user's steps it stopped. Returns the generation's dependency."""
    extras = result_extras(result)
    if extras is None:
        return _connect_stop_button(event, stop, connect)

    def start(enabled, request: gr.Request):
        key = page_key(request, api_name)
        on = as_flag("preview", enabled) and key is not None and PREVIEWS.want(key)  # type: ignore[arg-type]
        hidden = {"visible": False}
        return (
            gr.Image(value=None, visible=on),
            gr.Timer(active=on),
            gr.Video(visible=True),
            gr.Image(**hidden),
            gr.Markdown(**hidden),
            gr.File(**hidden),
            gr.Button(interactive=True),
        )

    def tick(request: gr.Request):
        key = page_key(request, api_name)
        image, ended = PREVIEWS.take(key) if key else (None, True)
        if ended:
            return gr.Image(value=None, visible=False), gr.Timer(active=False)
        return (gr.skip() if image is None else image), gr.skip()

    def end(request: gr.Request):
        key = page_key(request, api_name)
        if key:
            PREVIEWS.end(key)
        return gr.Image(value=None, visible=False), gr.Timer(active=False), gr.Button(interactive=False)

    def keep_result(entries, request: gr.Request):
        """The new result's card to download, and the result first in the history."""
        key = page_key(request, api_name)
        latest = LATEST.take(key) if key else None
        if latest is None:
            return gr.skip(), gr.skip(), gr.skip()
        entries, pictures = with_result(entries, latest)
        card = entries[0]["card"]  # the new result's, found beside it (None where it has none)
        return gr.File(value=card, visible=card is not None), entries, pictures

    def show_entry(entries, selected: gr.SelectData):
        """A clip of the history, shown again as the result, with its seed and card."""
        chosen = chosen_entry(entries, selected.index)
        if chosen is None:
            gr.Warning("That clip is no longer kept (the outputs folder keeps clips for a while): make it again.")
            return [gr.skip()] * 6
        card = chosen.get("card")
        return (
            gr.Video(value=chosen["video"], visible=True),
            str(chosen["seed"]),
            gr.File(value=card, visible=bool(card)),
            gr.Markdown(visible=False),
            chosen,
            gr.Button(interactive=bool(card)),
        )

    def stopped(request: gr.Request):
        """The note in place of the result once the stopped generation has ended (within one step)."""
        key = page_key(request, api_name)
        if key:
            PREVIEWS.end(key)
        job = RUNNING.get(key) if key else None
        inactive = gr.Button(interactive=False)
        if job is None or not job.finished.wait(STOP_WAIT_SECONDS) or not job.stop.is_set():
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), inactive  # nothing ran, or it finished
        note = gr.Markdown(value=stopped_note(job.steps_done()), visible=True)
        return gr.Video(visible=False), gr.Image(visible=False), "", gr.File(visible=False), note, inactive

    start_outputs = [extras.preview, extras.timer, result, extras.gif, extras.status, extras.card]
    event(start, [extras.show_preview], [*start_outputs, *([stop] if stop is not None else [])], **PRIVATE)
    dependency = connect()
    extras.timer.tick(tick, None, [extras.preview, extras.timer], **PRIVATE)
    after_end(dependency, end, [extras.preview, extras.timer, *([stop] if stop is not None else [])])
    history = extras.history
    kept = [extras.card, history.entries, history.gallery]
    dependency.success(keep_result, [history.entries], kept, **PRIVATE)  # type: ignore[attr-defined]
    shown = [result, extras.seed_text, extras.card, extras.status, history.chosen, history.use]
    history.gallery.select(show_entry, [history.entries], shown, **PRIVATE)
    if stop is not None:
        outputs = [result, extras.gif, extras.seed_text, extras.card, extras.status, stop]
        stop.click(stopped, None, outputs, **PRIVATE)
    return dependency


def _connect_stop_button(event: Callable, stop, connect: Callable[[], object]):
    """A result without the page's extras: Stop is active only while its generation runs."""
    if stop is None:
        return connect()
    event(lambda: gr.Button(interactive=True), None, [stop], **PRIVATE)
    dependency = connect()
    after_end(dependency, lambda: gr.Button(interactive=False), [stop])
    return dependency


def after_end(dependency, fn: Callable, outputs: list) -> None:
    """Run the page-only `fn` once the event of `dependency` has ended, however it ended: the page runs a `then`
    listener only after an event that completed, so an error needs its own (`failure`)."""
    for after in (dependency.then, dependency.failure):
        after(fn, None, outputs, **PRIVATE)
