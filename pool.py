"""Several devices serving at once: one `Model` per device (T2VZ_DEVICES), each generation on a free one.

`ModelPool` stands where the app takes a `Model`: its generation methods wait for a free device's Model and run
there (a request stopped while it waits never starts); everything else (settings, model lists) is the first Model's.
The app's queue runs as many generations at once as there are devices.
"""

from __future__ import annotations

import queue
from collections.abc import Callable

from model import Model
from registry import MODES
from settings import Settings
from utils.jobs import check_cancelled

# The Model methods that generate (and so need a device of their own while they run): each mode's, from the registry.
GENERATIONS = frozenset(
    {"generate", "run_card", *(method for mode in MODES for method in (mode.method, f"process_{mode.method}"))}
)


class ModelPool:
    def __init__(self, models: list[Model]):
        if not models:
            raise ValueError("A pool needs at least one Model.")
        self.models = models
        self._free: queue.Queue[Model] = queue.Queue()
        for model in models:
            self._free.put(model)

    @property
    def concurrency(self) -> int:
        return len(self.models)

    def _take(self) -> Model:
        while True:
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:
                check_cancelled()

    def __getattr__(self, name: str):
        attribute = getattr(self.models[0], name)
        if name not in GENERATIONS:
            return attribute

        def on_a_free_device(*args, **kwargs):
            model = self._take()
            try:
                return getattr(model, name)(*args, **kwargs)
            finally:
                self._free.put(model)

        on_a_free_device.concurrency = self.concurrency  # type: ignore[attr-defined]  # the queue's, for the app
        return on_a_free_device


def serving_model(settings: Settings) -> Model | ModelPool:
    """What the app serves with: one Model, or a pool over T2VZ_DEVICES."""
    if len(settings.devices) <= 1:
        return Model(device=settings.devices[0] if settings.devices else None, settings=settings)
    return ModelPool([Model(device=device, settings=settings) for device in settings.devices])


def pooled(method: Callable) -> int:
    """How many calls of `method` may run at once (a pool's devices; 1 for a Model)."""
    return getattr(method, "concurrency", 1)
