"""Optical flow between two frames without weights (OpenCV's DIS) and the forward-backward consistency check that
finds occlusions; the coherence options (`pipelines.flow`) and the quality metrics (`utils.quality`) share them."""

from __future__ import annotations

import numpy as np


def pair_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """DIS optical flow (H, W, 2) from `first` to `second` (uint8 (H, W, 3)): first[p] ~ second[p + flow[p]]."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
    grey = [cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY) for frame in (first, second)]
    return dis.calc(grey[0], grey[1], None)


def consistent(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """(H, W) bool: where the flow `forward` (first -> second) and the flow `backward` (second -> first), read where
    `forward` lands, cancel out (Sundaram et al.'s forward-backward check), and the landing is inside the frame."""
    import cv2

    height, width = forward.shape[:2]
    rows, cols = np.indices((height, width), dtype=np.float32)
    map_x, map_y = cols + forward[..., 0], rows + forward[..., 1]
    back = cv2.remap(backward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    total = forward + back
    tolerance = 0.01 * ((forward**2).sum(-1) + (back**2).sum(-1)) + 0.5
    within = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    return ((total**2).sum(-1) <= tolerance) & within
