"""Benchmark (not a test): what smoothing a clip to a higher frame rate costs, in denoising steps, for the work bound.

    .venv/bin/python -m bench.bench_smoothing                  # CPU: the tiny UNet and the SD 1.5 UNet
    .venv/bin/python -m bench.bench_smoothing --device cuda    # the UNet steps on the GPU (fp16)

ffmpeg's motion interpolation (`smooth_fps`) always runs on the CPU; a denoising step runs on the device. The work
bound (T2VZ_MAX_WORK) counts smoothing as `model.SMOOTHING_STEPS` steps per output frame: this prints, from one run,
the seconds per output megapixel of the interpolation, the seconds per megapixel-step of a UNet step (with
guidance: two images per frame) on the device, and their ratio, the step-equivalent of interpolating a frame.
A photograph from scikit-image, panned, is the clip.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from utils.video import VideoWriter


def panned_clip(frames: int, size: int) -> np.ndarray:
    from skimage import data, transform

    photo = transform.resize(data.astronaut(), (size * 2, size * 2), anti_aliasing=True)
    return np.stack([photo[8 * i : 8 * i + size, 8 * i : 8 * i + size] for i in range(frames)]).astype(np.float32)


def interpolation_seconds_per_megapixel(frames: int, size: int, fps: float, smooth_fps: float) -> float:
    """Seconds per output megapixel of smoothing (the same clip written without smoothing subtracted)."""
    clip = panned_clip(frames, size)
    times = {}
    with tempfile.TemporaryDirectory() as folder:
        for smooth in (0, smooth_fps):
            start = time.perf_counter()
            with VideoWriter(Path(folder) / f"clip-{smooth}.mp4", fps, smooth_fps=smooth) as writer:
                writer.write(clip)
            times[smooth] = time.perf_counter() - start
    out_frames = frames * smooth_fps / fps
    return (times[smooth_fps] - times[0]) / (out_frames * size * size / 1e6)


def unet_seconds_per_megapixel_step(unet, frames: int, size: int, device: str, repeats: int = 3) -> float:
    """Seconds per megapixel-step of one UNet call on `frames` frames with guidance (a batch of 2 x frames)."""
    dtype = next(unet.parameters()).dtype
    latents = torch.randn(2 * frames, unet.config.in_channels, size // 8, size // 8, device=device, dtype=dtype)
    text = torch.randn(2 * frames, 77, unet.config.cross_attention_dim, device=device, dtype=dtype)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats + 1):  # the first is a warm-up
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            unet(latents, 500, encoder_hidden_states=text)
            if device == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
    return best / (frames * size * size / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--smooth-fps", type=float, default=60)
    args = parser.parse_args()
    from diffusers import UNet2DConditionModel

    from bench.bench_real_size import sd15_components
    from settings import Settings
    from utils.tiny_models import ensure_tiny_models

    smoothing = interpolation_seconds_per_megapixel(args.frames, args.size, 8, args.smooth_fps)
    print(
        f"interpolation (CPU, ffmpeg minterpolate, {args.size} px, 8 -> {args.smooth_fps:g} fps): "
        f"{smoothing:.3f} s per output megapixel"
    )
    dtype = torch.float16 if args.device == "cuda" else torch.float32
    tiny = UNet2DConditionModel.from_pretrained(
        Path(ensure_tiny_models(Settings.from_env().tiny_models_dir)["sd"]) / "unet"
    ).to(args.device, dtype)
    real = sd15_components(args.device, dtype)["unet"]
    for name, unet in (("tiny SD UNet (the offline profile)", tiny), ("SD 1.5 UNet (random weights)", real)):
        step = unet_seconds_per_megapixel_step(unet, args.frames, args.size, args.device)
        print(
            f"{name} on {args.device}: {step:.4f} s per megapixel-step; smoothing one output frame costs "
            f"{smoothing / step:.2f} steps' worth"
        )


if __name__ == "__main__":
    main()
