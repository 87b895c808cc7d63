"""Motion dynamics of Text2Video-Zero: global translation of the anchor latent by k * (dx, dy) for frame k.

The latent being moved is noisy (it sits at timestep T'), so it is shifted by whole latent cells: every output cell
is a copy of an input cell and the noise keeps its variance. Bilinear resampling would average neighbouring cells and
shrink the noise, which the denoiser then reads as signal. Cells shifted in from outside the frame are mirrored from
the border (symmetric reflection, the edge cell repeated), as `grid_sample(padding_mode="reflection")` does.
"""

from __future__ import annotations

import math

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


def warp_anchor_latent(
    anchor: torch.Tensor, frame_indices: list[int], strength_x: float, strength_y: float
) -> torch.Tensor:
    """(F, C, H, W) copies of a (1, C, H, W) anchor latent, frame k translated by k * (strength_x, strength_y)."""
    _, _, height, width = anchor.shape
    return torch.stack(
        [
            translate_latent(anchor[0], motion_shift(strength_x, k, width), motion_shift(strength_y, k, height))
            for k in frame_indices
        ]
    )
