"""Cross-step feature reuse (the DeepCache idea, arXiv 2312.00858): the deep blocks of a UNet change slowly from one
denoising step to the next, so every `interval` steps the whole UNet runs and the outputs of its deep blocks are
kept; in the steps between, only the shallow ends run (the input convolution, the first down block, the last up
block, the output convolution) and the deep blocks hand back what they computed last time.

In this engine the cache is per model call within a step (the anchor's chunk, then each other chunk, keyed by the
chunk's first frame), so lockstep chunking stays exact: a chunked run equals an unchunked one with the same
interval. Cross-frame attention stays coherent: the layers that run record and replay the anchor's keys/values as
always, and the skipped layers' outputs come from a step in which they did the same. Other per-call values that
may be reused (a ControlNet's residuals) go through `remember`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class FeatureReuse:
    """Install on `unet` for one denoising loop (a context manager); call `begin_step(n)` before step n's model
    calls and set `key` before each call. `interval` 1 leaves everything as it is."""

    def __init__(self, unet: torch.nn.Module, interval: int):
        if interval < 1:
            raise ValueError(f"`interval` must be at least 1, got {interval}.")
        self.interval = interval
        self.full = True
        self.key: Any = 0
        self._cache: dict[tuple[Any, str], Any] = {}
        self._deep: list[tuple[str, torch.nn.Module]] = []
        if interval > 1:
            blocks = [(f"down{i}", b) for i, b in enumerate(unet.down_blocks)][1:]
            blocks += [("mid", unet.mid_block)] if getattr(unet, "mid_block", None) is not None else []
            blocks += [(f"up{i}", b) for i, b in enumerate(unet.up_blocks)][:-1]
            self._deep = blocks

    def begin_step(self, n: int) -> None:
        """Step n of the loop (counted from 0): a full one every `interval` steps, else a shallow one."""
        self.full = n % self.interval == 0

    def remember(self, name: str, compute: Callable[[], Any]) -> Any:
        """`compute()` at full steps (kept for this call's key), the kept value at the others."""
        slot = (self.key, name)
        if self.full or slot not in self._cache:
            self._cache[slot] = compute()
        return self._cache[slot]

    def __enter__(self) -> FeatureReuse:
        for name, block in self._deep:
            original = block.forward

            def forward(*args, _name=name, _original=original, **kwargs):
                return self.remember(_name, lambda: _original(*args, **kwargs))

            block.forward = forward  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        for _, block in self._deep:
            del block.forward  # the class's own forward again
        self._cache.clear()
