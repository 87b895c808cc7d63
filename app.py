"""Text2Video-Zero studio: a Gradio app with one tab per mode.

python app.py                 # real models from the Hugging Face Hub (GPU recommended)
python app.py --tiny-models   # small offline models: the whole UI runs on a CPU in seconds
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
from typing import cast

import gradio as gr

from catalogue import EXAMPLES_DIR
from model import Model
from pool import serving_model
from registry import MODES, Mode
from settings import Settings
from tabs.common import StudioBlocks
from tabs.video_models import connect_restyle
from utils.login import LOOPBACK, ClientAddress, LoginThrottle
from utils.video import keep_pruning

TITLE = "Text2Video-Zero Studio"


def lifetimes(settings: Settings) -> tuple[int, int]:
    """(how often, after how long) files are deleted: one lifetime, T2VZ_OUTPUT_TTL_HOURS, for the outputs and for
    Gradio's cache (uploads), checked at least every hour."""
    ttl = settings.output_ttl_hours * 3600
    return min(3600, ttl), ttl


def tabs_of_modes() -> dict[str, list[Mode]]:
    """Each tab's module and its modes (`registry.MODES`), in the registry's order: the tab's own mode first (it
    names the tab), then any mode that has its endpoint there (the ModelScope tab's upscaling)."""
    tabs: dict[str, list[Mode]] = {}
    for mode in MODES:
        if mode.tab:
            tabs.setdefault(mode.tab, []).append(mode)
    return {module: sorted(modes, key=lambda mode: not mode.label) for module, modes in tabs.items()}


def build_demo(model: Model) -> gr.Blocks:
    settings = model.settings
    every, ttl = lifetimes(settings)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    # Served in place, never copied to Gradio's cache: once pruned, an output is gone for everyone. The outputs'
    # names carry 128 random bits. Nothing else of the server is served but the example videos.
    gr.set_static_paths([EXAMPLES_DIR, settings.output_dir])
    keep_pruning(settings.output_dir, ttl, every)
    # Gradio keeps cached examples under this variable's folder (by default in the working directory).
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(settings.examples_cache_dir)
    with StudioBlocks(title=TITLE, delete_cache=(every, ttl)) as demo:
        gr.Markdown(f"# {TITLE}\nZero-shot video generation from image diffusion models.")
        if settings.notice:
            gr.Markdown(settings.notice)
        tab_ids = {}  # mode -> the id of its tab: the restyle opens the depth or edge tab
        with gr.Tabs() as tabs:
            for module, modes in tabs_of_modes().items():
                with gr.Tab(modes[0].label, id=module):
                    importlib.import_module(module).create_demo(model, *modes)
                tab_ids.update({mode.name: module for mode in modes})
        connect_restyle(demo, tabs, "trained_video", tab_ids)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument(
        "--tiny-models", action="store_true", help="use small offline models for every tab (also T2VZ_TINY_MODELS=1)"
    )
    parser.add_argument(
        "--share",
        "--public_access",
        dest="share",
        action="store_true",
        help="create a public gradio.live link (protect it with --auth)",
    )
    parser.add_argument(
        "--auth",
        default=None,
        metavar="USER:PASSWORD",
        help="require a login; several as u1:p1,u2:p2 (also T2VZ_AUTH)",
    )
    parser.add_argument("--server-name", default=None, help="address to listen on (0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default 7860)")
    return parser.parse_args(argv)


def launch_options(settings: Settings, args: argparse.Namespace) -> dict:
    """What `demo.launch` gets from the flags and settings."""
    from starlette.middleware import Middleware

    pairs = settings.auth_pairs
    # Wrong passwords slow down per client (LoginThrottle), which needs the client's address (ClientAddress):
    # believed from X-Forwarded-For only behind a proxy the app knows of (the share tunnel it starts, or configured).
    trusted = (*settings.trusted_proxies, *(LOOPBACK if args.share else ()))
    return {
        "share": args.share,
        "server_name": args.server_name,
        "server_port": args.port,
        "auth": LoginThrottle(pairs).check if pairs else None,
        "app_kwargs": {"middleware": [Middleware(ClientAddress, trusted=trusted)]} if pairs else None,
        "trusted_proxies": trusted,
        "max_file_size": settings.max_upload_mb * 1024 * 1024,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        if args.tiny_models:
            settings = settings.with_tiny_models()
        if args.auth is not None:
            settings = settings.with_auth(args.auth)
        options = launch_options(settings, args)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    if args.share and not options["auth"]:
        logging.warning("The public link lets anyone run generations on this machine: consider --auth user:password.")
    demo = build_demo(cast(Model, serving_model(settings)))  # a pool of devices stands where a Model does
    demo.launch(**options)


if __name__ == "__main__":
    main()
