"""Names and models: a web address is refused up front, by name (a LoRA loads from a hub id or a file in the models
folder only); the model search lists only what loads; the page's helpers answer any value; a folder that is not a
model is called that."""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest

from errors import InputError
from model import Model
from settings import Settings
from tests.helpers import call_event, event_index
from utils.model_list import local_models
from utils.model_names import check_ui_model_name

pytestmark = pytest.mark.app


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


@pytest.fixture(scope="module")
def helpers_app(tiny_models, tmp_path_factory):
    from app import build_demo

    folder = tmp_path_factory.mktemp("helpers")
    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models(), output_dir=folder / "outputs", models_root=folder / "models"
    )
    demo = build_demo(Model(settings=settings))
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield demo, demo.local_url
    finally:
        demo.close()


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
