"""Benchmark (not a test) of the motion-module pipelines on the real architecture: SD 1.5's UNet, VAE and CLIP text
encoder and an AnimateDiff motion adapter at its published size (v1-5-3's configuration), random weights (speed and
memory do not depend on them), shared by this project's pipeline and diffusers' `AnimateDiffPipeline`.

    .venv/bin/python -m bench.bench_motion_module                  # CPU: float32, 128 px
    .venv/bin/python -m bench.bench_motion_module --device cuda    # GPU: float16, 512 px

1. time per clip: ours / diffusers' `AnimateDiffPipeline` on identical components and settings (runs interleaved,
   the fastest of the repeats counts), output max |diff| (target: <= 1.05x)
2. windows of 16 frames, stride 4: the working memory of a 16- and a 64-frame clip (peak during the call above
   the memory held before it: GPU allocations on CUDA, the process's sampled RSS on the CPU) and their ratio, for
   the whole UNet per window (`context_scope="unet"`), then FreeNoise's windows with and without split inference
The CPU is shared and noisy: compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import threading
import time

import numpy as np
import psutil
import torch

from bench.bench_real_size import sd15_components, sync

PROMPT = "a red panda walking through a bamboo forest"


def adapter(version: str, device: str, dtype: torch.dtype):
    """A motion adapter at the published size: v1-5-3's (no motion mid block) or v1-5-2's (with one)."""
    from diffusers import MotionAdapter

    torch.manual_seed(1)
    motion = MotionAdapter(
        block_out_channels=(320, 640, 1280, 1280),
        motion_layers_per_block=2,
        motion_num_attention_heads=8,
        motion_norm_num_groups=32,
        motion_max_seq_length=32,
        use_motion_mid_block=version == "v2",
    )
    return motion.to(device, dtype).eval()


def pipelines(device: str, dtype: torch.dtype, version: str):
    """This project's motion-module pipeline and diffusers' AnimateDiffPipeline over the same components."""
    from diffusers import AnimateDiffPipeline

    from pipelines import MotionModulePipeline
    from pipelines.motion_module import animatediff_scheduler, motion_unet

    components = sd15_components(device, dtype)
    motion = adapter(version, device, dtype)
    scheduler = animatediff_scheduler(components["scheduler"].config)
    shared = {name: components[name] for name in ("vae", "text_encoder", "tokenizer")}
    mine = MotionModulePipeline(**shared, unet=motion_unet(components["unet"], motion), scheduler=scheduler)
    reference = AnimateDiffPipeline(**shared, unet=components["unet"], motion_adapter=motion, scheduler=scheduler)
    for pipe in (mine, reference):
        pipe.set_progress_bar_config(disable=True)
    return mine, reference


def timing(mine, reference, args, device: str) -> None:
    """1. Seconds per clip, ours against diffusers, interleaved; the fastest of the repeats."""
    run = dict(num_frames=args.frames, height=args.resolution, width=args.resolution)
    run.update(num_inference_steps=args.steps, guidance_scale=7.5)

    def ours():
        return mine(PROMPT, generator=torch.Generator().manual_seed(0), **run).frames

    def theirs():
        return reference(PROMPT, generator=torch.Generator().manual_seed(0), output_type="np", **run).frames[0]

    best = {"ours": float("inf"), "diffusers": float("inf")}
    outputs = {}
    for _ in range(args.repeats):
        for name, clip in (("ours", ours), ("diffusers", theirs)):
            sync(device)
            start = time.perf_counter()
            outputs[name] = clip()
            sync(device)
            best[name] = min(best[name], time.perf_counter() - start)
    difference = np.abs(np.asarray(outputs["ours"]) - np.asarray(outputs["diffusers"])).max()
    print(
        f"1. {args.frames} frames, {args.resolution} px, {args.steps} DDIM steps, guidance 7.5: ours "
        f"{best['ours']:.1f} s, diffusers' AnimateDiffPipeline {best['diffusers']:.1f} s: "
        f"{best['ours'] / best['diffusers']:.3f}x (target <= 1.05x); output max |diff| {difference:.1e}"
    )


class PeakRSS:
    """The process's resident memory, sampled every few milliseconds while the block runs: its peak above the
    memory held when it began (the CPU has no allocator statistics for tensors). Memory freed earlier but kept by
    the C allocator is handed back first (`malloc_trim`), so the block's allocations show as growth."""

    def __enter__(self) -> PeakRSS:
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        self.process, self.running = psutil.Process(), True
        self.start = self.peak = self.process.memory_info().rss
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def working(self) -> int:
        return self.peak - self.start


def working_memory(mine, frames: int, args, device: str, split: bool, scope: str = "temporal") -> int:
    """Bytes the FreeNoise clip of `frames` frames needs above what is held before it."""
    run = dict(num_frames=frames, height=args.resolution, width=args.resolution, num_inference_steps=args.steps)
    run.update(context_length=16, context_stride=4, split_inference=split, guidance_scale=7.5, output_type="latent")
    run.update(context_scope=scope)
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        mine(PROMPT, generator=torch.Generator().manual_seed(0), **run)
        return torch.cuda.max_memory_allocated() - before
    with PeakRSS() as rss:
        mine(PROMPT, generator=torch.Generator().manual_seed(0), **run)
    return rss.working


def memory(mine, args, device: str) -> None:
    """2. Windows' working memory, 16 vs 64 frames: the whole UNet per window, then FreeNoise's (temporal layers)
    with and without split inference."""
    what = "GPU allocations" if device == "cuda" else "sampled RSS"
    for scope, split in (("unet", False), ("temporal", True), ("temporal", False)):
        short, long = (working_memory(mine, frames, args, device, split, scope) for frames in (16, 64))
        name = "whole-UNet windows" if scope == "unet" else f"FreeNoise, split inference {'on' if split else 'off'}"
        print(
            f"2. {name} (context 16, stride 4), {args.resolution} px, {args.steps} steps, working memory ({what}): "
            f"16 frames {short / 2**20:.0f} MiB, 64 frames {long / 2**20:.0f} MiB: {long / max(short, 1):.2f}x for "
            "4x the frames"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resolution", type=int, default=None, help="default: 128 on CPU, 512 on CUDA")
    parser.add_argument("--frames", type=int, default=8, help="case 1: frames of a clip")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--adapter", choices=("v3", "v2"), default="v3", help="v1-5-3's shape, or v1-5-2's")
    parser.add_argument("--cases", default="12")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    dtype = torch.float16 if cuda else torch.float32
    args.resolution = args.resolution or (512 if cuda else 128)
    print(f"SD 1.5 + motion adapter ({args.adapter}) architecture, random weights, {args.device} {dtype}")
    mine, reference = pipelines(args.device, dtype, args.adapter)
    if "1" in args.cases:
        timing(mine, reference, args, args.device)
    del reference
    if "2" in args.cases:
        memory(mine, args, args.device)


if __name__ == "__main__":
    main()
