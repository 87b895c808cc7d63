"""The holes an adversarial run found, each with the test that would have caught it (issue: hardening).

1 one session's clip reaching another, 2 escaping the models folder, 3 odd model folders at start-up, 4-5 failed or
interrupted writes, 6 expired outputs still served, 7 generations that cannot be stopped, 8 unbounded work,
9-10 wrong types and range errors that name no field, 11 messages that point the wrong way, 12 password guessing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from errors import Cancelled, InputError, ModelLoadError, OutputError
from model import Model
from settings import Settings
from tabs.guided import example
from tests.helpers import serving
from utils.jobs import Job, RequestRules, job_scope
from utils.video import VideoWriter, prune_outputs, read_video

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(model_name="tiny-sd", resolution=64, num_inference_steps=3, t0=0, t1=1, video_length=2)


def web(model: Model, method: str, *args, **kwargs):
    """Call a Model method as a web request does (the web's rules apply)."""
    with job_scope(Job()):
        return getattr(model, method)(*args, rules=RequestRules.web(model.settings), **kwargs)


@pytest.fixture
def tiny_settings(tmp_path) -> Settings:
    return dataclasses.replace(
        Settings.from_env().with_tiny_models(), output_dir=tmp_path / "outputs", models_root=tmp_path / "models"
    )


@pytest.fixture
def served(tiny_models, tiny_settings):
    """The app on the tiny models, its Model and its URL."""
    model = Model(settings=tiny_settings)
    with serving(model) as url:
        yield model, url


@pytest.fixture(scope="module")
def shared_app(tiny_models, tmp_path_factory):
    """One app for the tests that only send requests and read answers (no assertion on the output folder)."""
    folder = tmp_path_factory.mktemp("shared")
    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models(), output_dir=folder / "outputs", models_root=folder / "models"
    )
    with serving(Model(settings=settings)) as url:
        yield url


def video_of(result) -> str:
    result = result[0] if isinstance(result, tuple | list) else result
    return result["video"] if isinstance(result, dict) else result


# ----------------------------------------------------------------------------------- 1. sessions stay apart
def test_one_visitor_s_clip_never_reaches_another(served):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    model, url = served
    owner, stranger = Client(url, verbose=False), Client(url, verbose=False)
    clip = video_of(
        owner.predict(prompt="a private clip", num_frames=2, num_inference_steps=2, api_name="/modelscope")
    )
    with pytest.raises(AppError, match="No clip to upscale: generate a clip first"):
        stranger.predict(video_path=None, prompt="steal it", num_inference_steps=2, api_name="/modelscope_upscale")
    assert not [name for name, value in vars(model).items() if isinstance(value, str) and value.endswith(".mp4")]
    upscaled = owner.predict(
        video_path=handle_file(clip),
        prompt="a clip",
        num_inference_steps=2,
        width=64,
        height=64,
        api_name="/modelscope_upscale",
    )
    assert read_video(video_of(upscaled))[0].shape == (2, 64, 64, 3)


def test_the_clip_to_upscale_is_a_labelled_input_of_the_page(shared_app):
    url = shared_app
    config = httpx.get(f"{url.rstrip('/')}/config").json()
    labels = {c["props"].get("label") for c in config["components"] if c.get("type") == "video"}
    assert "Clip to upscale" in labels
    states = [c for c in config["components"] if c.get("type") == "state"]
    assert not states  # no hidden per-server or per-session clip state feeds the upscale endpoint


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


# --------------------------------------------------------------------- 4-5. failed or interrupted writes
FRAMES = (np.random.default_rng(0).random((12, 128, 128, 3)) * 255).astype(np.uint8)


@pytest.fixture
def full_disk(tmp_path):
    """A 48 kB tmpfs: a real full disk where the machine lets a test mount one."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the injected ENOSPC test covers it")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_full_disk_is_an_error_and_leaves_no_file(full_disk, suffix):
    with (
        pytest.raises(OutputError, match="no space left on the device"),
        VideoWriter(full_disk / f"a{suffix}", 8) as w,
    ):
        w.write(FRAMES)
    assert list(full_disk.iterdir()) == []  # neither the final name nor a partial file
    with VideoWriter(full_disk / f"small{suffix}", 8) as writer:  # the next write works
        writer.write(FRAMES[:2, :16, :16])
    assert [p.name for p in full_disk.iterdir()] == [f"small{suffix}"] and read_video(full_disk / f"small{suffix}")


def test_a_full_disk_mid_generation_reaches_the_browser_and_the_next_request_works(served, monkeypatch):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    model, url = served

    def no_space(self, frame):
        raise OSError(errno.ENOSPC, "No space left on device")

    client = Client(url, verbose=False)
    with monkeypatch.context() as patch:
        patch.setattr(VideoWriter, "_send", no_space)
        with pytest.raises(AppError, match="no space left on the device"):
            client.predict(prompt="a cat", **FAST, api_name="/text2video")
    assert list(model.settings.output_dir.iterdir()) == []
    assert read_video(video_of(client.predict(prompt="a cat", **FAST, api_name="/text2video")))[0].shape[0] == 2


def test_bad_paths_are_refused_before_any_work(tiny_settings, tmp_path):
    model = Model(settings=tiny_settings)
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        model.text2video("a cat", **FAST, path=str(tmp_path / "dir.mp4"))
    with pytest.raises(InputError, match="Cannot write to the folder"):
        model.text2video("a cat", **FAST, path="/proc/clip.mp4")
    with pytest.raises(InputError, match="path must be text"):
        model.text2video("a cat", **FAST, path=["x.mp4"])
    assert model.loaded_name("base") is None


def test_an_error_mid_write_leaves_no_file(tiny_models, tiny_settings, monkeypatch):
    from pipelines.base import ZeroShotVideoPipeline

    original = ZeroShotVideoPipeline.decode_latents_iter

    def crash_after_one_slice(self, latents, size=2):
        iterator = original(self, latents, size)
        yield next(iterator)
        raise RuntimeError("the machine fell over")

    monkeypatch.setattr(ZeroShotVideoPipeline, "decode_latents_iter", crash_after_one_slice)
    model = Model(settings=tiny_settings)
    with pytest.raises(RuntimeError, match="fell over"):
        model.text2video("a cat", **{**FAST, "video_length": 6})
    assert list(tiny_settings.output_dir.iterdir()) == []


def test_a_killed_writer_never_leaves_a_file_under_its_final_name(tmp_path):
    script = f"""
import os, signal, sys
import numpy as np
sys.path.insert(0, {str(ROOT)!r})
from utils.video import VideoWriter
with VideoWriter({str(tmp_path / "clip.mp4")!r}, 8) as writer:
    writer.write(np.zeros((24, 64, 64, 3), np.uint8))
    os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script])
    assert done.returncode == -signal.SIGKILL
    assert not (tmp_path / "clip.mp4").exists()
    partial = list(tmp_path.glob(".clip.*.partial.mp4"))
    assert len(partial) == 1  # hidden, and pruned with the outputs once old (when named as an output)
    named = tmp_path / ".20200101-000000-0123456789abcdef0123456789abcdef.0badf00d.partial.mp4"
    partial[0].rename(named)
    os.utime(named, (time.time() - 7200, time.time() - 7200))
    assert prune_outputs(tmp_path, 3600) == 1 and not named.exists()


# ------------------------------------------------------------------------------ 6. one lifetime for outputs
# The text-to-video endpoint as first published: 19 values, randomize_seed last.
TEXT2VIDEO_VALUES = '["a cat", "tiny-sd", 12, 12, 0, 1, "", 2, 2, 0.0, 0, 64, 4, 3, 7.5, "", "", 1.0, false]'


def call_raw(url: str, endpoint: str, data: str) -> str:
    """A request as any HTTP client sends it (Gradio's two-step call API); returns the event stream's text."""
    base = url.rstrip("/")
    event = httpx.post(
        f"{base}/gradio_api/call/{endpoint}",
        content=f'{{"data": {data}}}',
        headers={"content-type": "application/json"},
    ).json()["event_id"]
    return httpx.get(f"{base}/gradio_api/call/{endpoint}/{event}", timeout=120).text


def test_clients_of_the_endpoint_as_first_published_are_served_and_new_parameters_go_last(shared_app):
    """The payload lists the values in the order the endpoint was published; output_format, smooth_fps, scheduler
    and feature_reuse came later, in that order, and go after randomize_seed: without them, their defaults; with
    them, they count."""
    assert "event: complete" in call_raw(shared_app, "text2video", TEXT2VIDEO_VALUES)
    with_new = TEXT2VIDEO_VALUES[:-1] + ', "mp4", 0, "lcm", 2]'
    assert "event: complete" in call_raw(shared_app, "text2video", with_new)
    wrong = TEXT2VIDEO_VALUES[:-1] + ', "mp4", 0, "fast", 2]'
    assert "Scheduler must be one of" in call_raw(shared_app, "text2video", wrong)


def test_an_expired_output_is_no_longer_served(served):
    from app import lifetimes

    model, url = served
    stream = call_raw(url, "text2video", TEXT2VIDEO_VALUES)
    video = json.loads(stream.split("event: complete\ndata: ")[1].splitlines()[0])[0]
    files = sorted(model.settings.output_dir.iterdir())  # the video and its generation card
    assert [f.suffix for f in files] == [".json", ".mp4"] and video["path"] == str(files[1])  # served in place
    assert httpx.get(video["url"]).status_code == 200
    old = time.time() - model.settings.output_ttl_hours * 3600 - 60
    for file in files:
        os.utime(file, (old, old))
    assert prune_outputs(model.settings.output_dir, model.settings.output_ttl_hours * 3600) == 2
    assert not list(model.settings.output_dir.iterdir())
    assert httpx.get(video["url"]).status_code in (403, 404)
    # Gradio's cache (uploads) has the same lifetime, checked at least hourly.
    assert lifetimes(model.settings) == (3600, model.settings.output_ttl_hours * 3600)
    assert lifetimes(dataclasses.replace(model.settings, output_ttl_hours=1)) == (3600, 3600)


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
    generations = {
        i
        for i, d in enumerate(dependencies)
        if d.get("api_name")
        in ("text2video", "pose", "canny", "canny_db", "depth", "pix2pix", "modelscope", "modelscope_upscale")
    }
    assert len(generations) == 8
    cancelled = {i for d in dependencies for i in d.get("cancels") or []}
    assert generations <= cancelled
    stops = [c for c in config["components"] if c.get("type") == "button" and c["props"].get("value") == "Stop"]
    assert len(stops) == 8


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


# ----------------------------------------------------------------------- 9-10. every bad value names its field
@pytest.mark.parametrize(
    "endpoint, change, message",
    [
        ("/text2video", dict(prompt=["a cat"]), "Prompt must be text, got list"),
        ("/text2video", dict(prompt={"text": "a cat"}), "Prompt must be text, got dict"),
        ("/text2video", dict(prompt=None), "Prompt is missing"),
        ("/text2video", dict(num_inference_steps="many"), "Steps must be a whole number, got 'many'"),
        ("/text2video", dict(num_inference_steps=None), "Steps must be a whole number, got None"),
        ("/text2video", dict(resolution=[64]), "Resolution must be a whole number"),
        ("/text2video", dict(seed=1.5), "seed must be a whole number, got 1.5"),
        ("/text2video", dict(randomize_seed="no"), "randomize_seed must be true or false, got 'no'"),
        ("/text2video", dict(model_name={"id": "x"}), "Model must be text, got dict"),
        ("/text2video", dict(num_inference_steps=20, t0=17, t1=19), "ok"),  # above the page's default bound
        ("/canny", dict(show_condition="yes"), "show_condition must be true or false, got 'yes'"),
        ("/canny", dict(show_condition=1), "show_condition must be true or false, got 1"),
        ("/pose", dict(is_skeleton="no"), "is_skeleton must be true or false, got 'no'"),
        ("/canny", dict(video_path="clip.mp4"), "video_path must be an uploaded video file"),
        ("/canny", dict(video_path=5), "video_path must be an uploaded video file"),
    ],
)
def test_wrong_types_get_a_message_naming_the_parameter(shared_app, endpoint, change, message):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    url = shared_app
    client = Client(url, verbose=False)
    base = (
        {"prompt": "a cat", **FAST}
        if endpoint == "/text2video"
        else {
            "video_path": handle_file(example("coffee_pan.mp4")),
            "prompt": "a cup",
            "resolution": 64,
            "num_inference_steps": 2,
            "max_frames": 2,
        }
    )
    if message == "ok":
        assert read_video(video_of(client.predict(**{**base, **change}, api_name=endpoint)))[0].shape[0] >= 1
        return
    with pytest.raises(AppError, match=message) as error:
        client.predict(**{**base, **change}, api_name=endpoint)
    assert "upstream" not in str(error.value) and "TypeError" not in str(error.value)


def test_missing_values_and_nan_over_raw_http_name_the_parameter(shared_app):
    url = shared_app
    assert "Missing value for model_name" in call_raw(url, "text2video", '["a cat"]')
    with_nan = TEXT2VIDEO_VALUES.replace('"tiny-sd", 12,', '"tiny-sd", NaN,')
    assert "Motion strength x must be a finite number, got nan" in call_raw(url, "text2video", with_nan)


def test_flags_as_text_are_refused_by_the_python_api_too(tiny_settings):
    model = Model(settings=tiny_settings)
    for flag in ("use_cf_attn", "use_motion_field"):
        with pytest.raises(InputError, match=f"{flag} must be true or false, got 'no'"):
            model.text2video("a cat", **FAST, **{flag: "no"})


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


# ------------------------------------------------------------------------------------ 12. password guessing
def test_repeated_wrong_passwords_slow_down_the_client_only():
    from utils.login import LoginThrottle, _client

    now = [1000.0]
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    throttle = LoginThrottle([("ann", "secret")], free_tries=3, clock=lambda: now[0], sleep=sleep)

    def attempt(client: str, password: str) -> bool:
        _client.set(client)
        return asyncio.run(throttle.check("ann", password))

    assert [attempt("1.2.3.4", "guess") for _ in range(3)] == [False] * 3 and waited == []
    assert not attempt("1.2.3.4", "guess") and waited == [2.0]
    assert not attempt("1.2.3.4", "secret")  # locked out: even the right password is not checked
    now[0] += 2.5
    assert not attempt("1.2.3.4", "guess") and waited == [2.0, 4.0]  # each lockout twice the last
    assert attempt("5.6.7.8", "secret")  # other clients are not slowed
    now[0] += 4.5
    assert attempt("1.2.3.4", "secret")  # after the lockout, the right password works and resets the count
    assert not attempt("1.2.3.4", "guess") and waited == [2.0, 4.0]


@pytest.mark.slow
def test_the_login_page_slows_repeated_failures(tiny_models, tiny_settings):
    from app import build_demo, launch_options, parse_args

    settings = tiny_settings.with_auth("ann:secret")
    options = launch_options(settings, parse_args([]))
    throttle = options["auth"].__self__
    now = [0.0]
    throttle.clock = lambda: now[0]
    demo = build_demo(Model(settings=settings))
    demo.launch(
        prevent_thread_lock=True,
        server_name="127.0.0.1",
        quiet=True,
        auth=options["auth"],
        app_kwargs=options["app_kwargs"],
    )
    try:
        login = f"{demo.local_url.rstrip('/')}/login"
        wrong = [httpx.post(login, data={"username": "ann", "password": f"guess{i}"}).status_code for i in range(6)]
        assert wrong == [400] * 6 and "127.0.0.1" in throttle.locked_until
        assert httpx.post(login, data={"username": "ann", "password": "secret"}).status_code == 400  # locked out
        now[0] += 3600
        assert httpx.post(login, data={"username": "ann", "password": "secret"}).status_code == 200
    finally:
        demo.close()
