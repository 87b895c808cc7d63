"""Canny edges with OpenCV."""

from __future__ import annotations

import numpy as np

from errors import InputError
from utils.validation import as_int


def check_thresholds(low_threshold, high_threshold) -> tuple[int, int]:
    low = as_int("Canny low threshold", low_threshold, 1, 255)
    high = as_int("Canny high threshold", high_threshold, 1, 255)
    if low >= high:
        raise InputError(f"Canny low threshold ({low}) must be below the high threshold ({high}).")
    return low, high


def canny(frames: np.ndarray, low_threshold: int = 100, high_threshold: int = 200) -> np.ndarray:
    """White edges on black, one edge map per frame, 3 channels."""
    import cv2

    low, high = check_thresholds(low_threshold, high_threshold)
    edges = [cv2.Canny(np.ascontiguousarray(frame), low, high) for frame in frames]
    return np.repeat(np.stack(edges)[..., None], 3, axis=-1)
