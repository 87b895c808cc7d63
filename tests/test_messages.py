"""Messages that say what is actually wrong (and what to do)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from errors import InputError, ModelLoadError
from model import Model
from tabs.guided import example
from tests.helpers import web

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(model_name="tiny-sd", resolution=64, num_inference_steps=3, t0=0, t1=1, video_length=2)


# ------------------------------------------------------------------- 11. messages that say what is wrong
def test_messages_say_what_is_actually_wrong(tiny_models, tiny_settings, tmp_path):
    root = tiny_settings.models_root
    custom = root / "custom-pipe"
    shutil.copytree(tiny_models["sd"], custom)
    index = json.loads((custom / "model_index.json").read_text())
    index["_class_name"] = ["pipeline_custom", "MyVideoPipeline"]
    index["unet"] = ["unet_custom", "MyUNet"]
    (custom / "model_index.json").write_text(json.dumps(index))
    (custom / "pipeline_custom.py").write_text("raise SystemExit('remote code ran')\n")
    truncated = root / "truncated-sd"
    shutil.copytree(tiny_models["sd"], truncated)
    weights = truncated / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    model = Model(settings=tiny_settings)
    with pytest.raises(ModelLoadError, match="needs custom Python code .* never runs"):
        web(model, "text2video", "a cat", **{**FAST, "model_name": "custom-pipe"})
    with pytest.raises(ModelLoadError, match=r"weights file 'unet/diffusion_pytorch_model.safetensors' .* damaged"):
        web(model, "text2video", "a cat", **{**FAST, "model_name": "truncated-sd"})
    with pytest.raises(InputError, match="'model.ckpt' is a pickle checkpoint"):
        web(model, "modelscope", "a panda", model_name="model.ckpt", num_frames=2, num_inference_steps=2)
    with pytest.raises(InputError, match="single checkpoint file; ModelScope/Zeroscope models load from a diffusers"):
        web(model, "modelscope", "a panda", model_name="clip.safetensors", num_frames=2, num_inference_steps=2)
    with pytest.raises(InputError, match="single checkpoint file; ControlNets"):
        model.controlnet_canny(
            example("coffee_pan.mp4"),
            "a cup",
            controlnet_name="control.safetensors",
            resolution=64,
            max_frames=1,
            num_inference_steps=1,
        )


def test_a_model_neither_here_nor_reachable_fails_at_once_with_the_fixes_that_apply(tiny_models, monkeypatch):
    import loading
    from settings import Settings

    asked: list[str] = []
    monkeypatch.setattr(loading, "hub_reachable", lambda: asked.append("hub") or False)

    def no_download(*args, **kwargs):
        raise AssertionError("the loaders were not to be tried")

    monkeypatch.setattr(loading.ModelLoader, "_load_error", no_download)
    offline = Model(settings=Settings.from_env().with_tiny_models())
    with pytest.raises(ModelLoadError, match="not on this machine and cannot be downloaded") as tiny_error:
        offline.text2video("a cat", **{**FAST, "model_name": "nobody/no-such-model"})
    assert "--tiny-models" not in str(tiny_error.value) and "offline tiny models in the list" in str(tiny_error.value)
    hub = Model(settings=Settings.from_env())
    with pytest.raises(ModelLoadError) as hub_error:
        hub.modelscope_pipeline("nobody/no-such-model")
    assert "--tiny-models" in str(hub_error.value) and asked  # the Hub was asked, once per load, and said no


def test_the_hub_is_asked_briefly_and_its_answer_kept(monkeypatch):
    import socket

    import loading

    calls = []

    def refuse(address, timeout):
        calls.append(timeout)
        raise OSError("unreachable")

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the suite runs offline; here the Hub is asked
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(loading, "_hub_answers", {})
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert loading.hub_reachable() is False and loading.hub_reachable() is False
    assert calls == [loading.HUB_PROBE_SECONDS]  # asked once, briefly; the answer kept
    # A name that takes long to resolve counts as no answer once the probe's time is up.
    monkeypatch.setattr(loading, "HUB_PROBE_SECONDS", 0.2)
    monkeypatch.setattr(loading, "_hub_answers", {})
    monkeypatch.setattr(socket, "create_connection", lambda address, timeout: time.sleep(2))
    started = time.monotonic()
    assert loading.hub_reachable() is False and time.monotonic() - started < 1.5
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.setattr(loading, "_hub_answers", {})
    assert loading.hub_reachable() is True and len(calls) == 1  # behind a proxy only the loaders can tell


def test_a_hub_id_counts_as_cached_where_the_cache_holds_its_folder(tmp_path, monkeypatch):
    from huggingface_hub import constants

    import loading

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    (tmp_path / "models--someone--cached").mkdir()
    assert loading.in_hub_cache("someone/cached") and not loading.in_hub_cache("someone/other")
