"""Benchmark (not a test): how much each coherence option steadies a clip whose true motion is known, and what it
costs, as ratios to the option off, in one run.

    .venv/bin/python -m bench.coherence [--frames 8] [--resolution 256] [--steps 20] [--strength 24]

Text-to-video with the paper's camera motion: frame k is the anchor translated by k x `--strength` px (of a 512-px
frame, in whole latent cells), so the true flow between neighbours is known exactly. For each option it prints
  - the warp error: the mean absolute difference between frame k+1 and frame k moved along the true flow (the part
    both frames show), averaged over the clip; lower is more coherent;
  - the adjacent-frame difference: the same without the warp (how much the clip flickers or moves at all);
  - the time;
each as a ratio to the same run with the option off.

On the offline tiny SD the weights are random: these figures show that the mechanism works (and what it costs), not
image quality; real weights (T2VZ hub models) are needed for the published comparisons. The CPU is shared: only
ratios measured in one run mean anything.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pipelines import TextToVideoZeroPipeline
from pipelines.motion import motion_shift
from settings import Settings
from utils.tiny_models import ensure_tiny_models

OPTIONS = {
    "FreeInit, 1 iteration": dict(free_init_iterations=1),
    "FreeInit, 2 iterations": dict(free_init_iterations=2),
}
LATENT_CELL = 8  # px of the frame per latent cell


def warp_error(frames: np.ndarray, strength: float) -> float:
    """Mean |frame k+1 - frame k moved along the true flow| over the pixels both show, for frames (F, H, W, 3)."""
    _, height, width, _ = frames.shape
    latent_width, latent_height = width // LATENT_CELL, height // LATENT_CELL
    errors = []
    for k in range(len(frames) - 1):
        # Frame k shows the anchor's cell p + shift_k at p, so frame k+1 at p shows what frame k shows at p + step.
        step_x = (motion_shift(strength, k + 1, latent_width) - motion_shift(strength, k, latent_width)) * LATENT_CELL
        step_y = (
            motion_shift(strength, k + 1, latent_height) - motion_shift(strength, k, latent_height)
        ) * LATENT_CELL
        later = frames[k + 1, : height - step_y, : width - step_x]
        moved = frames[k, step_y:, step_x:]
        errors.append(float(np.abs(later - moved).mean()))
    return float(np.mean(errors))


def adjacent_difference(frames: np.ndarray) -> float:
    return float(np.abs(np.diff(frames, axis=0)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--strength", type=float, default=24.0, help="camera motion, px of a 512-px frame per frame")
    parser.add_argument("--seeds", type=int, default=3, help="clips per option (the figures are their mean)")
    args = parser.parse_args()

    folder = ensure_tiny_models(Settings.from_env().tiny_models_dir)["sd"]
    pipe = TextToVideoZeroPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    size = args.resolution
    base = dict(
        video_length=args.frames,
        height=size,
        width=size,
        num_inference_steps=args.steps,
        motion_field_strength_x=args.strength,
        motion_field_strength_y=args.strength,
    )

    def measure(options: dict) -> tuple[float, float, float]:
        warps, differences, seconds = [], [], 0.0
        for seed in range(args.seeds):
            start = time.perf_counter()
            frames = pipe(
                "a horse on a beach", **base, **options, generator=torch.Generator().manual_seed(seed)
            ).frames
            seconds += time.perf_counter() - start
            warps.append(warp_error(frames, args.strength))
            differences.append(adjacent_difference(frames))
        return float(np.mean(warps)), float(np.mean(differences)), seconds

    measure({})  # warm-up
    off = measure({})
    print(
        f"tiny SD (random weights: the mechanism, not image quality), {args.frames} frames, {size} px, "
        f"{args.steps} steps, camera {args.strength:g} px/frame, {args.seeds} seeds, torch threads "
        f"{torch.get_num_threads()}"
    )
    print(f"  {'off':26s} warp error {off[0]:.4f}   adjacent difference {off[1]:.4f}   {off[2]:6.2f} s")
    for name, options in OPTIONS.items():
        warp, difference, seconds = measure(options)
        print(
            f"  {name:26s} warp error x{warp / off[0]:.3f}   adjacent difference x{difference / off[1]:.3f}   "
            f"time x{seconds / off[2]:.2f}"
        )


if __name__ == "__main__":
    main()
