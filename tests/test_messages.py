"""Messages that say what is actually wrong (and what to do)."""

from __future__ import annotations

import json
import shutil
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
