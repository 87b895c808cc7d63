"""Faults: running out of memory mid-generation becomes a message, memory is freed, the next request works."""

import importlib

import pytest
import torch

from catalogue import TINY_SD_MODEL
from errors import OutOfMemory
from model import Model
from settings import Settings
from utils.video import read_video

FAST = dict(model_name=TINY_SD_MODEL, resolution=64, num_inference_steps=4, t0=1, t1=2, video_length=3)


@pytest.fixture
def model(tiny_models):
    return Model(settings=Settings.from_env().with_tiny_models())


@pytest.mark.parametrize(
    "error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"), MemoryError()]
)
def test_out_of_memory_becomes_a_message_and_the_next_request_works(model, monkeypatch, error):
    from pipelines import TextToVideoZeroPipeline

    original = TextToVideoZeroPipeline.__call__
    calls = []

    def fail_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TextToVideoZeroPipeline, "__call__", fail_once)
    freed = []
    monkeypatch.setattr("model.free_memory", lambda: freed.append(1))
    with pytest.raises(OutOfMemory, match="smaller chunk size.*lower resolution.*fewer frames"):
        model.process_text2video("a cat", **FAST)
    assert freed
    assert read_video(model.process_text2video("a cat", **FAST))[0].shape[0] == 3


@pytest.mark.slow
def test_out_of_memory_in_a_guided_mode_reaches_the_browser_as_a_message(tiny_models, monkeypatch):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from app import build_demo
    from tabs.guided import example

    model = Model(settings=Settings.from_env().with_tiny_models())

    def out_of_memory(frames):
        raise torch.OutOfMemoryError("CUDA out of memory")

    demo = build_demo(model)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        args = dict(
            video_path=handle_file(example("coffee_pan.mp4")),
            prompt="a cup",
            resolution=64,
            num_inference_steps=2,
            max_frames=2,
            api_name="/canny",
        )
        canny_module = importlib.import_module("annotators.canny")  # the package exports a function of that name
        monkeypatch.setattr(canny_module, "canny", lambda *a, **k: out_of_memory(None))
        with pytest.raises(AppError, match="Out of memory during canny-guided generation") as error:
            client.predict(**args)
        assert "Traceback" not in str(error.value)
        monkeypatch.undo()
        result, _ = client.predict(**args)
        assert read_video(result["video"] if isinstance(result, dict) else result)[0].shape[0] == 2
    finally:
        demo.close()
