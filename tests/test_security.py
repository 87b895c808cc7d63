"""Security: model folders from the web stay under the models root, pickle weights are refused, only the app's own
files are served, no remote code runs, and messages carry no stack traces or server paths."""

import dataclasses
import re
import shutil
from pathlib import Path

import httpx
import pytest

from errors import InputError, ModelLoadError
from model import Model
from settings import Settings
from utils.model_names import check_ui_model_name

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "name", ["stable-diffusion-v1-5/stable-diffusion-v1-5", "tiny-sd", "my-model", "styles/anime"]
)
def test_names_the_web_may_use(tmp_path, name):
    (tmp_path / "my-model").mkdir()
    assert check_ui_model_name(name, tmp_path, aliases=("tiny-sd",)) == name


@pytest.mark.parametrize("name", ["../outside", "/etc", "~/.ssh", "my-model/../../etc", "..", "/"])
def test_names_that_escape_the_models_root_are_refused(tmp_path, name):
    with pytest.raises(InputError, match="inside the models folder"):
        check_ui_model_name(name, tmp_path / "models")


@pytest.mark.parametrize("parameter", ["lora", "motion_adapter", "motion_lora", "sparse_control", "controlnet_name"])
def test_every_parameter_that_names_a_model_keeps_web_requests_inside_the_models_root(tmp_path, parameter):
    from tabs.web_rules import check_model_names

    with pytest.raises(InputError, match="inside the models folder"):
        check_model_names({"prompt": "a cat", parameter: "/etc"}, tmp_path / "models")
    assert check_model_names({parameter: "tiny-sd"}, tmp_path)[parameter] == "tiny-sd"


def test_a_folder_inside_the_models_root_loads_by_its_name(tiny_models, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(tiny_models["sd"], root / "my-sd")
    model = Model(settings=dataclasses.replace(Settings.from_env().with_tiny_models(), models_root=root))
    path = model.process_text2video(
        "a cat", model_name="my-sd", resolution=64, num_inference_steps=3, t0=0, t1=1, video_length=2
    )
    assert Path(path).exists()


def test_pickle_weights_are_refused(tiny_models, tmp_path):
    from diffusers import StableDiffusionPipeline

    pickled = tmp_path / "pickled"
    StableDiffusionPipeline.from_pretrained(tiny_models["sd"]).save_pretrained(pickled, safe_serialization=False)
    assert list((pickled / "unet").glob("*.bin")) and not list((pickled / "unet").glob("*.safetensors"))
    model = Model(settings=Settings.from_env().with_tiny_models())
    with pytest.raises(ModelLoadError, match="pickle weights") as error:
        model.process_text2video("a cat", model_name=str(pickled), resolution=64, num_inference_steps=3, t0=0, t1=1)
    assert "safetensors" in str(error.value)


def test_errors_name_models_as_the_user_gave_them(tiny_models):
    model = Model(settings=Settings.from_env().with_tiny_models())
    with pytest.raises(ModelLoadError) as error:
        model.process_pix2pix(
            ROOT / "assets/examples/coffee_pan.mp4",
            "make it night",
            model_name="tiny-sd",
            resolution=64,
            num_inference_steps=1,
            max_frames=1,
        )
    assert "'tiny-sd'" in str(error.value) and str(tiny_models["sd"]) not in str(error.value)


def test_no_remote_code_and_safetensors_everywhere():
    sources = [p for p in ROOT.rglob("*.py") if ".venv" not in p.parts and "tests" not in p.parts]
    for path in sources:
        text = path.read_text()
        assert "trust_remote_code" not in text and "custom_pipeline" not in text, path
        for call in re.findall(r"\w+\.from_pretrained\([^)]*\)", text):
            if "Detector" in call or "Estimator" in call or "Client" in call:
                continue  # annotators (controlnet-aux) and test clients are not diffusers loaders
            if path.name in ("model.py", "loading.py"):
                assert "use_safetensors=True" in call, (path, call)


def test_only_the_app_s_own_files_are_served(tiny_models):
    from gradio_client import Client

    from app import build_demo

    demo = build_demo(Model(settings=Settings.from_env().with_tiny_models()))
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        base = demo.local_url.rstrip("/")
        for secret in ("/etc/passwd", str(ROOT / "README.md"), str(ROOT / "model.py")):
            assert httpx.get(f"{base}/gradio_api/file={secret}").status_code in (403, 404), secret
        example = ROOT / "assets" / "examples" / "coffee_pan.mp4"
        assert httpx.get(f"{base}/gradio_api/file={example}").status_code == 200
        client = Client(demo.local_url, verbose=False)
        result, _ = client.predict(
            prompt="a cat",
            model_name="tiny-sd",
            resolution=64,
            num_inference_steps=3,
            t0=0,
            t1=1,
            video_length=2,
            api_name="/text2video",
        )
        assert Path(result["video"] if isinstance(result, dict) else result).exists()
        from gradio_client.exceptions import AppError

        with pytest.raises(AppError, match="inside the models folder") as error:
            client.predict(prompt="a cat", model_name="../../etc", api_name="/text2video")
        assert "Traceback" not in str(error.value)
    finally:
        demo.close()
