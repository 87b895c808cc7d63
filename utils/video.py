"""Video files: browser-playable H.264 mp4 (yuv420p) and GIF, written frame slice by frame slice."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np

from errors import OutputError

VIDEO_FORMATS = ("mp4", "webm", "gif")
PARTIAL = ".partial"  # infix of the hidden file a video is written to before it gets its final name
INPUTS_FOLDER = "inputs"  # in the output folder: the input files of the clips' cards (`cards.InputFile`)
logger = logging.getLogger(__name__)
# imageio-ffmpeg warns whenever ffmpeg resizes while reading, which load_video always asks it to do.
logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)


def new_output_path(output_dir: str | Path, suffix: str = ".mp4") -> Path:
    """A fresh, unique file path in `output_dir` (created), so concurrent requests never share a file. The web app
    serves outputs from this folder by name, so the name carries 128 random bits: it cannot be guessed."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return folder / f"{stamp}-{uuid.uuid4().hex}{suffix}"


def output_path(
    path: str | Path | None, output_dir: Path, max_age_seconds: float, output_format: str | None = None
) -> Path:
    """Where a request's video goes, checked before any work: a fresh file of `output_format` (default mp4) in
    `output_dir` (pruning expired ones on the way), or the caller's `path`, which must name a video file (.mp4,
    .webm, .gif; of `output_format` where both are given) in a folder that can be written."""
    from errors import InputError
    from utils.validation import as_text

    if path in (None, ""):
        prune_outputs(output_dir, max_age_seconds)
        return new_output_path(output_dir, f".{output_format or 'mp4'}")
    chosen = Path(as_text("path", path)).expanduser()
    suffix = chosen.suffix.lower().lstrip(".")
    if suffix not in VIDEO_FORMATS:
        allowed = ", ".join("." + f for f in VIDEO_FORMATS)
        raise InputError(f"path must end in one of {allowed}, got '{chosen.name}'.")
    if output_format and output_format != suffix:
        raise InputError(f"path '{chosen.name}' is a .{suffix} file but output_format is {output_format}: give one.")
    if chosen.is_dir():
        raise InputError(f"path '{chosen}' is a folder: name a video file inside it, e.g. '{chosen / 'clip.mp4'}'.")
    probe = chosen.parent / f".{chosen.name}.{uuid.uuid4().hex[:8]}.probe"
    try:
        chosen.parent.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise InputError(
            f"Cannot write to the folder of path '{chosen}' ({error.strerror or error}): choose another path."
        ) from None
    return chosen


OUTPUT_PATTERNS = ("????????-??????-*", f".????????-??????-*{PARTIAL}.*")  # videos, and partial files a crash left


def prune_outputs(output_dir: str | Path, max_age_seconds: float) -> int:
    """Delete this app's videos (named by `new_output_path`), their cards and kept input files, and partial files a
    crash left behind, older than `max_age_seconds`; returns how many."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - max_age_seconds
    removed = 0
    inputs = folder / INPUTS_FOLDER  # the input files the cards name, each kept as long as its newest clip
    kept = (path for path in inputs.iterdir() if path.is_file()) if inputs.is_dir() else ()
    for path in kept:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    for path in (path for pattern in OUTPUT_PATTERNS for path in folder.glob(pattern)):
        try:
            ours = path.suffix.lstrip(".") in (*VIDEO_FORMATS, "json") or PARTIAL in path.name  # videos, their cards
            if ours and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # deleted meanwhile (another pruner)
            pass
    return removed


_pruners: set[Path] = set()


def keep_pruning(output_dir: str | Path, max_age_seconds: float, every_seconds: float) -> None:
    """Prune `output_dir` every `every_seconds` in a daemon thread (one per folder), so an expired video is gone
    even when no new request comes to prune it."""
    import threading

    folder = Path(output_dir).resolve()
    if folder in _pruners:
        return
    _pruners.add(folder)

    def run() -> None:
        while True:
            try:
                prune_outputs(folder, max_age_seconds)
            except OSError as error:
                logger.warning("Could not prune %s: %s", folder, error)
            time.sleep(every_seconds)

    threading.Thread(target=run, name=f"prune {folder.name}", daemon=True).start()


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


def describe_write_error(name: str, reason: str | OSError) -> OutputError:
    """`OutputError` for the video `name`, from an OSError or ffmpeg's last words."""
    text = reason.strerror or str(reason) if isinstance(reason, OSError) else str(reason)
    if (isinstance(reason, OSError) and reason.errno == errno.ENOSPC) or "No space left" in text:
        return OutputError(
            f"Could not write the video '{name}': no space left on the device. Free some disk space (or point "
            "T2VZ_OUTPUT_DIR at another disk) and generate again."
        )
    return OutputError(f"Could not write the video '{name}': {text.strip() or 'the encoder failed'}.")


# How each format is encoded. A GIF, and any smoothed clip, is first encoded losslessly (FFV1) as the frames come and
# made from that file at the end, when the frame count is known: ffmpeg streams it, never holding every frame.
ENCODERS = {
    "mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "10", "-movflags", "+faststart", "-f", "mp4"],
    "webm": ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-crf", "30", "-b:v", "0", "-row-mt", "1", "-f", "webm"],
    "lossless": ["-c:v", "ffv1", "-pix_fmt", "bgr0", "-f", "matroska"],
}
MAX_SMOOTH_FPS = 60


def smoothing_filters(fps: float, smooth_fps: float, frames: int) -> list[str]:
    """ffmpeg's motion-compensated frame interpolation from `fps` up to `smooth_fps` (no new weights). Its look-ahead
    would drop the last frames (all of a 2-frame clip): the end is padded with copies of the last frame, and the
    result trimmed to the clip's own duration."""
    return [
        "tpad=stop_mode=clone:stop=3",
        f"minterpolate=fps={smooth_fps:g}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1",
        f"trim=duration={frames / fps:.6f}",
    ]


class VideoWriter:
    """Writes frames to an mp4 (H.264, yuv420p, fast start), a WebM (VP9) or a GIF (an optimal palette) as they
    come, optionally interpolated to `smooth_fps`; use as a context manager.

    Frames go to a hidden partial file in the same folder, renamed to `path` only once the encoder has finished
    without error: a full disk, a crash or an interruption never leaves a partial video under the final name, and
    ffmpeg's own failures surface as `OutputError` (imageio-ffmpeg's writer does not check ffmpeg's exit status, so
    this one runs the same bundled ffmpeg itself).
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        watermark: str | None = None,
        smooth_fps: float = 0,
        metadata: dict[str, str] | None = None,
    ):
        self.path = Path(path)
        self.format = self.path.suffix.lower().lstrip(".")
        if self.format not in VIDEO_FORMATS:
            raise ValueError(f"Unsupported video format {self.path.suffix!r}: use one of {', '.join(VIDEO_FORMATS)}.")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps!r}.")
        self.fps = float(fps)
        self.smooth_fps = float(smooth_fps or 0)
        self.watermark = watermark or None
        # Tags of the file (mp4, WebM), e.g. its generation card; a GIF has no place for them.
        self.metadata = [arg for key, value in (metadata or {}).items() for arg in ("-metadata", f"{key}={value}")]
        self.frame_count = 0
        self.partial = self.path.with_name(f".{self.path.stem}.{uuid.uuid4().hex[:8]}{PARTIAL}{self.path.suffix}")
        # A GIF's frames wait in a lossless file for their palette, a smoothed clip's for its frame count.
        self.smoothing = self.smooth_fps > self.fps
        self.two_pass = self.format == "gif" or self.smoothing
        self.encoded = self.partial.with_suffix(".mkv") if self.two_pass else self.partial
        self._ffmpeg: subprocess.Popen | None = None
        self._stderr: IO[bytes] | None = None

    def __enter__(self) -> VideoWriter:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise describe_write_error(self.path.name, error) from None
        return self

    def write(self, frames: np.ndarray) -> None:
        """Append frames: float (n, h, w, 3) in [0, 1] or uint8."""
        for frame in to_uint8(np.asarray(frames)):
            frame = pad_to_even(add_watermark(frame, self.watermark) if self.watermark else frame)
            try:
                self._send(np.ascontiguousarray(frame))
            except OSError as error:  # ffmpeg stopped (a full disk, ...): its own words say why
                raise self._fail(self._stop(), error) from None
            self.frame_count += 1

    def _send(self, frame: np.ndarray) -> None:
        if self._ffmpeg is None:
            self._ffmpeg = self._start(*frame.shape[:2])
        self._ffmpeg.stdin.write(frame.tobytes())  # type: ignore[union-attr]  # opened with stdin=PIPE

    def _start(self, height: int, width: int) -> subprocess.Popen:
        """The bundled ffmpeg, reading raw RGB frames from a pipe; its stderr goes to a file read on failure."""
        command = [
            ffmpeg(),
            *("-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}"),
            *("-r", str(Fraction(self.fps).limit_denominator()), "-i", "-", "-an"),
            *ENCODERS["lossless" if self.two_pass else self.format],
            *([] if self.two_pass else self.metadata),
            str(self.encoded),
        ]
        self._stderr = tempfile.TemporaryFile()
        try:
            return subprocess.Popen(command, stdin=subprocess.PIPE, stderr=self._stderr)
        except OSError as error:
            raise describe_write_error(self.path.name, error) from None

    def _fail(self, said: str, error: OSError | None = None) -> OutputError:
        """Remove the partial files and say why, from ffmpeg's stderr (its last line) or the OS error."""
        self._clean()
        logger.warning("Could not write %s: %s %s", self.path, error or "", said.strip())
        lines = [line for line in said.splitlines() if line.strip()]
        return describe_write_error(self.path.name, lines[-1] if lines else (error or "the encoder failed"))

    def _clean(self) -> None:
        for leftover in {self.partial, self.encoded, self.partial.with_suffix(".png")}:
            leftover.unlink(missing_ok=True)

    def _stop(self, kill: bool = False) -> str:
        """End ffmpeg (waiting for it to finish the file unless `kill`); returns why it failed, or "" if it did not."""
        if self._ffmpeg is None or self._stderr is None:
            return ""
        process, self._ffmpeg = self._ffmpeg, None
        if kill:
            process.kill()
        with contextlib.suppress(OSError):
            process.stdin.close()  # type: ignore[union-attr]  # opened with stdin=PIPE
        code = process.wait()
        self._stderr.seek(0)
        said = self._stderr.read().decode(errors="replace")
        self._stderr.close()
        if code == 0 or kill:
            return ""
        return said if said.strip() else f"ffmpeg exited with status {code}"

    def _second_pass(self) -> str:
        """The file from the lossless frames: smoothed where asked, then encoded; a GIF in two passes (palettegen,
        then paletteuse). Returns "" or why ffmpeg failed."""
        filters = smoothing_filters(self.fps, self.smooth_fps, self.frame_count) if self.smoothing else []
        source = [ffmpeg(), "-y", "-v", "error", "-i", str(self.encoded)]
        if self.format != "gif":
            chain = ["-vf", ",".join(filters)] if filters else []
            return _run([*source, *chain, *ENCODERS[self.format], *self.metadata, str(self.partial)])
        palette = self.partial.with_suffix(".png")
        smoothed = ",".join(filters)
        prefix = f"{smoothed}," if smoothed else ""
        use = f"[0:v]{smoothed}[v];[v][1:v]" if smoothed else "[0:v][1:v]"
        return _run([*source, "-vf", f"{prefix}palettegen=stats_mode=diff", str(palette)]) or _run(
            [*source, "-i", str(palette), "-lavfi", f"{use}paletteuse=dither=sierra2_4a", "-loop", "0", "-f", "gif"]
            + [str(self.partial)]
        )

    def close(self) -> None:
        """Finish the file and move it to its final name; raises `OutputError` (leaving nothing) if that fails."""
        if self._ffmpeg is not None and (said := self._stop()):
            raise self._fail(said)
        if self.two_pass and self.encoded.exists():
            try:
                said = self._second_pass()
            except BaseException:  # stopped while interpolating: nothing is written
                self._clean()
                raise
            if said:
                raise self._fail(said)
        try:
            if self.partial.exists():
                os.replace(self.partial, self.path)
        except OSError as error:
            self._clean()
            raise describe_write_error(self.path.name, error) from None
        finally:
            if self.two_pass:
                self._clean()

    def abort(self) -> None:
        """Drop everything written so far: nothing appears under the final name."""
        self._stop(kill=True)
        self._clean()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _run(command: list[str]) -> str:
    """Run ffmpeg to the end; "" or why it failed. A stopped request (`utils.jobs`) kills it within a tenth of a
    second and raises `Cancelled`: interpolating a long clip takes minutes."""
    from utils.jobs import check_cancelled

    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            while process.poll() is None:
                check_cancelled()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.1)
        except BaseException:
            process.kill()
            process.wait()
            raise
        if not process.returncode:
            return ""
        stderr.seek(0)
        return stderr.read().decode(errors="replace") or f"ffmpeg exited with status {process.returncode}"


MAX_PLAYABLE_SIDE = 4096  # px: a GIF larger than this is not made playable (its frames would be huge)


def playable_copy(path: str | Path, folder: str | Path) -> Path:
    """A GIF as an mp4 in `folder` that a browser's video player plays (same frames and rate; sides made even, as
    H.264 needs), for the page's video boxes, which take only video/* files. Raises InputError for a file that is
    not a GIF that can be read."""
    from errors import InputError

    name = Path(path).name
    if Path(path).suffix.lower() != ".gif":
        raise InputError(f"'{name}' is not a GIF: upload a .gif file here, or a video in the video box.")
    width, height = probe_video(path)["size"]
    if max(width, height) > MAX_PLAYABLE_SIDE:
        raise InputError(f"'{name}' is {width}x{height}: a GIF may be at most {MAX_PLAYABLE_SIDE} px on a side.")
    target = Path(folder) / f"{Path(path).stem}.mp4"
    even = "scale=trunc(iw/2)*2:trunc(ih/2)*2:flags=neighbor,format=yuv420p"
    command = [ffmpeg(), "-y", "-loglevel", "error", *INPUT_DEMUXERS, "-f", "gif", "-i", str(path)]
    command += ["-vf", even, "-c:v", "libx264", "-crf", "12", "-movflags", "+faststart", str(target)]
    failure = _run(command)
    if failure:
        raise InputError(f"'{name}' could not be read as a GIF: upload another file.")
    return target


def ffmpeg() -> str:
    """The ffmpeg that imageio-ffmpeg ships (no system ffmpeg is needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


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


# ------------------------------------------------------------------------------------------------- video input
VIDEO_INPUT_TYPES = (".mp4", ".mov", ".webm", ".gif", ".mkv", ".avi", ".m4v")
# The only containers ffmpeg may open for an input (mp4/mov/m4v, WebM/Matroska, GIF, AVI, and a still PNG, JPEG or
# WebP as a one-frame clip): a playlist or a concat list disguised as a video would otherwise make it fetch addresses
# or read other files of the server. (Single-picture readers only: image2 would read a numbered sequence of files.)
INPUT_DEMUXERS = ["-format_whitelist", "mov,matroska,gif,avi,png_pipe,jpeg_pipe,webp_pipe"]


@dataclass
class VideoClip:
    """Frames sampled from an input video: uint8 (frames, height, width, 3), their frame rate, notes for the user."""

    frames: np.ndarray
    fps: float
    notes: list[str] = field(default_factory=list)


def fit_size(width: int, height: int, resolution: int, multiple: int = 8) -> tuple[int, int]:
    """Long side = `resolution`; the short side keeps the aspect ratio, rounded to the nearest multiple of
    `multiple` (so the picture is stretched by at most half a multiple, 4 px, never cropped)."""
    scale = resolution / max(width, height)
    fit = lambda side: max(multiple, round(side * scale / multiple) * multiple)  # noqa: E731
    return fit(width), fit(height)


def shape_size(
    width: int, height: int, want_width: int | None, want_height: int | None, long_side: int, multiple: int = 8
) -> tuple[int, int]:
    """The size to give a clip of `width` x `height`: `want_width` x `want_height` where both are given; one of them
    given, the other follows the clip's aspect ratio; neither, the clip's shape at `long_side` (`fit_size`)."""
    if want_width and want_height:
        return want_width, want_height
    fit = lambda side: max(multiple, round(side / multiple) * multiple)  # noqa: E731
    if want_width:
        return want_width, fit(want_width * height / width)
    if want_height:
        return fit(want_height * width / height), want_height
    return fit_size(width, height, long_side, multiple)


def probe_video(path: str | Path) -> dict:
    """ffmpeg's view of a video: size, fps, duration. Raises InputError for anything that is not a video."""
    import imageio_ffmpeg

    from errors import InputError

    name = Path(path).name
    try:
        reader = imageio_ffmpeg.read_frames(str(path), input_params=INPUT_DEMUXERS)
        meta = next(reader)
        reader.close()
    except (OSError, RuntimeError, StopIteration) as error:
        raise InputError(
            f"'{name}' is not a video that can be read ({', '.join(VIDEO_INPUT_TYPES)}): upload another file."
        ) from error
    if not meta.get("size") or not meta.get("fps"):
        raise InputError(f"'{name}' has no video stream: upload a video file.")
    return meta


def load_video(
    path: str | Path | None,
    resolution: int,
    start_t: float = 0.0,
    end_t: float = -1,
    fps: float = -1,
    max_frames: int = 128,
) -> VideoClip:
    """Frames from `start_t` to `end_t` seconds (-1: the end), sampled at `fps` (-1: the video's own rate), resized so
    the long side is `resolution` (see `fit_size`), at most `max_frames` of them.

    ffmpeg seeks, samples and resizes while decoding, so a long or 4K video is never held in memory; grayscale and
    alpha inputs come out as RGB.
    """

    from errors import InputError
    from utils.validation import as_float

    if path in (None, "") or not Path(path).is_file():
        kinds = ", ".join(kind.lstrip(".") for kind in VIDEO_INPUT_TYPES)
        raise InputError(f"No video: upload a video file ({kinds}).")
    meta = probe_video(path)
    duration = float(meta.get("duration") or 0.0)
    source_fps = float(meta["fps"])
    start_t = as_float("Start time", start_t, 0.0)
    end_t = as_float("End time", end_t)
    if duration and start_t >= duration:
        raise InputError(f"Start time {start_t:g} s is beyond the end of the video ({duration:.2f} s).")
    if end_t != -1 and end_t <= start_t:
        raise InputError(f"End time ({end_t:g} s) must be after the start time ({start_t:g} s), or -1 for the end.")
    rate = source_fps if fps in (-1, None) else as_float("Frame rate", fps, 0.1, 120.0)
    width, height = fit_size(meta["size"][0], meta["size"][1], resolution)

    notes: list[str] = []
    frames = _read_frames(path, start_t, end_t, f"fps={rate:g},", width, height, max_frames, notes)
    if not frames:  # a still image or a window shorter than one sampled frame: take the frames as they are
        frames = _read_frames(path, start_t, end_t, "", width, height, max_frames, notes)
    if not frames:
        raise InputError("The video has no frames between the start and end times: choose other times.")
    if len(frames) > max_frames:
        frames = frames[:max_frames]
        notes.append(f"The video was cut to {max_frames} frames ({max_frames / rate:.1f} s at {rate:g} fps).")
    return VideoClip(frames=np.stack(frames), fps=rate, notes=notes)


def _read_frames(path, start_t, end_t, rate_filter, width, height, max_frames, notes) -> list[np.ndarray]:
    """Decode at most `max_frames + 1` frames through ffmpeg's seek, rate and scale filters."""
    import imageio_ffmpeg

    from errors import InputError

    output_params = ["-vf", f"{rate_filter}scale={width}:{height}:flags=area", "-frames:v", str(max_frames + 1)]
    if end_t != -1:
        output_params = ["-t", f"{end_t - start_t:g}", *output_params]
    reader = imageio_ffmpeg.read_frames(
        str(path), pix_fmt="rgb24", input_params=[*INPUT_DEMUXERS, "-ss", f"{start_t:g}"], output_params=output_params
    )
    frames: list[np.ndarray] = []
    try:
        next(reader)
        for raw in reader:
            frames.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
    except (OSError, RuntimeError) as error:
        if not frames:
            raise InputError(f"'{Path(path).name}' could not be decoded (damaged file?): upload another.") from error
        notes.append(f"The video is damaged after {len(frames)} frames; using those.")
    finally:
        reader.close()
    return frames
