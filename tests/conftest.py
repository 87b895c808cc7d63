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
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


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
