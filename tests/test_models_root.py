"""Model names and the models folder: from the web, model folders load only from inside it (the working directory
never searched) and a web address is refused up front, by name (a LoRA loads from a hub id or a file in the models
folder only); the Python API takes any folder; the model search lists only what loads; odd folders never stop the
app; the page's helpers answer any value; a folder that is no model is called that."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from errors import InputError
from model import Model
from settings import Settings
from tests.helpers import call_event, event_index, video_of, web
from utils.model_list import local_models
from utils.model_names import check_ui_model_name

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(model_name="tiny-sd", resolution=64, num_inference_steps=3, t0=0, t1=1, video_length=2)


# -------------------------------------------------------------------------------- 2. the models folder holds
@pytest.fixture
def escape_setup(tiny_models, tiny_settings, tmp_path, monkeypatch):
    """A working directory with a model outside the models root, a symlink out of the root, and a root model."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_models["sd"], tmp_path / "outside-sd")
    root = tiny_settings.models_root
    root.mkdir()
    shutil.copytree(tiny_models["sd"], root / "inside-sd")
    (root / "linked-sd").symlink_to(tmp_path / "outside-sd", target_is_directory=True)
    (tmp_path / "owner").mkdir()
    shutil.copytree(tiny_models["sd"], tmp_path / "owner" / "repo")  # a hub-shaped name that is a local folder
    (tmp_path / "inside-sd").mkdir()  # the same name in the working directory: an empty decoy
    return Model(settings=tiny_settings)


@pytest.mark.parametrize("name", ["outside-sd", ".", "linked-sd", "owner/repo", "../outside-sd", str(Path.cwd())])
def test_web_names_load_only_from_inside_the_models_root(escape_setup, name):
    with pytest.raises(InputError, match="inside the models folder"):
        web(escape_setup, "text2video", "a cat", **{**FAST, "model_name": name})
    assert escape_setup.loaded_name("base") is None  # refused before anything loaded


def test_a_root_model_loads_from_the_root_even_where_the_working_directory_has_the_name(escape_setup):
    result = web(escape_setup, "text2video", "a cat", **{**FAST, "model_name": "inside-sd"})
    assert Path(result.path).exists()
    assert Path(escape_setup.loaded_name("base")) == escape_setup.settings.models_root.resolve() / "inside-sd"


def test_the_python_api_still_takes_any_folder(escape_setup):
    assert Path(escape_setup.process_text2video("a cat", **{**FAST, "model_name": "outside-sd"})).exists()


@pytest.mark.slow
def test_the_api_refuses_a_working_directory_folder(escape_setup, tiny_settings):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from app import build_demo

    demo = build_demo(escape_setup)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        for name in ("outside-sd", ".", "linked-sd"):
            with pytest.raises(AppError, match="inside the models folder"):
                client.predict(prompt="a cat", **{**FAST, "model_name": name}, api_name="/text2video")
        assert Path(
            video_of(client.predict(prompt="a cat", **{**FAST, "model_name": "inside-sd"}, api_name="/text2video"))
        ).exists()
    finally:
        demo.close()


# ------------------------------------------------------------------------ 3. odd folders never stop the app
def test_malformed_model_folders_are_skipped_and_the_app_starts(tiny_models, tiny_settings, caplog):
    from app import build_demo
    from utils.model_list import local_models

    root = tiny_settings.models_root
    shutil.copytree(tiny_models["sd"], root / "good-sd")
    for name, text in {
        "custom": json.dumps({"_class_name": ["my_pipeline", "MyPipeline"]}),
        "dict": json.dumps({"_class_name": {"a": 1}}),
        "null": json.dumps({"_class_name": None}),
        "array": "[]",
        "broken": "{not json",
        "number": "42",
    }.items():
        (root / name).mkdir()
        (root / name / "model_index.json").write_text(text)
    (root / "binary").mkdir()
    (root / "binary" / "model_index.json").write_bytes(bytes(range(256)))
    (root / "junk.safetensors").write_bytes(b"\xff" * 64)
    (root / "folder.safetensors").mkdir()
    with caplog.at_level(logging.INFO, logger="utils.model_list"):
        assert local_models(root) == ["good-sd"]
        demo = build_demo(Model(settings=tiny_settings))
    assert demo is not None
    skipped = " ".join(r.getMessage() for r in caplog.records)
    for name in ("custom", "dict", "null", "array", "broken", "binary"):
        assert f"Skipping {name}" in skipped


# ------------------------------------------------------------------------------------------- names and models
@pytest.mark.parametrize(
    "name",
    [
        "http://127.0.0.1:7911/x.safetensors",
        "https://huggingface.co/owner/repo/resolve/main/x.safetensors",  # diffusers loads no LoRA from an address
        "https://evil.example/owner/repo/x.safetensors",
        "file:///etc/passwd",
        "owner/repo/../../x.safetensors",
        "owner/repo/lora.safetensors",  # a hub file: a model may be one, a LoRA not
    ],
)
def test_lora_names_that_are_addresses_are_refused_up_front(tmp_path, name):
    with pytest.raises(InputError, match="LoRA"):
        check_ui_model_name(name, tmp_path, what="LoRA")


@pytest.mark.parametrize(
    "name",
    [
        "http://127.0.0.1:7911/x.safetensors",
        "https://huggingface.co/owner/repo/resolve/main/../../x.safetensors",
        "https://huggingface.co/owner/repo/blob/main//x.safetensors",
        "owner/repo/../../x.safetensors",
        "x" * 100_000,
    ],
)
def test_model_names_that_leave_the_hub_or_the_root_are_refused(tmp_path, name):
    with pytest.raises(InputError) as refused:
        check_ui_model_name(name, tmp_path)
    assert len(str(refused.value)) < 400


def test_a_hub_file_address_of_a_model_still_passes(tmp_path):
    url = "https://huggingface.co/owner/repo/blob/main/model.safetensors"
    assert check_ui_model_name(url, tmp_path) == url


def test_the_python_api_refuses_a_lora_address_by_name(tiny_models):
    model = Model(settings=Settings.from_env().with_tiny_models())
    with pytest.raises(InputError, match="LoRA 'http://127.0.0.1:7911/x.safetensors' is a web address"):
        model.text2video(
            "a cat",
            model_name="tiny-sd",
            lora="http://127.0.0.1:7911/x.safetensors",
            resolution=64,
            video_length=2,
            num_inference_steps=2,
        )


def test_the_model_search_lists_no_link_that_leaves_the_models_folder(tiny_models, tmp_path):
    root, outside = tmp_path / "models", tmp_path / "outside"
    root.mkdir()
    shutil.copytree(tiny_models["sd"], outside)
    shutil.copytree(tiny_models["sd"], root / "inside")
    os.symlink(outside, root / "escape")
    os.symlink(root / "inside", root / "alias")  # a link that stays inside still loads
    assert local_models(root) == ["alias", "inside"]


def test_a_folder_that_is_no_model_is_called_that(tiny_models, tmp_path):
    from errors import ModelLoadError

    odd = tmp_path / "etc"
    (odd / "python3").mkdir(parents=True)
    (odd / "python3" / "site.py").write_text("print('hi')")
    model = Model(settings=Settings.from_env().with_tiny_models())
    with pytest.raises(ModelLoadError, match="not a complete diffusers folder") as refused:
        model.text2video("a cat", model_name=str(odd), resolution=64, video_length=2, num_inference_steps=2)
    assert "custom Python code" not in str(refused.value)


@pytest.fixture
def helpers_app(shared_demo):
    return shared_demo


@pytest.mark.parametrize("value", ["m" * 100_000, {"a": 1}, ["x"], 12])
@pytest.mark.parametrize("elem_id", ["text2video-model", "modelscope-model"])
def test_the_page_helpers_for_a_model_answer_any_value(helpers_app, elem_id, value):
    """Called as the page calls them (by index: they are private), with what no page sends."""
    demo, url = helpers_app
    for trigger in ("change", "key_up"):
        try:
            index = event_index(demo, elem_id, trigger)
        except LookupError:
            continue
        answer = call_event(url, index, [value])
        if not answer["success"]:
            assert answer["output"].get("error"), answer  # a message, never {"error": null}
