"""Reading input videos: formats, sampling, resizing, limits and everything a user may upload by mistake."""

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from errors import InputError
from utils.video import fit_size, load_video, write_video


def ffmpeg(*args: str) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """5 s at 10 fps, 333x517 (odd sizes), frame k filled with grey level 20 * k // 10."""
    frames = np.repeat(np.arange(50, dtype=np.uint8)[:, None, None, None] * 5, 517 * 333 * 3).reshape(50, 517, 333, 3)
    return write_video([frames], tmp_path_factory.mktemp("in") / "clip.mp4", fps=10)


def test_sizes_keep_the_aspect_ratio_in_multiples_of_8():
    assert fit_size(333, 517, 512) == (328, 512)
    assert fit_size(3840, 2160, 512) == (512, 288)
    assert fit_size(100, 10, 64) == (64, 8)


def test_odd_size_video_is_sampled_resized_and_timed(clip):
    video = load_video(clip, 256, fps=4)
    assert video.frames.shape == (20, 256, 168, 3) and video.fps == 4 and video.notes == []
    video = load_video(clip, 256, start_t=2, end_t=3)
    assert video.frames.shape[0] == 10 and video.fps == 10
    # Frames come from the right time: frame 20 (2 s) had grey level 100.
    assert abs(float(video.frames[0].mean()) - 100) < 6


def test_frame_cap_cuts_with_a_message(clip):
    video = load_video(clip, 128, max_frames=8)
    assert len(video.frames) == 8
    assert "cut to 8 frames" in video.notes[0]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(start_t=10), "beyond the end"),
        (dict(start_t=3, end_t=2), "after the start"),
        (dict(start_t=-1), "Start time"),
        (dict(fps=0), "Frame rate"),
    ],
)
def test_bad_times_and_rates(clip, kwargs, words):
    with pytest.raises(InputError, match=words):
        load_video(clip, 128, **kwargs)


def test_files_that_are_not_videos(tmp_path, clip):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:2000])
    for path, words in (
        (None, "No video"),
        (tmp_path / "missing.mp4", "No video"),
        (text, "not a video"),
        (truncated, "not a video|could not be decoded"),
    ):
        with pytest.raises(InputError, match=words):
            load_video(path, 128)


def test_a_file_with_no_video_stream_or_zero_frames(tmp_path):
    audio = tmp_path / "audio.mp4"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "1", "-c:a", "aac", str(audio))
    empty = tmp_path / "empty.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=4", "-frames:v", "0", "-c:v", "libx264", str(empty))
    for path in (audio, empty):
        with pytest.raises(InputError, match="not a video|no video|no frames"):
            load_video(path, 128)


def test_a_damaged_video_keeps_the_frames_before_the_damage(tmp_path, clip):
    damaged = tmp_path / "damaged.mp4"
    data = bytearray(clip.read_bytes())
    damaged.write_bytes(bytes(data[: len(data) * 2 // 3]))
    video = load_video(damaged, 128)
    assert 0 < len(video.frames) < 50


def test_4k_and_ten_minute_videos_are_resized_and_capped(tmp_path):
    big = tmp_path / "4k.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=3840x2160:rate=2", "-t", "2", "-pix_fmt", "yuv420p", str(big))
    video = load_video(big, 512)
    assert video.frames.shape[1:] == (288, 512, 3)
    long = tmp_path / "long.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=1", "-t", "600", "-pix_fmt", "yuv420p", str(long))
    video = load_video(long, 128, fps=4, max_frames=16)
    assert len(video.frames) == 16 and "cut to 16 frames" in video.notes[0]


@pytest.mark.parametrize("suffix, codec", [(".webm", "libvpx-vp9"), (".mov", "libx264"), (".gif", "gif")])
def test_other_containers(tmp_path, clip, suffix, codec):
    path = tmp_path / f"clip{suffix}"
    ffmpeg("-i", str(clip), "-t", "1", "-c:v", codec, str(path))
    video = load_video(path, 128)
    assert video.frames.shape[1:] == (128, 80, 3) and len(video.frames) >= 8


def test_grayscale_and_alpha_inputs_become_rgb(tmp_path):
    gray = tmp_path / "gray.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48:rate=4",
        "-t",
        "1",
        "-pix_fmt",
        "gray",
        "-c:v",
        "ffv1",
        str(gray.with_suffix(".mkv")),
    )
    alpha = tmp_path / "alpha.webm"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48:rate=4",
        "-t",
        "1",
        "-c:v",
        "libvpx-vp9",
        "-pix_fmt",
        "yuva420p",
        str(alpha),
    )
    for path in (gray.with_suffix(".mkv"), alpha):
        video = load_video(path, 64)
        assert video.frames.shape[1:] == (48, 64, 3) and video.frames.dtype == np.uint8
