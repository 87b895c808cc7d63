"""Under load: four clients at once all get their own, correct video; a fifth finds the queue full and is told so."""

import dataclasses
import threading
import time

import numpy as np
import pytest

from model import Model
from settings import Settings
from utils.video import read_video

pytestmark = [pytest.mark.app, pytest.mark.slow]

ARGS = dict(
    prompt="a horse galloping",
    model_name="tiny-sd",
    t0=3,
    t1=5,
    chunk_size=4,
    video_length=4,
    resolution=64,
    num_inference_steps=6,
)


def path_of(result) -> str:
    video = result[0]
    return video["video"] if isinstance(video, dict) else video


def test_four_clients_at_once_and_a_fifth_too_many(tiny_models):
    from gradio_client import Client
    from gradio_client.utils import Status

    from app import build_demo

    # One generation runs at a time; three more may wait: a fifth request is one too many.
    settings = dataclasses.replace(Settings.from_env().with_tiny_models(), queue_size=3)
    model = Model(settings=settings)
    gate = threading.Event()
    generate = model.text2video

    def held_until_the_fifth_is_answered(*args, **kwargs):
        gate.wait(timeout=120)
        return generate(*args, **kwargs)

    model.text2video = held_until_the_fifth_is_answered
    demo = build_demo(model)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        clients = [Client(demo.local_url, verbose=False) for _ in range(5)]
        seeds = [11, 22, 33, 44]
        # The first job must be running before the other three queue: four waiting at once (a slow worker on a busy
        # machine has not taken the first yet) would already be one too many for a queue of three.
        jobs = [clients[0].submit(**ARGS, seed=seeds[0], api_name="/text2video")]
        deadline = time.time() + 60
        while jobs[0].status().code != Status.PROCESSING:
            assert time.time() < deadline, jobs[0].status().code
            time.sleep(0.05)
        jobs += [
            client.submit(**ARGS, seed=seed, api_name="/text2video")
            for client, seed in zip(clients[1:4], seeds[1:], strict=True)
        ]
        deadline = time.time() + 60
        while not all(job.status().code in (Status.IN_QUEUE, Status.PROCESSING) for job in jobs):
            assert time.time() < deadline, [job.status().code for job in jobs]
            time.sleep(0.05)
        with pytest.raises(Exception, match="(?i)queue is full"):
            clients[4].predict(**ARGS, seed=55, api_name="/text2video")
        gate.set()
        results = [job.result(timeout=300) for job in jobs]
    finally:
        gate.set()
        demo.close()

    paths = [path_of(result) for result in results]
    assert len(set(paths)) == 4
    assert [result[1] for result in results] == seeds
    # Each client's video is what its seed alone produces.
    alone = Model(settings=settings)
    for path, seed in zip(paths, seeds, strict=True):
        expected = read_video(alone.process_text2video(**ARGS, seed=seed))[0]
        assert np.array_equal(read_video(path)[0], expected)
