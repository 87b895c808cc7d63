"""Benchmark (not a test) of Wan 2.1 T2V 1.3B at its full architecture: the transformer and VAE in their published
configuration (Wan-AI/Wan2.1-T2V-1.3B-Diffusers), random weights (speed and memory do not depend on them), run by
this project's path (`pipelines.video_models`: diffusers' WanPipeline asked for latents, then `TrainedVideo.decode`)
and by diffusers' WanPipeline end to end, on the same components.

    .venv/bin/python -m bench.bench_video_models                  # CPU: float32, 9 frames at 128 x 128
    .venv/bin/python -m bench.bench_video_models --device cuda    # GPU: bfloat16, 33 frames at 480 x 832

The text encoder (UMT5-XXL, 5.7 B parameters: 23 GB in float32) is left out: both runs take the same random text
embeddings of its shape (512 tokens x 4096), as a prompt cached once would be. Printed: our denoising's seconds per
step per frame; the whole clip's seconds, ours and diffusers', and their ratio (target <= 1.05x); the output's max
|diff|; the working memory of the call (above what was held before it: GPU allocations on CUDA, the process's
sampled RSS on the CPU). The CPU is shared and noisy: compare the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
import torch

from bench.bench_motion_module import PeakRSS
from bench.bench_real_size import sync

WAN_1_3B = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=12,
    attention_head_dim=128,
    in_channels=16,
    out_channels=16,
    text_dim=4096,
    freq_dim=256,
    ffn_dim=8960,
    num_layers=30,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=1024,
)
TEXT_TOKENS, TEXT_WIDTH = 512, 4096


def wan_pipeline(device: str, dtype: torch.dtype):
    """WanPipeline over the 1.3B transformer and Wan 2.1's VAE (float32, as published), no text encoder."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(0)
    transformer = WanTransformer3DModel(**WAN_1_3B).to(device, dtype).eval()
    for name, module in transformer.named_modules():  # as from_pretrained(dtype=...) keeps them
        if any(part in name.split(".") for part in transformer._keep_in_fp32_modules):
            module.float()
    vae = AutoencoderKLWan().to(device, torch.float32).eval()  # its defaults are Wan 2.1's
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    pipe = WanPipeline(tokenizer=None, text_encoder=None, vae=vae, scheduler=scheduler, transformer=transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def text(device: str, dtype: torch.dtype) -> dict:
    generator = torch.Generator().manual_seed(1)
    embeds = [torch.randn(1, TEXT_TOKENS, TEXT_WIDTH, generator=generator).to(device, dtype) for _ in range(2)]
    return {"prompt_embeds": embeds[0], "negative_prompt_embeds": embeds[1]}


DENOISING: list[float] = []  # seconds of each of our runs' denoising alone (the decode after it)


def ours(pipe, shape, embeds: dict) -> np.ndarray:
    from pipelines.video_families import FAMILIES
    from pipelines.video_models import TrainedVideo, generate

    wan = FAMILIES[0]
    start = time.perf_counter()
    latents = generate(pipe, wan, None, shape, generator=torch.Generator().manual_seed(0), **embeds)
    sync(str(latents.device.type))
    DENOISING.append(time.perf_counter() - start)
    return TrainedVideo(pipe, wan).decode(latents).numpy()


def diffusers_own(pipe, shape, embeds: dict) -> np.ndarray:
    return pipe(
        num_frames=shape.frames,
        height=shape.height,
        width=shape.width,
        num_inference_steps=shape.steps,
        guidance_scale=shape.guidance,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
        **embeds,
    ).frames[0]


def measure(run, pipe, shape, embeds: dict, device: str) -> tuple[float, int, np.ndarray]:
    """(seconds, working bytes, frames) of one call."""
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        frames = run(pipe, shape, embeds)
        sync(device)
        return time.perf_counter() - start, torch.cuda.max_memory_allocated() - before, frames
    with PeakRSS() as peak:
        start = time.perf_counter()
        frames = run(pipe, shape, embeds)
    return time.perf_counter() - start, peak.working, frames


def main() -> None:
    from pipelines.video_families import Shape

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    cuda = args.device == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    frames = args.frames or (33 if cuda else 9)
    height, width = (480, 832) if cuda else (128, 128)
    shape = Shape(frames, height, width, 16, args.steps, 5.0)
    pipe, embeds = wan_pipeline(args.device, dtype), text(args.device, dtype)
    print(f"Wan 2.1 T2V 1.3B (random weights), {args.device} {dtype}: {frames} frames at {width}x{height}")
    measure(ours, pipe, Shape(frames, height, width, 16, 1, 5.0), embeds, args.device)  # warm-up
    results: dict[str, list] = {"ours": [], "diffusers": []}
    runs = {"ours": ours, "diffusers": diffusers_own}
    for repeat in range(args.repeats):  # interleaved, each first in turn: the noise of a shared machine falls on both
        for name in sorted(runs, reverse=repeat % 2 == 1):
            results[name].append(measure(runs[name], pipe, shape, embeds, args.device))
    best = {name: min(runs, key=lambda run: run[0]) for name, runs in results.items()}
    difference = np.abs(best["ours"][2] - best["diffusers"][2]).max()
    for name, (seconds, working, _) in best.items():
        print(f"  {name}: {seconds:.1f} s for the clip, working memory {working / 2**30:.2f} GiB")
    per = min(DENOISING[1:]) / (args.steps * frames)
    print(f"  denoising: {per:.3f} s per step per frame ({args.steps} steps, guidance 5: two passes a step)")
    ratio = best["ours"][0] / best["diffusers"][0]
    print(f"  ours / diffusers' WanPipeline: {ratio:.3f}x (target <= 1.05x); output max |diff| {difference:.1e}")


if __name__ == "__main__":
    main()
