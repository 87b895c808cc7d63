"""Motion dynamics of Text2Video-Zero: the anchor latent at T', moved for each frame by the camera.

The paper's motion is a global translation by k * (dx, dy) for frame k. Here the camera may also zoom and rotate
about the frame's centre, or follow a free per-frame path of translations; each frame is one affine map of latent
cells.

The latent being moved is noisy (it sits at timestep T'), so every output cell is a copy of one input cell, the
nearest to where the map says it comes from: the noise keeps its unit variance. Bilinear resampling would average
neighbouring cells and shrink the noise, which the denoiser then reads as signal. What the maps do to the noise:
a translation moves cells; zooming in duplicates cells (blocks of about s x s copies of one cell: each cell still has
unit variance, but neighbours are no longer independent, so the zoomed frame's noise is coarser); zooming out drops
cells (a subsample: still independent unit-variance cells); a rotation does either a little along its diagonals.
Cells brought in from outside the frame are mirrored from the border (symmetric reflection, the edge cell repeated),
as `grid_sample(padding_mode="reflection")` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Motion strengths are given in pixels of a 512-pixel frame, as in the paper and the original demo.
REFERENCE_SIZE = 512


def motion_shift(strength: float, frame_index: int, latent_size: int) -> int:
    """Latent cells to shift frame `frame_index` by, for a strength in pixels of a 512-px frame (half rounds up)."""
    return math.floor(strength * frame_index * latent_size / REFERENCE_SIZE + 0.5)


def reflect_indices(indices: torch.Tensor, size: int) -> torch.Tensor:
    """Map any integer indices into [0, size) by symmetric reflection (-1 -> 0, size -> size - 1)."""
    period = indices.remainder(2 * size)
    return torch.where(period >= size, 2 * size - 1 - period, period)


def translate_latent(latent: torch.Tensor, shift_x: int, shift_y: int) -> torch.Tensor:
    """Shift a (C, H, W) latent by whole cells: out[:, y, x] = latent[:, y + shift_y, x + shift_x], reflected."""
    _, height, width = latent.shape
    rows = reflect_indices(torch.arange(height, device=latent.device) + shift_y, height)
    cols = reflect_indices(torch.arange(width, device=latent.device) + shift_x, width)
    return latent[:, rows][:, :, cols]


@dataclass(frozen=True)
class CameraMotion:
    """The camera of one clip. Frame k is translated by k * (strength_x, strength_y), or by `path[k]` where a path
    is given (pixels of a 512-px frame, frame 0 first); zoomed by (1 + zoom) ** k (0.02: 2 % closer per frame;
    negative: away) and rotated by k * rotation degrees (counter-clockwise), both about the frame's centre."""

    strength_x: float = 0.0
    strength_y: float = 0.0
    zoom: float = 0.0
    rotation: float = 0.0
    path: tuple[tuple[float, float], ...] | None = None

    def translation(self, frame: int) -> tuple[float, float]:
        """Frame `frame`'s translation in pixels of a 512-px frame (a path holds its last offset past its end)."""
        if self.path:
            return self.path[min(frame, len(self.path) - 1)]
        return self.strength_x * frame, self.strength_y * frame

    @property
    def translates_only(self) -> bool:
        return self.zoom == 0 and self.rotation == 0


def source_position(motion: CameraMotion, frame: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each output cell of frame `frame`, where it comes from in the anchor (rows, columns; float64, before
    rounding and reflection): output cell p comes from centre + R(-angle) (p - centre) / scale + shift."""
    dx, dy = motion.translation(frame)
    shift_x, shift_y = dx * width / REFERENCE_SIZE, dy * height / REFERENCE_SIZE
    rows = torch.arange(height, dtype=torch.float64)[:, None].expand(height, width)
    cols = torch.arange(width, dtype=torch.float64)[None, :].expand(height, width)
    scale = (1 + motion.zoom) ** frame
    angle = math.radians(motion.rotation * frame)
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    y, x = rows - centre_y, cols - centre_x
    # Inverse rotation of the output position (image rows point down: a counter-clockwise turn on screen).
    cos, sin = math.cos(angle), math.sin(angle)
    return (sin * x + cos * y) / scale + centre_y + shift_y, (cos * x - sin * y) / scale + centre_x + shift_x


def source_cells(motion: CameraMotion, frame: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each output cell of frame `frame`, the (row, column) of the anchor cell it copies (nearest, reflected)."""
    source_y, source_x = source_position(motion, frame, height, width)
    nearest_x = torch.floor(source_x + 0.5).long()  # half rounds up, as `motion_shift`
    nearest_y = torch.floor(source_y + 0.5).long()
    return reflect_indices(nearest_y, height), reflect_indices(nearest_x, width)


def warp_latent(latent: torch.Tensor, motion: CameraMotion, frame: int) -> torch.Tensor:
    """A (C, H, W) latent as the camera sees it at frame `frame`: every cell a copy of one anchor cell."""
    _, height, width = latent.shape
    if motion.translates_only and not motion.path:  # the paper's motion: whole-cell shifts, as it always was
        return translate_latent(
            latent, motion_shift(motion.strength_x, frame, width), motion_shift(motion.strength_y, frame, height)
        )
    rows, cols = source_cells(motion, frame, height, width)
    return latent[:, rows.to(latent.device), cols.to(latent.device)]


def warp_anchor_latent(
    anchor: torch.Tensor,
    frame_indices: list[int],
    strength_x: float = 0.0,
    strength_y: float = 0.0,
    motion: CameraMotion | None = None,
) -> torch.Tensor:
    """(F, C, H, W) copies of a (1, C, H, W) anchor latent, frame k as the camera sees it: by default translated by
    k * (strength_x, strength_y), the paper's motion."""
    motion = motion or CameraMotion(strength_x, strength_y)
    return torch.stack([warp_latent(anchor[0], motion, k) for k in frame_indices])
