"""Make the example videos in assets/examples from material that ships with pip packages (no third-party media).

    .venv/bin/python -m assets.make_examples

Photo clips are pans and zooms over scikit-image's photographs (for edges, depth, pose detection and editing);
skeleton clips are OpenPose drawings of simple motions (for the pose tab's "already a skeleton" mode).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from annotators.pose import draw_skeleton
from utils.video import write_video

OUT = Path(__file__).resolve().parent / "examples"
FPS = 8
FRAMES = 16


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def pan(image: np.ndarray, width: int, height: int, frames: int = FRAMES) -> np.ndarray:
    """A window of width x height sliding left to right across the photo."""
    image = resize(image, round(image.shape[1] * height / image.shape[0]), height)
    travel = image.shape[1] - width
    return np.stack([image[:, round(travel * k / (frames - 1)) :][:, :width] for k in range(frames)])


def zoom(image: np.ndarray, size: int, frames: int = FRAMES, end_scale: float = 1.6) -> np.ndarray:
    """A slow zoom into the centre of the photo."""
    height, width = image.shape[:2]
    clips = []
    for k in range(frames):
        scale = 1 + (end_scale - 1) * k / (frames - 1)
        h, w = round(height / scale), round(width / scale)
        top, left = (height - h) // 2, (width - w) // 2
        clips.append(resize(image[top : top + h, left : left + w], size, round(size * height / width)))
    return np.stack(clips)


def skeleton_clip(motion: str, size: int = 384, frames: int = FRAMES) -> np.ndarray:
    """An OpenPose skeleton (18 points, normalised coordinates) doing a simple motion."""
    drawings = []
    for k in range(frames):
        phase = 2 * math.pi * k / frames
        swing = math.sin(phase)
        neck, hip_y = (0.5, 0.3), 0.58
        points = {
            0: (0.5, 0.2),
            1: neck,
            14: (0.48, 0.18),
            15: (0.52, 0.18),
            16: (0.46, 0.2),
            17: (0.54, 0.2),
            2: (0.42, 0.31),
            5: (0.58, 0.31),
            8: (0.45, hip_y),
            11: (0.55, hip_y),
        }
        if motion == "wave":
            points.update({3: (0.38, 0.42), 4: (0.37, 0.53), 6: (0.66, 0.22), 7: (0.66 + 0.08 * swing, 0.1)})
            points.update({9: (0.45, 0.72), 10: (0.45, 0.86), 12: (0.55, 0.72), 13: (0.55, 0.86)})
        else:  # walk: legs and arms swing in opposition
            points.update({3: (0.42 - 0.05 * swing, 0.42), 4: (0.42 - 0.08 * swing, 0.52)})
            points.update({6: (0.58 + 0.05 * swing, 0.42), 7: (0.58 + 0.08 * swing, 0.52)})
            points.update({9: (0.45 + 0.06 * swing, 0.72), 10: (0.45 + 0.1 * swing, 0.86)})
            points.update({12: (0.55 - 0.06 * swing, 0.72), 13: (0.55 - 0.1 * swing, 0.86)})
        keypoints = [points.get(i) for i in range(18)]
        drawings.append(draw_skeleton(keypoints, size, size))
    return np.stack(drawings)


def main() -> None:
    from skimage import data

    OUT.mkdir(parents=True, exist_ok=True)
    clips = {
        "coffee_pan.mp4": pan(data.coffee(), 384, 288),
        "cat_zoom.mp4": zoom(data.chelsea(), 384),
        "astronaut_pan.mp4": pan(data.astronaut(), 288, 384),
        "rocket_zoom.mp4": zoom(data.rocket(), 384),
        "skeleton_wave.mp4": skeleton_clip("wave"),
        "skeleton_walk.mp4": skeleton_clip("walk"),
    }
    for name, frames in clips.items():
        path = write_video([frames], OUT / name, fps=FPS)
        print(f"{path.relative_to(OUT.parent.parent)}: {frames.shape[0]} frames {frames.shape[2]}x{frames.shape[1]}")


if __name__ == "__main__":
    main()
