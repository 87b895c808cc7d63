"""Where each frame's content sits in its neighbours: optical flow at the latent grid, with what it cannot see.

`FrameFlow` holds, for every frame k and every latent cell p of it, where p's content is found in frame k-1 and in
frame k+1 (offsets in cells), and whether it is found there at all (inside the frame and not occluded). Two sources:
  - an input video (the guided and editing modes): OpenCV's DIS optical flow between neighbouring frames (no
    weights needed), occlusions from the forward-backward check (Sundaram et al., 2010: a point that the flow takes
    to k-1 and the flow of k-1 does not bring back is hidden in one of them), averaged down to the latent grid;
  - the camera of text-to-video (`CameraMotion`): the motion field is known exactly, so is the flow, and the strip
    the camera reveals is the occluded part.
`warp` moves a frame's latents along such a flow (bilinear, exact for whole-cell offsets). The coherence options
(`coherence`) use it to fuse each frame with its predecessor and to interpolate interleaved frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from utils.optical_flow import consistent, pair_flow

from .motion import REFERENCE_SIZE, CameraMotion, motion_shift, source_position

FLOW_SIDE = 256  # px: the long side the input video's flow is computed at (finer adds time, not latent detail)


@dataclass
class FrameFlow:
    """Per frame: offsets (dx, dy) in latent cells to the same content in the previous and the next frame,
    (F, 2, h, w), and where they hold (F, 1, h, w), 1.0 or 0.0. Frame 0 has no previous frame and the last frame no
    next one: their masks are 0 there."""

    to_previous: torch.Tensor
    to_next: torch.Tensor
    valid_previous: torch.Tensor
    valid_next: torch.Tensor

    def __len__(self) -> int:
        return len(self.to_previous)

    def to(self, device, dtype) -> FrameFlow:
        return FrameFlow(*(t.to(device=device, dtype=dtype) for t in vars(self).values()))


def warp(latents: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """(F, C, h, w) latents read at each cell plus its offset (F, 2, h, w) in cells: out[p] = latents[p + offset[p]]
    (bilinear between cells, zeros outside the frame)."""
    _, _, height, width = latents.shape
    rows = torch.arange(height, device=latents.device, dtype=offsets.dtype)[:, None]
    cols = torch.arange(width, device=latents.device, dtype=offsets.dtype)[None, :]
    x = (cols + offsets[:, 0]) * 2 / max(width - 1, 1) - 1
    y = (rows + offsets[:, 1]) * 2 / max(height - 1, 1) - 1
    grid = torch.stack([x, y], dim=-1).to(latents.dtype)
    return F.grid_sample(latents, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def inside(offsets: torch.Tensor) -> torch.Tensor:
    """(F, 1, h, w): 1.0 where a cell plus its offset lies within the frame (to half a cell), else 0.0."""
    _, _, height, width = offsets.shape
    rows = torch.arange(height, device=offsets.device, dtype=offsets.dtype)[:, None]
    cols = torch.arange(width, device=offsets.device, dtype=offsets.dtype)[None, :]
    x, y = cols + offsets[:, 0], rows + offsets[:, 1]
    within = (x > -0.5) & (x < width - 0.5) & (y > -0.5) & (y < height - 0.5)
    return within[:, None].to(offsets.dtype)


# ----------------------------------------------------------------------------------------------- input videos
def video_flow(frames: np.ndarray, latent_size: tuple[int, int]) -> FrameFlow:
    """The flow between neighbouring frames of a video (uint8 (F, H, W, 3)) at a latent grid of `latent_size`
    (h, w): DIS flow at `FLOW_SIDE` px, occlusions by the forward-backward check, both averaged down to the cells (a
    cell is valid where most of it is)."""
    import cv2

    count, height, width = frames.shape[:3]
    h, w = latent_size
    scale = min(1.0, FLOW_SIDE / max(height, width))
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = [cv2.resize(np.ascontiguousarray(f), size, interpolation=cv2.INTER_AREA) for f in frames]
    to_previous, to_next = np.zeros((2, count, size[1], size[0], 2), np.float32)
    valid_previous, valid_next = np.zeros((2, count, size[1], size[0]), np.float32)
    for k in range(1, count):
        back, forth = pair_flow(small[k], small[k - 1]), pair_flow(small[k - 1], small[k])
        to_previous[k], valid_previous[k] = back, consistent(back, forth)
        to_next[k - 1], valid_next[k - 1] = forth, consistent(forth, back)

    def cells(values: np.ndarray) -> torch.Tensor:  # (F, h_small, w_small[, 2]) -> (F, c, h, w), averaged per cell
        tensor = torch.from_numpy(values)
        tensor = tensor.permute(0, 3, 1, 2) if tensor.ndim == 4 else tensor[:, None]
        return F.interpolate(tensor, size=(h, w), mode="area")

    cell_size = torch.tensor([w / size[0], h / size[1]])[None, :, None, None]  # flow px -> cells
    return FrameFlow(
        cells(to_previous) * cell_size,
        cells(to_next) * cell_size,
        (cells(valid_previous) > 0.5).float(),
        (cells(valid_next) > 0.5).float(),
    )


# ------------------------------------------------------------------------------------------------ the camera
def anchor_position(motion: CameraMotion, frame: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each cell of frame `frame` comes from in the anchor (rows, columns; float64, unreflected): the map
    `motion.source_cells` rounds, with the paper's whole-cell shifts kept whole."""
    if motion.translates_only and not motion.path:
        rows = torch.arange(height, dtype=torch.float64)[:, None].expand(height, width)
        cols = torch.arange(width, dtype=torch.float64)[None, :].expand(height, width)
        return rows + motion_shift(motion.strength_y, frame, height), cols + motion_shift(
            motion.strength_x, frame, width
        )
    return source_position(motion, frame, height, width)


def frame_position(motion: CameraMotion, frame: int, source_y, source_x, height: int, width: int):
    """Where anchor positions appear in frame `frame` (the inverse of `anchor_position`)."""
    if motion.translates_only and not motion.path:
        return source_y - motion_shift(motion.strength_y, frame, height), source_x - motion_shift(
            motion.strength_x, frame, width
        )
    dx, dy = motion.translation(frame)
    scale = (1 + motion.zoom) ** frame
    angle = math.radians(motion.rotation * frame)
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    x = source_x - centre_x - dx * width / REFERENCE_SIZE
    y = source_y - centre_y - dy * height / REFERENCE_SIZE
    cos, sin = math.cos(angle), math.sin(angle)
    return scale * (-sin * x + cos * y) + centre_y, scale * (cos * x + sin * y) + centre_x


def camera_flow(motion: CameraMotion, frames: int, latent_size: tuple[int, int]) -> FrameFlow:
    """The exact flow of text-to-video's motion field between neighbouring frames; a cell is valid where the anchor
    content it shows is in the anchor (not mirrored in from outside) and in view in the neighbour."""
    height, width = latent_size
    offsets: dict[str, list[torch.Tensor]] = {"previous": [], "next": []}
    masks: dict[str, list[torch.Tensor]] = {"previous": [], "next": []}
    zeros = torch.zeros(2, height, width, dtype=torch.float64)
    positions = [anchor_position(motion, k, height, width) for k in range(frames)]
    # Where each frame shows real anchor content (not mirrored in from outside the anchor).
    shown = [(y > -0.5) & (y < height - 0.5) & (x > -0.5) & (x < width - 0.5) for y, x in positions]
    for k, (source_y, source_x) in enumerate(positions):
        for name, other in (("previous", k - 1), ("next", k + 1)):
            if not 0 <= other < frames:
                offsets[name].append(zeros)
                masks[name].append(torch.zeros(1, height, width, dtype=torch.float64))
                continue
            y, x = frame_position(motion, other, source_y, source_x, height, width)
            offset = torch.stack([x - torch.arange(width)[None, :], y - torch.arange(height)[:, None]])
            offsets[name].append(offset)
            # Real content here, and real content where the neighbour shows it (the cell nearest, in view or not:
            # `inside` below leaves out what falls outside the neighbour).
            rows = torch.floor(y + 0.5).clamp(0, height - 1).long()
            cols = torch.floor(x + 0.5).clamp(0, width - 1).long()
            masks[name].append((shown[k] & shown[other][rows, cols])[None].double())
    stacked = {name: torch.stack(values) for name, values in offsets.items()}
    valid = {name: torch.stack(values) for name, values in masks.items()}
    inside_previous, inside_next = inside(stacked["previous"]), inside(stacked["next"])
    return FrameFlow(
        stacked["previous"].float(),
        stacked["next"].float(),
        (valid["previous"] * inside_previous).float(),
        (valid["next"] * inside_next).float(),
    )
