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
    """The families a diffusers folder or single-file checkpoint may hold; () for anything else."""
    try:
        if (path / "model_index.json").is_file():
            return FOLDER_FAMILIES.get(json.loads((path / "model_index.json").read_text()).get("_class_name"), ())
        if path.suffix == ".safetensors" and path.is_file():
            return _file_family(str(path), path.stat().st_mtime_ns)
    except (OSError, ValueError):  # unreadable: not listed
        pass
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
    relative to it (as the web UI takes them). LoRAs and other files that are not whole models are left out."""
    root = Path(models_root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if set(_families(p)) & set(families))


def search_hub(query: str, limit: int = SEARCH_LIMIT, timeout: float = 3.0) -> list[str]:
    """Text-to-image diffusers models on the Hub matching `query`, most downloaded first; [] when offline."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return []
    key = query.strip().lower()
    cached = _cache.get(key)
    if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    from concurrent.futures import ThreadPoolExecutor

    from huggingface_hub import HfApi

    def fetch() -> list[str]:
        models = HfApi().list_models(
            search=key or None, filter="diffusers", pipeline_tag="text-to-image", sort="downloads", limit=limit
        )
        return [model.id for model in models]

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        found = pool.submit(fetch).result(timeout=timeout)
    except Exception as error:  # offline, slow, rate-limited, a changed API: the curated list still works
        logger.info("Hub search unavailable: %s", error)
        found = []
    finally:
        pool.shutdown(wait=False)
    _cache[key] = (time.monotonic(), found)
    return found


def model_choices(curated: list[str], models_root: Path, query: str = "", online: bool = True) -> list[str]:
    """Curated models first, then local folders, then hub results for `query`; no duplicates."""
    found = search_hub(query) if online else []
    matches = [name for name in (*local_models(models_root), *found) if query.lower() in name.lower()]
    return list(dict.fromkeys([*curated, *matches]))
