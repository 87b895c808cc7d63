"""Sessions stay apart: one visitor's clip never reaches another; the clip to upscale is the page's own input."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers import video_of
from utils.video import read_video

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(model_name="tiny-sd", resolution=64, num_inference_steps=3, t0=0, t1=1, video_length=2)


# ----------------------------------------------------------------------------------- 1. sessions stay apart
def test_one_visitor_s_clip_never_reaches_another(served):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    model, url = served
    owner, stranger = Client(url, verbose=False), Client(url, verbose=False)
    clip = video_of(
        owner.predict(prompt="a private clip", num_frames=2, num_inference_steps=2, api_name="/modelscope")
    )
    with pytest.raises(AppError, match="No clip to upscale: generate a clip first"):
        stranger.predict(video_path=None, prompt="steal it", num_inference_steps=2, api_name="/modelscope_upscale")
    assert not [name for name, value in vars(model).items() if isinstance(value, str) and value.endswith(".mp4")]
    upscaled = owner.predict(
        video_path=handle_file(clip),
        prompt="a clip",
        num_inference_steps=2,
        width=64,
        height=64,
        api_name="/modelscope_upscale",
    )
    assert read_video(video_of(upscaled))[0].shape == (2, 64, 64, 3)


def test_the_clip_to_upscale_is_a_labelled_input_of_the_page(shared_app):
    url = shared_app
    config = httpx.get(f"{url.rstrip('/')}/config").json()
    labels = {c["props"].get("label") for c in config["components"] if c.get("type") == "video"}
    assert "Clip to upscale" in labels
    # No hidden per-server or per-session state feeds an endpoint (the page's history is its own, page-only).
    states = {c["id"] for c in config["components"] if c.get("type") == "state"}
    endpoints = [dep for dep in config["dependencies"] if dep.get("api_visibility", "public") == "public"]
    assert any(dep.get("api_name") == "modelscope_upscale" for dep in endpoints)
    assert not [dep["api_name"] for dep in endpoints if states & set(dep["inputs"])]
