"""Benchmark (not a test): how much each coherence option steadies a clip whose true motion is known, and what it
costs, as ratios to the option off, in one run.

    .venv/bin/python -m bench.coherence [--frames 8] [--resolution 128] [--steps 20] [--seeds 2] [--modes ...]

Every clip here has a motion known exactly:
  - text-to-video: the paper's camera, frame k the anchor translated by k x `--strength` px (of a 512-px frame, in
    whole latent cells);
  - the video modes (edge, Instruct-Pix2Pix): the input video is a photograph from scikit-image panned by `--pan` px
    and zoomed by `--zoom` per frame (a known affine map per frame), so a clip that follows its input moves the same.
For each option (and each consistency level) it prints
  - the warp error: the mean absolute difference between frame k+1 and frame k moved along the true motion, over the
    pixels both show, averaged over the clip; lower is more coherent;
  - the adjacent-frame difference: the same without the warp (how much the clip flickers or moves at all);
  - the time;
each as a ratio to the same run with every option off.

On the offline tiny models the weights are random: these figures show that each mechanism works and what it costs,
not image quality; real weights are needed for the published comparisons (`bench/quality.py`). The CPU is shared:
only ratios measured in one run mean anything.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch

from modes import CONSISTENCY
from pipelines.motion import motion_shift

LATENT_CELL = 8  # px of the frame per latent cell
OPTIONS = {
    "flow fusion 0.5": dict(flow_fusion=0.5),
    "flow fusion 1.0": dict(flow_fusion=1.0),
    "frame smoother": dict(frame_smoother=True),
    "VidToMe local 0.9": dict(vidtome_local=0.9),
    "VidToMe 0.9 + global 0.8": dict(vidtome_local=0.9, vidtome_global=0.8),
    "FreeInit, 1 iteration": dict(free_init_iterations=1),
    "consistency: balanced": CONSISTENCY["balanced"],
    "consistency: strong": CONSISTENCY["strong"],
}
VIDEO_ONLY = ("free_init_iterations",)  # options the video modes do not have


# ----------------------------------------------------------------------------------------------- true motion
def camera_maps(frames: int, size: int, strength: float) -> list[np.ndarray]:
    """Text-to-video's camera as 2x3 affine maps from frame k+1's pixels to frame k's (whole latent cells)."""
    cells = size // LATENT_CELL
    maps = []
    for k in range(frames - 1):
        step = (motion_shift(strength, k + 1, cells) - motion_shift(strength, k, cells)) * LATENT_CELL
        maps.append(np.array([[1, 0, step], [0, 1, step]], np.float64))
    return maps


def input_video(frames: int, size: int, pan: float, zoom: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """A photograph panned by `pan` px and zoomed by `zoom` per frame, (frames, size, size, 3) uint8, and the true
    maps from frame k+1's pixels to frame k's."""
    from skimage import data

    photo = data.astronaut()  # 512 x 512
    centre = np.array([256.0, 256.0])

    def to_photo(k: int) -> np.ndarray:  # frame k's pixel -> the photo's, as a 3x3 matrix
        scale = 256 / size / (1 + zoom) ** k  # frame 0 shows the photo's middle 256 px, later ones closer
        offset = centre + np.array([pan * k, 0.0]) - scale * (size - 1) / 2
        return np.array([[scale, 0, offset[0]], [0, scale, offset[1]], [0, 0, 1]])

    video = np.stack(
        [
            cv2.warpAffine(photo, to_photo(k)[:2], (size, size), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP)
            for k in range(frames)
        ]
    )
    maps = [(np.linalg.inv(to_photo(k)) @ to_photo(k + 1))[:2] for k in range(frames - 1)]
    return video, maps


def warp_error(frames: np.ndarray, maps: list[np.ndarray]) -> float:
    """Mean |frame k+1 - frame k moved along the true motion| over the pixels both show, for float frames
    (F, H, W, 3); `maps[k]` takes frame k+1's pixels to frame k's."""
    height, width = frames.shape[1:3]
    errors = []
    for k, matrix in enumerate(maps):
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        moved = cv2.warpAffine(frames[k].astype(np.float32), matrix, (width, height), flags=flags)
        seen = cv2.warpAffine(np.ones((height, width), np.float32), matrix, (width, height), flags=flags) > 0.999
        errors.append(float(np.abs(frames[k + 1] - moved)[seen].mean()))
    return float(np.mean(errors))


def adjacent_difference(frames: np.ndarray) -> float:
    return float(np.abs(np.diff(frames, axis=0)).mean())


# --------------------------------------------------------------------------------------------------- the runs
def text2video_run(args) -> tuple[Callable[[dict, int], np.ndarray], list[np.ndarray]]:
    from pipelines import TextToVideoZeroPipeline
    from settings import Settings
    from utils.tiny_models import ensure_tiny_models

    pipe = TextToVideoZeroPipeline.from_pretrained(ensure_tiny_models(Settings.from_env().tiny_models_dir)["sd"])
    pipe.set_progress_bar_config(disable=True)
    size, strength = args.resolution, args.strength
    base = dict(video_length=args.frames, height=size, width=size, num_inference_steps=args.steps)
    base.update(motion_field_strength_x=strength, motion_field_strength_y=strength)

    def run(options: dict, seed: int) -> np.ndarray:
        generator = torch.Generator().manual_seed(seed)
        return pipe("a horse on a beach", **base, **options, generator=generator).frames

    return run, camera_maps(args.frames, size, strength)


def video_run(mode: str, args) -> tuple[Callable[[dict, int], np.ndarray], list[np.ndarray]]:
    from diffusers import ControlNetModel

    from annotators.canny import canny
    from pipelines import ControlNetVideoPipeline, InstructPix2PixVideoPipeline, TextToVideoZeroPipeline
    from settings import Settings
    from utils.tiny_models import ensure_tiny_models

    tiny = ensure_tiny_models(Settings.from_env().tiny_models_dir)
    video, maps = input_video(args.frames, args.resolution, args.pan, args.zoom)
    if mode == "edge":
        base = TextToVideoZeroPipeline.from_pretrained(tiny["sd"])
        controlnet = ControlNetModel.from_pretrained(tiny["controlnet-canny"])
        pipe = ControlNetVideoPipeline(**base.components, controlnet=controlnet)
        edges = canny(video, 100, 200)

        def call(options: dict, generator) -> np.ndarray:
            return pipe("a horse", edges, motion_frames=video, num_inference_steps=args.steps, generator=generator,
                        **options).frames  # fmt: skip
    else:
        pipe = InstructPix2PixVideoPipeline.from_pretrained(tiny["pix2pix"])

        def call(options: dict, generator) -> np.ndarray:
            return pipe("make it night", video, num_inference_steps=args.steps, generator=generator, **options).frames

    pipe.set_progress_bar_config(disable=True)

    def run(options: dict, seed: int) -> np.ndarray:
        kept = {name: value for name, value in options.items() if name not in VIDEO_ONLY}
        return call(kept, torch.Generator().manual_seed(seed))

    return run, maps


def measure(run, maps, options: dict, seeds: int) -> tuple[float, float, float]:
    warps, differences, seconds = [], [], 0.0
    for seed in range(seeds):
        start = time.perf_counter()
        frames = run(options, seed)
        seconds += time.perf_counter() - start
        warps.append(warp_error(frames, maps))
        differences.append(adjacent_difference(frames))
    return float(np.mean(warps)), float(np.mean(differences)), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--strength", type=float, default=32.0, help="text-to-video camera, px of 512 per frame")
    parser.add_argument("--pan", type=float, default=12.0, help="the input video's pan, photo px per frame")
    parser.add_argument("--zoom", type=float, default=0.02, help="the input video's zoom per frame")
    parser.add_argument("--seeds", type=int, default=2, help="clips per option (the figures are their mean)")
    parser.add_argument("--modes", nargs="+", default=["text2video", "edge", "pix2pix"])
    args = parser.parse_args()
    print(
        f"tiny models (random weights: the mechanism, not image quality), {args.frames} frames, "
        f"{args.resolution} px, {args.steps} steps, {args.seeds} seeds, torch threads {torch.get_num_threads()}"
    )
    for mode in args.modes:
        run, maps = text2video_run(args) if mode == "text2video" else video_run(mode, args)
        motion = f"camera {args.strength:g} px/frame" if mode == "text2video" else f"pan {args.pan:g} px, zoom "
        motion += "" if mode == "text2video" else f"{args.zoom:g} per frame"
        measure(run, maps, {}, 1)  # warm-up
        off = measure(run, maps, {}, args.seeds)
        print(f"{mode} ({motion})")
        print(f"  {'off':24s} warp error {off[0]:.4f}   adjacent difference {off[1]:.4f}   {off[2]:6.2f} s")
        for name, options in OPTIONS.items():
            if mode != "text2video" and set(options) <= set(VIDEO_ONLY):
                continue
            warp, difference, seconds = measure(run, maps, options, args.seeds)
            print(
                f"  {name:24s} warp error x{warp / off[0]:.3f}   adjacent difference x{difference / off[1]:.3f}   "
                f"time x{seconds / off[2]:.2f}"
            )


if __name__ == "__main__":
    main()
