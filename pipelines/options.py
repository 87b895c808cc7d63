"""The zero-shot method's options as one value, and the checks every caller shares.

`ZeroShot` carries what the method does beyond plain sampling (lockstep chunks, token merging, cross-frame
attention and its mode, feature reuse; for text-to-video the motion field, the camera, T/T', the image's strength
and background smoothing) from a checked call to the engine in one piece: a pipeline takes it as `options=`
(`takes_options` unpacks it into the pipeline's own diffusers-style keywords, which direct callers keep using).
The checks of those options live here once (the chunk that fits a clip, T/T', the camera path and zoom); the
calls in `modes` and the pipelines both use them, each naming the parameter as its caller knows it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from dataclasses import dataclass

from errors import InputError
from utils.validation import quote

MAX_ZOOM = 0.5  # per frame: +-50 %
MAX_PATH = 1024  # frames of a camera path
MAX_OFFSET = 10_000.0  # px of a 512-px frame


@dataclass(frozen=True)
class ZeroShot:
    """The zero-shot options of one call (see the module). The defaults are the method's own, and a pipeline that
    has no use for an option (the guided ones have no camera) takes it only at its default."""

    chunk_size: int | None = None  # frames per UNet pass (None: all); the output does not depend on it
    merging_ratio: float = 0.0
    use_cf_attn: bool = True
    feature_reuse: int = 1
    cross_frame: str = "anchor"
    motion_field_strength_x: float = 12
    motion_field_strength_y: float = 12
    use_motion_field: bool = True
    motion_zoom: float = 0.0
    motion_rotation: float = 0.0
    motion_path: tuple[tuple[float, float], ...] | None = None
    t0: int | None = None
    t1: int | None = None
    image_strength: float = 0.0
    smooth_bg: bool = False
    smooth_bg_strength: float = 0.4
    smooth_bg_mask: str = "attention"
    free_init_iterations: int = 0
    flow_fusion: float = 0.0
    frame_smoother: bool = False
    vidtome_local: float = 0.0
    vidtome_global: float = 0.0

    @classmethod
    def of(cls, source) -> ZeroShot:
        """The options held by `source` (a checked call): every field it has by the same name."""
        return cls(**{f.name: getattr(source, f.name) for f in dataclasses.fields(cls) if hasattr(source, f.name)})

    def keywords(self, accepted) -> dict:
        """The options as keyword arguments of a pipeline that takes `accepted`; one it does not take must be at
        its default."""
        values = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in accepted:
                values[field.name] = value
            elif value != field.default:
                raise InputError(f"This pipeline takes no {field.name} (given {quote(value)}).")
        return values


def takes_options(call):
    """Let a pipeline's `__call__` take its zero-shot keywords as one `options` value (`ZeroShot`); given both, a
    keyword the value also sets is an error."""
    accepted = set(inspect.signature(call).parameters)

    @functools.wraps(call)
    def with_options(self, *args, options: ZeroShot | None = None, **kwargs):
        if options is not None:
            values = options.keywords(accepted)
            if twice := sorted(set(values) & set(kwargs)):
                raise TypeError(f"{', '.join(twice)} given both as keywords and in options")
            kwargs.update(values)
        return call(self, *args, **kwargs)

    return with_options


# ------------------------------------------------------------------------------------------------ shared checks
def fit_chunk(chunk_size: int | None, frames: int, notes: list[str] | None = None) -> int:
    """The chunk size that fits a clip of `frames`: all of it for None or more than it (said in `notes`)."""
    if chunk_size is not None and chunk_size > frames and notes is not None:
        notes.append(f"Chunk size {chunk_size} exceeds the video's {frames} frames: using {frames}.")
    return min(chunk_size or frames, frames)


def suggest_t0_t1(num_inference_steps: int, t0: int = 44, t1: int = 47, reference_steps: int = 50) -> tuple[int, int]:
    """t0/t1 at the same fraction of the schedule as `t0`/`t1` of `reference_steps`, kept valid (0 <= t0 < t1 < n)."""
    n = max(2, num_inference_steps)
    new_t1 = min(n - 1, max(1, round(t1 * (n - 1) / (reference_steps - 1))))
    new_t0 = min(new_t1 - 1, max(0, round(t0 * (n - 1) / (reference_steps - 1))))
    return new_t0, new_t1


def check_t0_t1(t0, t1, num_inference_steps: int) -> None:
    """t0/t1 are the original's step indices of T' and T, counted from the end of the schedule (both None: the
    method's T and T' on any schedule)."""
    if (t0, t1) == (None, None):
        return
    valid = all(isinstance(v, int) and not isinstance(v, bool) for v in (t0, t1))
    if not valid or not 0 <= t0 < t1 <= num_inference_steps - 1:
        s0, s1 = suggest_t0_t1(num_inference_steps)
        raise InputError(
            f"t0 ({quote(t0)}) and t1 ({quote(t1)}) must satisfy 0 <= t0 < t1 <= steps - 1 = "
            f"{num_inference_steps - 1}. For {num_inference_steps} steps try t0={s0}, t1={s1}, or leave both out "
            "(-1 or None): the method's T and T' on any schedule."
        )


def camera_path(value, label: str = "Camera path") -> tuple[tuple[float, float], ...] | None:
    """A camera path: pairs (dx, dy) per frame in pixels of a 512-px frame, as a list of pairs or as text
    "dx,dy; dx,dy; ..."; None or "" for none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    problem = (
        f"{label} must be (dx, dy) pairs of numbers, one per frame in pixels of a 512-px frame, frame 0 first: "
        f"e.g. '0,0; 8,0; 16,4' or [[0, 0], [8, 0]]; got {quote(value)}."
    )
    try:
        pairs = [part.split(",") for part in value.split(";") if part.strip()] if isinstance(value, str) else value
        path = tuple((float(dx), float(dy)) for dx, dy in pairs)
    except (TypeError, ValueError):
        raise InputError(problem) from None
    if not path or len(path) > MAX_PATH or not all(math.isfinite(v) and abs(v) <= MAX_OFFSET for p in path for v in p):
        raise InputError(problem + f" At most {MAX_PATH} frames, offsets within +-{MAX_OFFSET:g} px.")
    return path
