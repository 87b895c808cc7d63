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
