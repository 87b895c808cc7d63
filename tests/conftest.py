"""Shared fixtures: the offline tiny models, built once per test session in a temporary folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

# Before the app modules read the environment: keep builds and outputs out of the user's folders.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="t2vz-tests-"))
os.environ.setdefault("T2VZ_TINY_MODELS_DIR", str(_SESSION_DIR / "tiny-models"))
os.environ.setdefault("T2VZ_OUTPUT_DIR", str(_SESSION_DIR / "outputs"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Two cores for torch; with pytest-xdist (`-n 2`), the cores shared out among the workers.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1) // _WORKERS))


@pytest.fixture(scope="session")
def tiny_models() -> dict[str, Path]:
    from utils.tiny_models import ensure_tiny_models

    return ensure_tiny_models(os.environ["T2VZ_TINY_MODELS_DIR"])


@pytest.fixture(scope="session")
def tiny_sd(tiny_models) -> Path:
    return tiny_models["sd"]


@pytest.fixture(scope="session")
def t2v_pipe(tiny_sd):
    from pipelines import TextToVideoZeroPipeline

    pipe = TextToVideoZeroPipeline.from_pretrained(tiny_sd)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture
def settings(tmp_path):
    from settings import Settings

    return Settings.from_env().with_tiny_models()


# The bad-input matrix's files and models root (the matrix itself, through the web, and its refusals from Python in
# test_modes share them): built once per run.
@pytest.fixture(scope="session")
def files(tmp_path_factory):
    import subprocess

    import imageio_ffmpeg

    from tabs.guided import example

    folder = tmp_path_factory.mktemp("bad")
    text = folder / "notes.mp4"
    text.write_text("not a video at all")
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(open(example("coffee_pan.mp4"), "rb").read()[:1500])
    corrupt = folder / "clip.mov"
    corrupt.write_bytes(b"\x00" * 4096)
    image = folder / "still.png"
    from PIL import Image

    Image.new("RGB", (96, 64), (200, 100, 50)).save(image)
    huge = folder / "4k.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=3840x2160:rate=4",
            "-t",
            "1",
            "-pix_fmt",
            "yuv420p",
            str(huge),
        ],
        check=True,
    )
    return {"TEXT_FILE": text, "TRUNCATED": truncated, "CORRUPT_NAME": corrupt, "IMAGE": image, "HUGE": huge}


@pytest.fixture(scope="session")
def models_root(tiny_models, tmp_path_factory):
    """Single-file checkpoints of the tiny models, and files that are not checkpoints."""
    import torch
    from diffusers import DiffusionPipeline
    from safetensors.torch import save_file

    from tests.ldm_export import save_single_file

    root = tmp_path_factory.mktemp("models")
    for name, family in [("sd-file", "sd"), ("sdxl-file", "sdxl"), ("pix2pix-file", "pix2pix")]:
        save_single_file(
            DiffusionPipeline.from_pretrained(tiny_models[family]).components, root / f"{name}.safetensors"
        )
    (root / "notes.safetensors").write_text("not a checkpoint")
    torch.save({"weights": torch.zeros(1)}, root / "x.ckpt")
    save_file(
        {"lora_unet_down_blocks_0_attn.lora_down.weight": torch.zeros(4, 32)}, str(root / "style-lora.safetensors")
    )
    return root


@pytest.fixture
def tiny_settings(tmp_path):
    """The offline settings, with this test's own output folder and models root."""
    import dataclasses

    from settings import Settings

    return dataclasses.replace(
        Settings.from_env().with_tiny_models(), output_dir=tmp_path / "outputs", models_root=tmp_path / "models"
    )


@pytest.fixture
def served(tiny_models, tiny_settings):
    """The app on the tiny models, its Model and its URL."""
    from model import Model
    from tests.helpers import serving

    model = Model(settings=tiny_settings)
    with serving(model) as url:
        yield model, url


@pytest.fixture(scope="session")
def shared_demo(tiny_models, tmp_path_factory):
    """One app for the whole run, for the tests that only send requests and read answers (no assertion on the output
    folder, no change to its Model): the Blocks and its URL."""
    import dataclasses

    from app import build_demo
    from model import Model
    from settings import Settings

    folder = tmp_path_factory.mktemp("shared")
    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models(), output_dir=folder / "outputs", models_root=folder / "models"
    )
    demo = build_demo(Model(settings=settings))
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield demo, demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="session")
def shared_app(shared_demo):
    """The shared app's URL (see `shared_demo`)."""
    return shared_demo[1]
