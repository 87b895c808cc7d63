"""The batch on a local Ray cluster: the same clips as one process, a killed worker's job done by another, and
nothing written twice."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from tabs.guided import example
from utils.video import read_video

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="Ray is not installed (requirements-ray.txt)")

FAST = dict(resolution=64, num_inference_steps=3)
JOBS = [
    {"mode": "text2video", "parameters": {"prompt": "a cat", "video_length": 2, **FAST}},
    {"mode": "text2video", "parameters": {"prompt": "a dog", "video_length": 2, "seed": 3, **FAST}},
    {
        "mode": "canny",
        "parameters": {"video_path": example("cat_zoom.mp4"), "prompt": "a tiger", "max_frames": 2, **FAST},
    },
    {
        "mode": "canny",
        "parameters": {"video_path": example("coffee_pan.mp4"), "prompt": "tea", "max_frames": 2, **FAST},
    },
    {
        "mode": "pix2pix",
        "parameters": {"video": example("coffee_pan.mp4"), "prompt": "night", "max_frames": 2, **FAST},
    },
    {"mode": "pix2pix", "parameters": {"video": example("cat_zoom.mp4"), "prompt": "snow", "max_frames": 2, **FAST}},
    {
        "mode": "trained_video",
        "parameters": {"prompt": "a fox", "model_name": "tiny-wan", "num_frames": 5, "width": 64, "height": 64},
    },
]


@pytest.fixture(scope="module")
def cluster(tiny_models):
    from batch import ray_runtime_env

    ray.init(num_cpus=2, runtime_env=ray_runtime_env(None), log_to_driver=False, include_dashboard=False)
    yield
    ray.shutdown()


def clips(folder) -> dict:
    return {p.name: read_video(p)[0] for p in sorted(folder.glob("*.mp4"))}


def write_jobs(path, jobs) -> None:
    path.write_text("\n".join(json.dumps(job) for job in jobs))


def test_two_ray_workers_make_the_clips_one_process_makes(cluster, tmp_path):
    from batch import run_batch, run_batch_on_ray
    from model import Model
    from settings import Settings

    write_jobs(tmp_path / "jobs.jsonl", JOBS)
    # Each of the 2 workers computes with 1 thread of the 2 CPUs; so does this process here (float sums depend on
    # how they are split between threads).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = Model(settings=Settings.from_env().with_tiny_models())
        local = run_batch(tmp_path / "jobs.jsonl", tmp_path / "local", model)
    finally:
        torch.set_num_threads(threads)
    on_ray = run_batch_on_ray(
        tmp_path / "jobs.jsonl", tmp_path / "ray", workers=2, settings=Settings.from_env().with_tiny_models()
    )
    assert (local.done, on_ray.done, on_ray.failed) == (len(JOBS),) * 2 + (0,)
    mine, theirs = clips(tmp_path / "local"), clips(tmp_path / "ray")
    assert mine.keys() == theirs.keys() and all(np.array_equal(mine[k], theirs[k]) for k in mine)
    again = run_batch_on_ray(
        tmp_path / "jobs.jsonl", tmp_path / "ray", workers=2, settings=Settings.from_env().with_tiny_models()
    )
    assert (again.done, again.skipped) == (0, len(JOBS))  # the second run does nothing


def test_a_killed_worker_s_job_is_done_by_another(cluster, tmp_path, monkeypatch):
    import batch
    from settings import Settings

    write_jobs(tmp_path / "jobs.jsonl", JOBS)
    pool = []
    killed = threading.Event()
    original_get = ray.get

    def get_then_kill(refs, *args, **kwargs):
        value = original_get(refs, *args, **kwargs)
        if not killed.is_set() and pool:  # after the first finished clip, kill a worker (busy on its next job)
            killed.set()
            ray.kill(pool[0])
        return value

    monkeypatch.setattr(ray, "get", get_then_kill)
    summary = batch.run_batch_on_ray(
        tmp_path / "jobs.jsonl",
        tmp_path / "out",
        workers=2,
        settings=Settings.from_env().with_tiny_models(),
        on_started=pool.extend,
    )
    assert killed.is_set() and (summary.done, summary.failed) == (len(JOBS), 0)
    rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert sorted(row["job"] for row in rows) == list(range(len(JOBS)))  # each job once: nothing lost, nothing twice
    assert len(list((tmp_path / "out").glob("*.mp4"))) == len(JOBS) and not list((tmp_path / "out").glob(".*partial"))
