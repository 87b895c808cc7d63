"""What one request carries through the Model besides its parameters: the rules it obeys and a flag that stops it.

The rules (`RequestRules`) are passed to the Model explicitly: a web request's (`RequestRules.web`) limit model names
to the Hub, the offline aliases and the models root, and its work to T2VZ_MAX_WORK; a Python or command-line caller
is trusted (`TRUSTED`). The stop flag and the preview sink (`Job`) live in a context variable, so concurrent
requests never see each other's and the deepest loops can check it: the web handler opens a job for every
generation (`job_scope`), and the Model checks its stop flag once per denoising step (`on_step`), per annotated
frame, per decoded slice, while interpolating and while waiting for the device. Python callers run without a job:
nothing to stop but Ctrl-C.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from errors import Cancelled


@dataclass(frozen=True)
class RequestRules:
    """What a request may ask of the Model (see the module): `models_root` None takes any model name, 0 for
    `work_limit` any amount of work."""

    models_root: Path | None = None
    work_limit: int = 0

    @classmethod
    def web(cls, settings) -> RequestRules:
        """The web's rules under `settings` (a `settings.Settings`)."""
        return cls(models_root=settings.models_root, work_limit=settings.work_limit)


TRUSTED = RequestRules()


@dataclass(eq=False)
class Job:
    """One request's stop flag (`stop` asks it to end at its next step) and, where set, where its previews go
    (`preview` receives a picture, a uint8 array, of the first frames every few denoising steps)."""

    stop: threading.Event = field(default_factory=threading.Event)
    preview: Callable[[Any], None] | None = None
    steps: StepCount | None = None  # the running call's count of the user's steps: where a Stop left it
    finished: threading.Event = field(default_factory=threading.Event)  # set by whoever runs the job, at its end

    def steps_done(self) -> tuple[int, int] | None:
        """(steps run, steps asked for) of the last denoising this job ran, or None before any."""
        return None if self.steps is None else (self.steps.n, self.steps.total)


_current: ContextVar[Job | None] = ContextVar("text2video_zero_job", default=None)


@contextmanager
def job_scope(job: Job) -> Iterator[Job]:
    """Run the enclosed code as `job`: the Model honours its stop flag and sends it previews."""
    token = _current.set(job)
    try:
        yield job
    finally:
        _current.reset(token)


def current_job() -> Job | None:
    return _current.get()


class StepCount:
    """A progress bar's updates, counted here too (a disabled tqdm bar counts nothing)."""

    def __init__(self, bar, total: int) -> None:
        self.bar, self.n, self.total = bar, 0, total

    def update(self, n: int = 1) -> None:
        self.n += n
        self.bar.update(n)


class UnshownBar:
    """A bar that shows nothing: for counting steps that another bar shows (diffusers' own pipelines')."""

    def update(self, n: int = 1) -> None:
        pass


UNSHOWN_BAR = UnshownBar()


def count_steps(bar, total: int) -> StepCount:
    """`bar` (the user's steps, `total` of them), counted where the running job can read it (`Job.steps_done`)."""
    count = StepCount(bar, total)
    job = _current.get()
    if job is not None:
        job.steps = count
    return count


def check_cancelled() -> None:
    """Raise `Cancelled` if the running request was asked to stop."""
    job = _current.get()
    if job is not None and job.stop.is_set():
        raise Cancelled("Stopped: the generation was cancelled and nothing was written.")


def on_step(pipe, step: int, timestep: int, tensors: dict) -> dict:
    """A diffusers-style `callback_on_step_end`: stops the denoising loop within one step of a cancellation."""
    check_cancelled()
    return tensors
