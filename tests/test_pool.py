"""Several devices serving at once (T2VZ_DEVICES): one Model per device, two requests run side by side; here the
devices are two CPU slots."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from pool import ModelPool, serving_model
from settings import Settings

pytestmark = pytest.mark.app


def test_two_devices_serve_two_requests_at_once(tiny_models, tmp_path, monkeypatch):
    from gradio_client import Client

    import model as model_module
    from tests.helpers import serving
    from utils.jobs import on_step

    running, most = set(), [0]
    lock = threading.Lock()

    def slow_step(pipe, step, timestep, tensors):
        with lock:
            running.add(id(pipe.unet))
            most[0] = max(most[0], len(running))
        time.sleep(0.2)
        with lock:
            running.discard(id(pipe.unet))
        return on_step(pipe, step, timestep, tensors)

    monkeypatch.setattr(model_module, "on_step", slow_step)
    settings = dataclasses.replace(
        Settings.from_env({"T2VZ_DEVICES": "cpu, cpu"}).with_tiny_models(), output_dir=tmp_path
    )
    assert settings.devices == ("cpu", "cpu")
    pool = serving_model(settings)
    assert isinstance(pool, ModelPool) and pool.concurrency == 2
    with serving(pool) as url:
        client = Client(url, verbose=False)
        fast = dict(model_name="tiny-sd", resolution=64, video_length=2, num_inference_steps=6)
        jobs = [client.submit(prompt=p, **fast, api_name="/text2video") for p in ("a cat", "a dog")]
        paths = [job.result()[0] for job in jobs]
    assert len({str(p) for p in paths}) == 2
    assert most[0] == 2  # both devices' UNets were in a step at the same time
    assert all(m._lock.acquire(blocking=False) for m in pool.models)  # both free again


def test_a_video_model_runs_on_a_free_device_of_the_pool(tiny_models, tmp_path):
    settings = dataclasses.replace(
        Settings.from_env({"T2VZ_DEVICES": "cpu, cpu"}).with_tiny_models(), output_dir=tmp_path
    )
    pool = serving_model(settings)
    small = dict(model_name="tiny-ltx", num_frames=9, height=64, width=64, num_inference_steps=2)
    results = [pool.trained_video(prompt, **small) for prompt in ("a fox", "a hare")]
    assert all(result.card.mode == "trained_video" for result in results)
    assert all(m._lock.acquire(blocking=False) for m in pool.models)


def test_one_device_is_a_plain_model(tiny_models):
    from model import Model

    assert isinstance(serving_model(Settings.from_env().with_tiny_models()), Model)
