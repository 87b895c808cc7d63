"""The model dropdown: a curated list, the local models root and, online, a live Hugging Face search.

The search goes through huggingface_hub's API (no HTML scraping), only when the user types, with a short timeout
and a cache; offline (HF_HUB_OFFLINE=1, no network, tiny-model mode) the curated list and local folders remain.
Nothing here runs at app start-up.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)

SEARCH_LIMIT = 30
CACHE_SECONDS = 600
_cache: dict[str, tuple[float, list[str]]] = {}


# model_index.json's pipeline class -> the family it holds (SD 1.x and 2.x share a class)
FOLDER_FAMILIES = {
    "StableDiffusionPipeline": ("sd1", "sd2"),
    "StableDiffusionXLPipeline": ("sdxl",),
    "StableDiffusionInstructPix2PixPipeline": ("pix2pix",),
}
SD_FAMILIES = ("sd1", "sd2", "sdxl")


def _families(path: Path) -> tuple[str, ...]:
    """The families a diffusers folder or single-file checkpoint may hold; () for anything else. Anything in the
    models folder may be malformed (a custom pipeline's list-valued class name, null, a JSON array, garbage): it is
    skipped with a log line, and the list still loads."""
    try:
        if (path / "model_index.json").is_file():
            index = json.loads((path / "model_index.json").read_text())
            name = index.get("_class_name") if isinstance(index, dict) else None
            if not isinstance(name, str):
                logger.info("Skipping %s: its model_index.json names no pipeline class (%r)", path.name, name)
                return ()
            return FOLDER_FAMILIES.get(name, ())
        if path.suffix == ".safetensors" and path.is_file():
            return _file_family(str(path), path.stat().st_mtime_ns)
    except Exception as error:  # unreadable, not JSON, not UTF-8, a header of the wrong shape: never stop the app
        logger.info("Skipping %s in the models folder: %s", path.name, error)
    return ()


@functools.lru_cache(maxsize=1024)
def _file_family(path: str, mtime_ns: int) -> tuple[str, ...]:
    """A checkpoint file's family from its header, remembered while the file is unchanged (the list is rebuilt on
    every key-up of the model search); () for files that are not whole models (a LoRA, a VAE)."""
    from utils.single_file import detect_family, read_shapes

    try:
        return (detect_family(read_shapes(Path(path), Path(path).name), Path(path).name),)
    except ValueError:
        return ()


def local_models(models_root: Path, families: tuple[str, ...] = SD_FAMILIES) -> list[str]:
    """Diffusers folders and .safetensors checkpoints of `families` directly inside the models root, named
    relative to it (as the web UI takes them). LoRAs and other files that are not whole models are left out, and so
    are links that lead out of the root: the web UI would refuse to load them."""
    root = Path(models_root)
    try:
        entries = sorted(root.iterdir()) if root.is_dir() else []
        inside = [p for p in entries if p.resolve().is_relative_to(root.resolve())]
    except OSError as error:
        logger.warning("Cannot list the models folder %s: %s", root, error)
        return []
    return [p.name for p in inside if set(_families(p)) & set(families)]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def _with_timeout(fetch, timeout: float, default):
    """`fetch()`, or `default` if it fails or takes longer than `timeout` seconds (it then finishes unobserved):
    the hub is slow, rate-limited or unreachable at times, and the page must not wait on it."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(fetch).result(timeout=timeout)
    except Exception as error:
        logger.info("Hub unavailable: %s", error)
        return default
    finally:
        pool.shutdown(wait=False)


def search_hub(query: str, limit: int = SEARCH_LIMIT, timeout: float = 3.0) -> list[str]:
    """Text-to-image diffusers models on the Hub matching `query`, most downloaded first; [] when offline."""
    if _offline():
        return []
    key = query.strip().lower()
    cached = _cache.get(key)
    if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    from huggingface_hub import HfApi

    def fetch() -> list[str]:
        models = HfApi().list_models(
            search=key or None, filter="diffusers", pipeline_tag="text-to-image", sort="downloads", limit=limit
        )
        return [model.id for model in models]

    found = _with_timeout(fetch, timeout, [])
    _cache[key] = (time.monotonic(), found)
    return found


def model_config(name: str, filename: str, timeout: float = 3.0) -> dict | None:
    """A config file of a diffusers folder or hub model (e.g. "unet/config.json"): read locally, from the hub cache,
    or, online, downloaded (a few kB) within `timeout`; None when it cannot be had."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    path = Path(name).expanduser() / filename
    if not path.is_file():
        try:
            cached = try_to_load_from_cache(name, filename) if name.count("/") == 1 else None
        except ValueError:  # not a valid repo id
            return None
        if isinstance(cached, str):
            path = Path(cached)
        elif _offline() or name.count("/") != 1:
            return None
        else:
            path = _with_timeout(lambda: Path(hf_hub_download(name, filename)), timeout, None)
    try:
        return json.loads(path.read_text()) if path else None
    except (OSError, ValueError):
        return None


MAX_QUERY = 200  # characters of a search: a hub id is at most 96


def model_choices(curated: list[str], models_root: Path, query: str = "", online: bool = True) -> list[str]:
    """Curated models first, then local folders, then hub results for `query`; no duplicates. A query that is not
    short text finds nothing (the page's search sends what is typed; anything else did not come from it)."""
    if not isinstance(query, str) or len(query) > MAX_QUERY:
        return list(dict.fromkeys(curated))
    found = search_hub(query) if online else []
    matches = [name for name in (*local_models(models_root), *found) if query.lower() in name.lower()]
    return list(dict.fromkeys([*curated, *matches]))
