"""Work, time and fairness: every stage of a request counts toward the work bound, Stop reaches every stage and
cancels exactly the job it names, messages quote a short prefix of what was sent, and no caller pushes out another's
live preview."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from errors import Cancelled, InputError
from model import Model
from registry import MODES
from settings import Settings
from tabs.guided import example
from tests.helpers import serving, video_of, web
from utils.jobs import Job, job_scope
from utils.video import VideoWriter, read_video

FAST = dict(model_name="tiny-sd", resolution=64, num_inference_steps=3, t0=0, t1=1, video_length=2)


# ------------------------------------------------------------------------------------------------ the work bound
def test_smoothing_counts_toward_the_work_bound(tiny_models, tiny_settings):
    model = Model(settings=tiny_settings)
    size = dict(FAST, resolution=128, video_length=32, fps=4)  # 1.6 of the tiny profile's 16 megapixel-steps
    with pytest.raises(InputError) as refused:
        web(model, "text2video", "a cat", smooth_fps=60, **size)
    message = str(refused.value)
    assert "32 frames x 128x128 px x 3 steps" in message and "smoothing to 60 fps: 480 frames" in message
    assert "T2VZ_MAX_WORK" in message and "smooth_fps" in message
    strict = Model(settings=dataclasses.replace(tiny_settings, max_work=1))  # the guided clip: the input's rate
    clip = str(Path(__file__).parents[1] / "assets/examples/cat_zoom.mp4")
    options = dict(model_name="tiny-sd", resolution=128, num_inference_steps=3, max_frames=8, input_fps=4)
    with pytest.raises(InputError, match=r"smoothing to 30 fps: \d+ frames x 256x\d+ px"):  # the condition beside
        web(strict, "controlnet_canny", clip, "a cat", smooth_fps=30, show_condition=True, **options)


# -------------------------------------------------------------------------------------- Stop at every stage
def test_stop_reaches_the_interpolation_and_leaves_no_file(tmp_path):
    frames = np.random.default_rng(0).random((16, 256, 256, 3)).astype(np.float32)
    job = Job()
    threading.Timer(0.3, job.stop.set).start()
    start = time.perf_counter()
    with job_scope(job), pytest.raises(Cancelled):
        with VideoWriter(tmp_path / "clip.mp4", 4, smooth_fps=60) as writer:
            writer.write(frames)
    assert time.perf_counter() - start < 5  # uncancelled, this interpolation takes longer
    assert list(tmp_path.iterdir()) == []  # nothing, not even a partial file


def test_a_job_stopped_while_smoothing_writes_neither_clip_nor_card(tiny_models, tiny_settings, monkeypatch):
    model = Model(settings=tiny_settings)
    job = Job()
    original = VideoWriter._second_pass

    def stopped_on_the_way(self):
        job.stop.set()  # Stop pressed as the interpolation starts
        return original(self)

    monkeypatch.setattr(VideoWriter, "_second_pass", stopped_on_the_way)
    with pytest.raises(Cancelled):
        web(model, "text2video", "a cat", job=job, smooth_fps=30, **FAST)
    assert [p for p in tiny_settings.output_dir.rglob("*") if p.is_file()] == []


def test_stop_reaches_the_annotator(tiny_models, tiny_settings):
    model = Model(settings=tiny_settings)
    job = Job()
    job.stop.set()
    annotate = model.annotator("depth")
    with job_scope(job), pytest.raises(Cancelled):
        annotate(np.zeros((4, 64, 64, 3), np.uint8))


def test_a_cancel_stops_exactly_the_job_it_names(tiny_models, tiny_settings, monkeypatch):
    """One client with a running and a queued generation cancels the queued one: the running one finishes and is
    written, the queued one never runs."""
    import model as model_module
    from app import build_demo
    from utils.jobs import on_step

    prompts, running = [], threading.Event()
    real_text2video = Model.text2video

    def recording(self, prompt=None, *args, **kwargs):
        prompts.append(prompt)
        return real_text2video(self, prompt, *args, **kwargs)

    def slow_step(pipe, step, timestep, tensors):
        running.set()
        time.sleep(0.05)
        return on_step(pipe, step, timestep, tensors)

    monkeypatch.setattr(Model, "text2video", recording)
    monkeypatch.setattr(model_module, "on_step", slow_step)
    demo = build_demo(Model(settings=tiny_settings))
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        base = demo.local_url.rstrip("/")
        fn_index = next(i for i, d in enumerate(demo.config["dependencies"]) if d.get("api_name") == "text2video")
        session, events, done = "one-client", {}, {}

        def join(prompt: str) -> str:
            values = [prompt, "tiny-sd", 12, 12, 0, 1, "", 2, 2, 0.0, 0, 64, 4, 30, 7.5, "", "", 1.0, False]
            body = {"data": values, "fn_index": fn_index, "session_hash": session}
            return httpx.post(f"{base}/gradio_api/queue/join", json=body).json()["event_id"]

        def listen():
            with httpx.stream(
                "GET", f"{base}/gradio_api/queue/data", params={"session_hash": session}, timeout=300
            ) as s:
                for line in s.iter_lines():
                    if line.startswith("data:"):
                        message = json.loads(line[5:])
                        if message.get("msg") == "process_completed":
                            done[message["event_id"]] = message
                            if len(done) == 2:
                                return

        events["running"] = join("the running one")
        listener = threading.Thread(target=listen, daemon=True)  # the session's stream exists once it has joined
        listener.start()
        assert running.wait(120)
        events["queued"] = join("the queued one")
        time.sleep(0.5)
        cancel = {"session_hash": session, "fn_index": fn_index, "event_id": events["queued"]}
        assert httpx.post(f"{base}/gradio_api/cancel", json=cancel).status_code == 200
        listener.join(300)
        assert done[events["running"]]["success"] and done[events["running"]]["output"]["data"][0]
        assert prompts == ["the running one"]  # the queued one never ran
        videos = list(tiny_settings.output_dir.glob("*.mp4"))
        assert len(videos) == 1 and videos[0].with_suffix(".json").is_file()
    finally:
        demo.close()


# ------------------------------------------------------------------------------------ short echoes, previews
@pytest.mark.parametrize(
    "parameter, value",
    [("motion_path", "1," * 500_000), ("scheduler", "x" * 1_000_000), ("output_format", "y" * 1_000_000),
     ("cross_frame", ["z"] * 100_000), ("seed", 10**300), ("guidance_scale", "7" * 100_000)],
)  # fmt: skip
def test_messages_quote_a_short_prefix_of_what_was_sent(tiny_models, tiny_settings, parameter, value):
    model = Model(settings=tiny_settings)
    with pytest.raises(InputError) as refused:
        model.text2video("a cat", **{**FAST, parameter: value})
    assert len(str(refused.value)) < 600, str(refused.value)[:300]


def test_a_long_value_is_quoted_short_over_the_web_too(tiny_models, tiny_settings):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    with serving(Model(settings=tiny_settings)) as url:
        client = Client(url, verbose=False)
        with pytest.raises(AppError) as refused:
            client.predict(prompt="a cat", scheduler="evil" * 250_000, api_name="/text2video")
    assert len(str(refused.value)) < 600 and "1,000,000 characters" in str(refused.value)


def test_made_up_sessions_never_push_out_a_real_page_s_preview():
    from tabs.results import PreviewBoard

    now = [0.0]
    board = PreviewBoard(clock=lambda: now[0])
    page = ("a real page", "text2video")
    assert board.want(page)
    refused = [board.want((f"made-up-{i}", "text2video")) for i in range(300)]
    assert board.wanted(page) and refused.count(False) > 0  # a full board refuses the newcomers instead
    now[0] += 20
    board.post(page, "picture")  # the running generation keeps its page's entry alive
    now[0] += 20
    assert board.take(page) == ("picture", False)
    assert sum(board.want(("one session", f"endpoint {i}")) for i in range(20)) <= 8  # a session holds few entries


# ------------------------------------------------------------------------------- 7. stopping a generation
def test_cancelling_through_the_api_stops_within_a_step_and_frees_the_worker(served, monkeypatch):
    from gradio_client import Client

    import model as model_module
    from utils.jobs import on_step

    model, url = served
    steps: list[int] = []
    running = threading.Event()

    def slow_step(pipe, step, timestep, tensors):
        steps.append(step)
        running.set()
        time.sleep(0.05)
        return on_step(pipe, step, timestep, tensors)

    monkeypatch.setattr(model_module, "on_step", slow_step)
    client = Client(url, verbose=False)
    job = client.submit(
        prompt="a cat", **{**FAST, "num_inference_steps": 400, "t0": 0, "t1": 1}, api_name="/text2video"
    )
    assert running.wait(120)
    before = len(steps)
    job.cancel()  # through the app's Stop button event
    assert model._lock.acquire(timeout=60)  # the worker let go of the device
    model._lock.release()
    stopped_at = len(steps)
    assert stopped_at - before <= 2 and stopped_at < 400  # within one step of the cancel
    time.sleep(0.3)
    assert len(steps) == stopped_at  # and it stays stopped
    assert list(model.settings.output_dir.iterdir()) == []  # partial work dropped, nothing written
    steps.clear()
    assert read_video(video_of(client.predict(prompt="a cat", **FAST, api_name="/text2video")))[0].shape[0] == 2


def test_a_stopped_job_ends_at_the_next_step_and_a_waiting_one_never_starts(tiny_settings, tiny_models):
    model = Model(settings=tiny_settings)
    job = Job()
    calls = []

    def stop_after_two(pipe, step, timestep, tensors):
        calls.append(step)
        if len(calls) == 2:
            job.stop.set()
        from utils.jobs import on_step

        return on_step(pipe, step, timestep, tensors)

    import model as model_module

    original = model_module.on_step
    model_module.on_step = stop_after_two
    try:
        with job_scope(job), pytest.raises(Cancelled):
            model.text2video("a cat", **{**FAST, "num_inference_steps": 20, "t0": 0, "t1": 1})
    finally:
        model_module.on_step = original
    assert len(calls) == 2 and list(tiny_settings.output_dir.glob("*")) == []

    waiting = Job()
    waiting.stop.set()
    with model._lock, job_scope(waiting), pytest.raises(Cancelled):
        model.text2video("a cat", **FAST)  # stopped while waiting for the device: never runs


def test_only_the_result_stream_going_away_stops_a_job(shared_app):
    """A closed tab is seen by its result stream closing (test_browser closes one), never by Gradio's heartbeat and
    `unload`, which drop on a busy server while an API client still waits for its result."""
    config = httpx.get(f"{shared_app.rstrip('/')}/config").json()
    assert not any(target[1] == "unload" for d in config["dependencies"] for target in d.get("targets", []))


def test_every_tab_has_a_stop_button_that_cancels_its_generation(shared_app):
    url = shared_app
    config = httpx.get(f"{url.rstrip('/')}/config").json()
    dependencies = config["dependencies"]
    generations = {i for i, d in enumerate(dependencies) if d.get("api_name") in MODES.names}
    assert len(generations) == len(MODES.names) == 9
    cancelled = {i for d in dependencies for i in d.get("cancels") or []}
    assert generations <= cancelled
    stops = [c for c in config["components"] if c.get("type") == "button" and c["props"].get("value") == "Stop"]
    assert len(stops) == 9


# -------------------------------------------------------------------------------------- 8. bounded work
def test_web_requests_above_the_work_bound_are_refused_with_the_knob(tiny_settings, tiny_models):
    model = Model(settings=dataclasses.replace(tiny_settings, max_work=1))
    big = {**FAST, "resolution": 128, "video_length": 8, "num_inference_steps": 10, "t0": 8, "t1": 9}
    with pytest.raises(InputError, match=r"8 frames x 128x128 px x 10 steps = 1 megapixel-steps.*T2VZ_MAX_WORK"):
        web(model, "text2video", "a cat", **big)
    with pytest.raises(InputError, match="T2VZ_MAX_WORK"):
        web(model, "controlnet_canny", example("coffee_pan.mp4"), "a cup", resolution=256, max_frames=8)
    with pytest.raises(InputError, match="T2VZ_MAX_WORK"):
        web(model, "modelscope", "a panda", num_frames=64, num_inference_steps=50)
    assert Path(web(model, "text2video", "a cat", **FAST).path).exists()  # small ones still run
    assert Path(model.text2video("a cat", **big).path).exists()  # the Python API is not bounded
    assert Settings.from_env({"T2VZ_MAX_WORK": "7"}).work_limit == 7
