"""Video files: browser-playable H.264 mp4 (yuv420p) and GIF, written frame slice by frame slice."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import numpy as np

VIDEO_FORMATS = ("mp4", "gif")


def new_output_path(output_dir: str | Path, suffix: str = ".mp4") -> Path:
    """A fresh, unique file path in `output_dir` (created), so concurrent requests never share a file."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return folder / f"{stamp}-{uuid.uuid4().hex[:12]}{suffix}"


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] (or uint8 frames) to uint8 (n, h, w, 3)."""
    if frames.dtype == np.uint8:
        return frames
    return (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def pad_to_even(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: repeat the last row/column where a side is odd."""
    height, width = frame.shape[:2]
    return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def add_watermark(frame: np.ndarray, text: str) -> np.ndarray:
    """Draw `text` in the bottom-right corner of a uint8 frame, white on a translucent dark box."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(frame).convert("RGBA")
    size = max(8, image.height // 24)
    font = ImageFont.load_default(size=size)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    margin = max(2, size // 3)
    x, y = image.width - (right - left) - 2 * margin, image.height - (bottom - top) - 2 * margin
    draw.rectangle((x - margin, y - margin, image.width, image.height), fill=(0, 0, 0, 96))
    draw.text((x - left, y - top), text, font=font, fill=(255, 255, 255, 220))
    return np.asarray(Image.alpha_composite(image, overlay).convert("RGB"))


class VideoWriter:
    """Writes frames to an mp4 (H.264, yuv420p, fast start) or a GIF as they come; use as a context manager."""

    def __init__(self, path: str | Path, fps: float, watermark: str | None = None):
        self.path = Path(path)
        self.format = self.path.suffix.lower().lstrip(".")
        if self.format not in VIDEO_FORMATS:
            raise ValueError(f"Unsupported video format {self.path.suffix!r}: use one of {', '.join(VIDEO_FORMATS)}.")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps!r}.")
        self.fps = float(fps)
        self.watermark = watermark or None
        self.frame_count = 0
        self._ffmpeg = None
        self._gif_frames: list = []

    def __enter__(self) -> VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, frames: np.ndarray) -> None:
        """Append frames: float (n, h, w, 3) in [0, 1] or uint8."""
        for frame in to_uint8(np.asarray(frames)):
            frame = pad_to_even(add_watermark(frame, self.watermark) if self.watermark else frame)
            if self.format == "gif":
                from PIL import Image

                self._gif_frames.append(Image.fromarray(frame))
            else:
                self._mp4(frame.shape).send(np.ascontiguousarray(frame))
            self.frame_count += 1

    def _mp4(self, shape):
        if self._ffmpeg is None:
            import imageio_ffmpeg

            height, width = shape[:2]
            self._ffmpeg = imageio_ffmpeg.write_frames(
                str(self.path),
                size=(width, height),
                fps=self.fps,
                codec="libx264",
                pix_fmt_out="yuv420p",
                quality=8,
                macro_block_size=2,
                ffmpeg_log_level="error",
                output_params=["-movflags", "+faststart"],
            )
            self._ffmpeg.send(None)
        return self._ffmpeg

    def close(self) -> None:
        if self._ffmpeg is not None:
            self._ffmpeg.close()
            self._ffmpeg = None
        if self._gif_frames:
            first, *rest = self._gif_frames
            first.save(self.path, save_all=True, append_images=rest, duration=round(1000 / self.fps), loop=0)
            self._gif_frames = []

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if exc_type is not None:
            self.path.unlink(missing_ok=True)


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: float, watermark: str | None = None) -> Path:
    """Write an iterable of frame batches (each (n, h, w, 3)) to `path`; returns the path."""
    with VideoWriter(path, fps, watermark) as writer:
        for batch in frames:
            writer.write(batch)
    if writer.frame_count == 0:
        raise ValueError("No frames to write.")
    return writer.path


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """All frames of a video as uint8 (n, h, w, 3) and its frame rate (for tests and small clips)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    width, height = meta["size"]
    frames = [np.frombuffer(raw, np.uint8).reshape(height, width, 3) for raw in reader]
    return np.stack(frames), float(meta["fps"])
