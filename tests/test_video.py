import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from utils.video import VideoWriter, add_watermark, new_output_path, read_video, write_video


def probe(path) -> str:
    return subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path)], capture_output=True, text=True).stderr


def test_mp4_is_browser_playable_h264_yuv420p_with_the_frame_count_and_size(tmp_path):
    frames = np.random.default_rng(0).random((9, 48, 80, 3), dtype=np.float32)
    path = write_video([frames[:4], frames[4:]], tmp_path / "clip.mp4", fps=6)
    info = probe(path)
    assert "h264" in info and "yuv420p" in info and "6 fps" in info
    decoded, fps = read_video(path)
    assert decoded.shape == (9, 48, 80, 3) and fps == 6
    # Lossy, but the content survives: decoded frames are close to what was written.
    assert np.abs(decoded.astype(float) / 255 - frames).mean() < 0.2


def test_odd_sizes_are_padded_to_even(tmp_path):
    path = write_video([np.zeros((2, 33, 65, 3), np.uint8)], tmp_path / "odd.mp4", fps=4)
    assert read_video(path)[0].shape == (2, 34, 66, 3)


def test_gif(tmp_path):
    frames = np.linspace(0, 1, 3)[:, None, None, None] * np.ones((3, 32, 32, 3))
    path = write_video([frames], tmp_path / "clip.gif", fps=5)
    image = Image.open(path)
    assert image.n_frames == 3 and image.size == (32, 32)
    assert image.info["duration"] == 200


def test_watermark_marks_the_bottom_right_corner_only():
    frame = np.full((128, 128, 3), 255, np.uint8)
    marked = add_watermark(frame, "Text2Video-Zero")
    changed = np.argwhere((marked != frame).any(axis=-1))
    assert len(changed) > 0
    assert changed[:, 0].min() > 64 and changed[:, 1].min() > 16


def test_output_paths_are_unique(tmp_path):
    paths = {new_output_path(tmp_path) for _ in range(100)}
    assert len(paths) == 100 and all(p.parent == tmp_path for p in paths)


def test_bad_format_and_fps_are_refused_and_a_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="format"):
        VideoWriter(tmp_path / "clip.avi", fps=4)
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(tmp_path / "clip.mp4", fps=0)
    path = tmp_path / "partial.mp4"
    with pytest.raises(RuntimeError), VideoWriter(path, fps=4) as writer:
        writer.write(np.zeros((2, 16, 16, 3), np.uint8))
        raise RuntimeError("interrupted")
    assert not path.exists()
    with pytest.raises(ValueError, match="No frames"):
        write_video([], tmp_path / "empty.mp4", fps=4)
