"""What one request carries through the Model besides its parameters: where it came from (the web page and its API,
or Python) and a flag that stops it.

The job lives in a context variable, so concurrent requests never see each other's. The web handler opens a job for
every generation (`job_scope`); the Model reads it to apply the web's rules (model names only from the models root,
a bound on the work) and checks its stop flag once per denoising step (`on_step`), while waiting for the GPU and
between decoded slices. Python callers run without a job: no web rules, nothing to stop but Ctrl-C.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from errors import Cancelled


@dataclass(eq=False)
class Job:
    """One request: `from_web` applies the web's rules; `stop` asks it to end at its next step; `preview`, where
    set, receives a picture (uint8 array) of the first frames every few denoising steps."""

    from_web: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    preview: Callable[[Any], None] | None = None


_current: ContextVar[Job | None] = ContextVar("text2video_zero_job", default=None)


@contextmanager
def job_scope(job: Job) -> Iterator[Job]:
    """Run the enclosed code as `job`: the Model applies its rules and honours its stop flag."""
    token = _current.set(job)
    try:
        yield job
    finally:
        _current.reset(token)


def from_web() -> bool:
    """Whether the running request came through the web page or its API (and so gets the web's rules)."""
    job = _current.get()
    return job is not None and job.from_web


def current_job() -> Job | None:
    return _current.get()


def check_cancelled() -> None:
    """Raise `Cancelled` if the running request was asked to stop."""
    job = _current.get()
    if job is not None and job.stop.is_set():
        raise Cancelled("Stopped: the generation was cancelled and nothing was written.")


def on_step(pipe, step: int, timestep: int, tensors: dict) -> dict:
    """A diffusers-style `callback_on_step_end`: stops the denoising loop within one step of a cancellation."""
    check_cancelled()
    return tensors
