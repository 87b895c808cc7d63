"""Only whole files: a full disk, an error or a kill mid-write leaves no file under its final name, bad paths are
refused before any work, and an expired output is no longer served."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from errors import InputError, OutputError
from model import Model
from tests.helpers import TEXT2VIDEO_VALUES, call_raw, video_of
from utils.video import VideoWriter, prune_outputs, read_video

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(model_name="tiny-sd", resolution=64, num_inference_steps=3, t0=0, t1=1, video_length=2)


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
