"""The options beyond the paper reach the Model from the app's API by name, after the endpoints' older parameters."""

from __future__ import annotations

import dataclasses

import pytest

from model import Model
from settings import Settings
from tabs.guided import example
from tests.helpers import serving

pytestmark = pytest.mark.app


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_the_endpoints_take_every_new_option(tiny_models, tmp_path, monkeypatch):
    from gradio_client import Client, handle_file

    settings = dataclasses.replace(Settings.from_env().with_tiny_models(), output_dir=tmp_path / "out")
    model = Model(settings=settings)
    calls = {}
    for method in ("text2video", "pix2pix"):
        original = getattr(model, method)
        monkeypatch.setattr(
            model, method, lambda *a, _m=method, _o=original, **k: calls.setdefault(_m, k) and _o(*a, **k)
        )
    with serving(model) as url:
        client = Client(url, verbose=False)
        names = {
            p["parameter_name"]
            for p in client.view_api(return_format="dict")["named_endpoints"]["/text2video"]["parameters"]
        }
        assert {
            "motion_zoom",
            "motion_rotation",
            "motion_path",
            "cross_frame",
            "smooth_bg",
            "image",
            "feature_reuse",
            "scheduler",
            "use_motion_field",
        } <= names
        client.predict(
            prompt="a cat",
            model_name="tiny-sd",
            resolution=64,
            video_length=3,
            num_inference_steps=3,
            motion_zoom=0.05,
            motion_rotation=3,
            motion_path="0,0; 8,0",
            cross_frame="sparse-causal",
            smooth_bg=True,
            use_motion_field=False,
            feature_reuse=2,
            api_name="/text2video",
        )
        client.predict(
            video=handle_file(example("cat_zoom.mp4")),
            prompt="night",
            resolution=64,
            max_frames=2,
            num_inference_steps=2,
            shared_noise=False,
            api_name="/pix2pix",
        )
    t2v = calls["text2video"]
    assert (t2v["motion_zoom"], t2v["cross_frame"], t2v["smooth_bg"], t2v["use_motion_field"]) == (
        0.05,
        "sparse-causal",
        True,
        False,
    )
    assert calls["pix2pix"]["shared_noise"] is False
