"""Benchmark (not a test): the time each option costs, as a ratio to the same run without it, in one run.

    .venv/bin/python -m bench.bench_options [--frames 8] [--resolution 128] [--steps 20] [--repeats 3]

On the offline tiny SD (its UNet is small, so per-frame work such as masks and warps weighs more than it would on a
real model: these ratios are upper bounds of the relative cost). Runs are interleaved; the fastest of the repeats
counts. The CPU is shared: only the ratios mean anything.
"""

from __future__ import annotations

import argparse
import time

import torch

from pipelines import TextToVideoZeroPipeline
from settings import Settings
from utils.tiny_models import ensure_tiny_models

OPTIONS = {
    "sparse-causal attention": dict(cross_frame="sparse-causal"),
    "background smoothing (attention masks)": dict(smooth_bg=True),
    "background smoothing (person masks)": dict(smooth_bg=True, smooth_bg_mask="person"),
    "camera zoom + rotation": dict(motion_zoom=0.03, motion_rotation=2.0),
    "camera path": dict(motion_path=[(8.0 * k, 4.0 * k) for k in range(64)]),
    "image-to-video (strength 0.3)": dict(image_strength=0.3),
    "feature reuse k=3": dict(feature_reuse=3),
    "no motion field (ablation)": dict(use_motion_field=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from skimage import data

    folder = ensure_tiny_models(Settings.from_env().tiny_models_dir)["sd"]
    pipe = TextToVideoZeroPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    size = args.resolution
    base = dict(video_length=args.frames, height=size, width=size, num_inference_steps=args.steps)
    photo = data.astronaut()

    def run(options: dict):
        if "image_strength" in options:
            options = {**options, "image": photo}
        return pipe("an astronaut walking", **base, **options, generator=torch.Generator().manual_seed(0)).frames

    cases = {"baseline": {}, **OPTIONS}
    best = {name: float("inf") for name in cases}
    run({})  # warm-up
    for _ in range(args.repeats):
        for name, options in cases.items():
            start = time.perf_counter()
            run(options)
            best[name] = min(best[name], time.perf_counter() - start)
    threads = torch.get_num_threads()
    print(f"tiny SD, {args.frames} frames, {size} px, {args.steps} DDIM steps, torch threads {threads}")
    print(f"  {'baseline':42s} {best['baseline']:6.2f} s")
    for name in OPTIONS:
        print(f"  {name:42s} {best[name]:6.2f} s   x{best[name] / best['baseline']:.2f}")


if __name__ == "__main__":
    main()
