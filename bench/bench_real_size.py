"""Benchmark (not a test) on the real architecture: full-size Stable Diffusion 1.5 components (UNet 860M, VAE, CLIP
ViT-L text encoder) built from their published configurations with random weights (no download: speed and memory
do not depend on the weights), shared by this project's pipeline and diffusers' reference TextToVideoZeroPipeline.

    .venv/bin/python -m bench.bench_real_size                 # CPU: float32, the sizes below
    .venv/bin/python -m bench.bench_real_size --device cuda   # GPU: float16, 512 px, also peak GPU memory

Cases, each against a reference measured in the same run (runs interleaved; the fastest of the repeats counts):
1. exact method, unchunked: ours / diffusers' reference on identical components and settings (output max |diff|)
2. chunk 2: ours (lockstep) / diffusers' documented chunk recipe
3. few steps: ours with the Fast preset's settings (LCM, 6 steps, no guidance; a distillation LoRA would only change
   the weights) / ours with 50-step DDIM and guidance 7.5, per clip (decoding included)
4. feature reuse k=3: time and output deviation / the exact run at the same seed
5. exact speed-ups: ours with channels-last weights, then also with regionally compiled blocks (T2VZ_CHANNELS_LAST,
   T2VZ_COMPILE; on a copy of the UNet) / the reference unchunked, output max |diff| (compile time reported apart)
6. a table per clip (--table-frames, --table-steps DDIM steps, guidance 7.5): seconds and, on CUDA, peak GPU memory,
   for chunk 8 and 2, plain and with each option: few steps, feature reuse, channels-last + compile, fp8 weights,
   model offload (CUDA only), group offload. Each option on fresh components (they change them).
7. the consistency levels (`modes.CONSISTENCY`: flow fusion, the frame smoother, VidToMe token merging, and for
   strong a FreeInit pass) in text-to-video, each / off (--levels-frames, --levels-steps; `--cases 7` alone).
The CPU is shared and noisy: compare the ratios, not the seconds. The SD 1.5 + motion module architecture (AnimateDiff)
has a bench of its own, on the same components: `bench/bench_motion_module.py`.
"""

from __future__ import annotations

import argparse
import functools
import gc
import time

import torch

from pipelines import TextToVideoZeroPipeline

PROMPT = "a horse galloping on a street"


def sd15_components(device: str, dtype: torch.dtype) -> dict:
    """SD 1.5's UNet, VAE, text encoder and scheduler at their published sizes, random weights."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from utils.tiny_models import build_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=512,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=77,
            vocab_size=49408,
            projection_dim=768,
            hidden_act="quick_gelu",
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    modules = {"unet": unet, "vae": vae, "text_encoder": text_encoder}
    for module in modules.values():
        module.to(device, dtype).eval()
    return {**modules, "tokenizer": build_tokenizer(), "scheduler": scheduler}


def reference_pipeline(components: dict):
    from diffusers.pipelines.deprecated.text_to_video_synthesis.pipeline_text_to_video_zero import (
        TextToVideoZeroPipeline as ReferencePipeline,
    )

    pipe = ReferencePipeline(**components, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def exact_forward_jump(reference) -> None:
    """Give the reference the exact DDPM jump x_T' -> x_T. It multiplies alphas[T':T] (the original code's
    off-by-one); the marginal's ratio is alphas_cumprod[T] / alphas_cumprod[T'] = prod alphas[T'+1 .. T], which this
    project uses. With it, the two pipelines' outputs agree to float rounding."""
    from diffusers.utils.torch_utils import randn_tensor

    def forward_loop(x_t0, t0, t1, generator):
        eps = randn_tensor(x_t0.size(), generator=generator, dtype=x_t0.dtype, device=x_t0.device)
        ratio = (reference.scheduler.alphas_cumprod[t1] / reference.scheduler.alphas_cumprod[t0]).to(x_t0.device)
        return ratio.sqrt().to(x_t0.dtype) * x_t0 + (1 - ratio).sqrt().to(x_t0.dtype) * eps

    reference.forward_loop = forward_loop


def ours(components: dict) -> TextToVideoZeroPipeline:
    pipe = TextToVideoZeroPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def fastest(cases: dict, repeats: int, device: str) -> tuple[dict, dict]:
    """Interleaved runs of each case; (fastest seconds, last output) per case."""
    best = {name: float("inf") for name in cases}
    outputs = {}
    for _ in range(repeats):
        for name, run in cases.items():
            sync(device)
            start = time.perf_counter()
            outputs[name] = run()
            sync(device)
            best[name] = min(best[name], time.perf_counter() - start)
    return best, outputs


def as_tensor(frames) -> torch.Tensor:
    return torch.as_tensor(frames).float().cpu()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resolution", type=int, default=None, help="default: 256 on CPU, 512 on CUDA")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="steps of the exact/chunk comparisons (cases 1, 2)")
    parser.add_argument("--few-step-resolution", type=int, default=None, help="default: 128 on CPU, 512 on CUDA")
    parser.add_argument("--reuse-steps", type=int, default=12, help="steps of the feature-reuse case")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cases", default="12345", help="which cases to run, e.g. 34 (6, the table, is long; 7)")
    parser.add_argument("--levels-frames", type=int, default=8, help="case 7: frames of a clip")
    parser.add_argument("--levels-steps", type=int, default=6, help="case 7: DDIM steps")
    parser.add_argument("--table-frames", default="8,24", help="case 6: clip lengths")
    parser.add_argument("--table-steps", type=int, default=None, help="case 6: DDIM steps (default 50, CPU 3)")
    parser.add_argument("--table-resolution", type=int, default=None, help="case 6 (default 512, CPU 128)")
    args = parser.parse_args()
    device = args.device
    cuda = device == "cuda"
    dtype = torch.float16 if cuda else torch.float32
    print(f"SD 1.5 architecture, random weights, {device} {dtype}, torch threads {torch.get_num_threads()}")
    if set(args.cases) & set("123457"):
        shared_cases(args, device, dtype)  # its components are freed when it returns: case 6 builds its own
    if "6" in args.cases:
        table_frames = [int(n) for n in args.table_frames.split(",")]
        table_steps = args.table_steps or (50 if cuda else 3)
        table(device, dtype, table_frames, table_steps, args.table_resolution or (512 if cuda else 128))


def shared_cases(args: argparse.Namespace, device: str, dtype: torch.dtype) -> None:
    """Cases 1-5, on one set of components shared by this project's pipeline and the reference."""
    cuda = device == "cuda"
    size = args.resolution or (512 if cuda else 256)
    few_size = args.few_step_resolution or (512 if cuda else 128)
    components = sd15_components(device, dtype)
    mine, reference = ours(components), reference_pipeline(components)
    frames, steps = args.frames, args.steps

    # t0/t1 for a few steps: the anchor alone for 2 steps, then every frame for 2 (ours and the reference alike).
    # The motion is one whole latent cell per frame: the reference rounds fractional shifts differently (its
    # grid_sample on coordinates interpolated from 512 px), which would make the outputs differ for that alone.
    cell = 512 / (size // 8)
    exact = dict(num_inference_steps=steps, t0=0, t1=1, guidance_scale=7.5, height=size, width=size)
    exact.update(motion_field_strength_x=cell, motion_field_strength_y=cell)

    def run_mine(chunk_size: int, **extra):
        generator = torch.Generator().manual_seed(0)
        return mine(PROMPT, video_length=frames, chunk_size=chunk_size, generator=generator, **exact, **extra).frames

    def run_reference(chunk_size: int | None = None):
        generator = torch.Generator().manual_seed(0)
        if chunk_size is None:
            return reference(PROMPT, video_length=frames, generator=generator, **exact).images
        import numpy as np

        chunk_ids, result = np.arange(0, frames, chunk_size - 1), []
        for i, begin in enumerate(chunk_ids):
            end = frames if i == len(chunk_ids) - 1 else chunk_ids[i + 1]
            frame_ids = [0] + list(range(begin, end))
            generator.manual_seed(0)
            images = reference(
                PROMPT, video_length=len(frame_ids), generator=generator, frame_ids=frame_ids, **exact
            ).images
            result.append(images[1:])
        return np.concatenate(result)

    cases = {
        "ours unchunked": lambda: run_mine(frames),
        "reference unchunked": lambda: run_reference(),
        "ours chunk 2": lambda: run_mine(2),
        "reference chunk 2": lambda: run_reference(2),
    }
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    if "1" in args.cases or "2" in args.cases:
        compare(cases, args.repeats, device, frames, size, steps)
        exact_forward_jump(reference)
        difference = (as_tensor(run_mine(frames)) - as_tensor(run_reference())).abs().max()
        print(f"     output max |diff| with the reference's forward jump made exact: {difference:.1e}")
    if "3" in args.cases:
        few_steps(components, frames, few_size, device)
    if "4" in args.cases:
        reuse(mine, frames, few_size, args.reuse_steps, args.repeats, device)
    if "5" in args.cases:
        exact_forward_jump(reference)  # the outputs are compared
        exact_speedups(components, mine, run_mine, run_reference, frames, args.repeats, device)
    if "7" in args.cases:
        consistency_levels(mine, args.levels_frames, few_size, args.levels_steps, args.repeats, device)
    if cuda:
        print(f"peak GPU memory of cases 1-5: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


def compare(cases: dict, repeats: int, device: str, frames: int, size: int, steps: int) -> None:
    seconds, outputs = fastest(cases, repeats, device)
    print(f"\n{frames} frames, {size} px, {steps} steps (t0=0, t1=1), guidance 7.5:")
    for name, value in seconds.items():
        print(f"  {name:22s} {value:8.2f} s")
    difference = (as_tensor(outputs["ours unchunked"]) - as_tensor(outputs["reference unchunked"])).abs().max()
    print(
        f"  1. ours / reference, unchunked: {seconds['ours unchunked'] / seconds['reference unchunked']:.2f}"
        f"   (output max |diff| {difference:.1e}, the reference as published)"
    )
    print(
        f"  2. ours chunk 2 / reference chunk-2 recipe: {seconds['ours chunk 2'] / seconds['reference chunk 2']:.2f}"
    )


def few_steps(components: dict, frames: int, few_size: int, device: str) -> None:
    """3. Few steps per clip, decoding included."""

    def clip(scheduler: str | None, num_steps: int, guidance: float):
        pipe = ours(components)
        pipe.set_scheduler(scheduler)
        generator = torch.Generator().manual_seed(0)
        return pipe(
            PROMPT,
            video_length=frames,
            height=few_size,
            width=few_size,
            num_inference_steps=num_steps,
            guidance_scale=guidance,
            generator=generator,
        ).frames

    few, _ = fastest(
        {
            "DDIM 50 steps, guidance 7.5": lambda: clip(None, 50, 7.5),
            "LCM 6 steps, no guidance": lambda: clip("lcm", 6, 1.0),
        },
        1,
        device,
    )
    print(f"\n{frames} frames, {few_size} px, per clip (decoding included):")
    for name, value in few.items():
        print(f"  {name:28s} {value:8.2f} s")
    slow, fast = few.values()
    print(f"  3. few-step speed-up: {slow / fast:.1f}x   (target >= 6x)")


def reuse(mine, frames: int, few_size: int, reuse_steps: int, repeats: int, device: str) -> None:
    """4. Feature reuse against the exact run."""
    reuse_run = dict(video_length=frames, height=few_size, width=few_size, num_inference_steps=reuse_steps)

    def reused(interval: int):
        return mine(PROMPT, **reuse_run, feature_reuse=interval, generator=torch.Generator().manual_seed(0)).frames

    timings, outputs = fastest({"exact": lambda: reused(1), "feature reuse 3": lambda: reused(3)}, repeats, device)
    deviation = (as_tensor(outputs["feature reuse 3"]) - as_tensor(outputs["exact"])).abs()
    print(f"\n{frames} frames, {few_size} px, {reuse_steps} DDIM steps:")
    print(
        f"  4. feature reuse k=3 speed-up: {timings['exact'] / timings['feature reuse 3']:.2f}x   (target >= 1.5x);"
        f" output deviation in [0, 1] pixels: mean {deviation.mean():.3f}, max {deviation.max():.3f}"
    )


def consistency_levels(mine, frames: int, size: int, steps: int, repeats: int, device: str) -> None:
    """7. The time of each consistency level against off, in text-to-video (the levels' options, `modes`)."""
    from modes import CONSISTENCY

    run = dict(video_length=frames, height=size, width=size, num_inference_steps=steps)

    def level(name: str):
        options = CONSISTENCY[name]
        return mine(PROMPT, **run, **options, generator=torch.Generator().manual_seed(0)).frames

    timings, _ = fastest({name: (lambda name=name: level(name)) for name in CONSISTENCY}, repeats, device)
    print(f"\n{frames} frames, {size} px, {steps} DDIM steps, text-to-video:")
    for name in CONSISTENCY:
        print(f"  7. consistency {name:8s} {timings[name]:7.2f} s   x{timings[name] / timings['off']:.2f} of off")
    print("     (balanced: target <= 1.3x; strong adds a FreeInit pass of the frames from T)")


def exact_speedups(components: dict, mine, run_mine, run_reference, frames: int, repeats: int, device: str) -> None:
    """5. The exact options on a copy of the UNet, against the reference unchunked (with its forward jump made exact
    by the caller, so that the outputs can be compared)."""
    import copy

    from utils.compilation import compile_repeated_blocks, use_channels_last

    nhwc_unet = use_channels_last(copy.deepcopy(components["unet"]))
    compiled_unet = use_channels_last(copy.deepcopy(components["unet"]))
    compile_repeated_blocks(compiled_unet, torch.device(device))
    variants = {"channels-last": nhwc_unet, "channels-last + compile": compiled_unet}

    def run_with(unet):
        mine.register_modules(unet=unet)
        try:
            return run_mine(frames)
        finally:
            mine.register_modules(unet=components["unet"])

    sync(device)
    start = time.perf_counter()
    run_with(compiled_unet)  # the first call compiles
    sync(device)
    print(f"\n5. compiling the repeated blocks (first call, included): {time.perf_counter() - start:.1f} s")
    cases = {"reference unchunked": run_reference, "ours unchunked": lambda: run_mine(frames)}
    cases.update({f"ours {name}": functools.partial(run_with, unet) for name, unet in variants.items()})
    seconds, outputs = fastest(cases, repeats, device)
    reference = as_tensor(outputs["reference unchunked"])
    for name, value in seconds.items():
        difference = (as_tensor(outputs[name]) - reference).abs().max()
        ratio = seconds["reference unchunked"] / value
        print(f"  {name:30s} {value:8.2f} s   {ratio:.2f}x the reference   output max |diff| {difference:.1e}")
    print("  target: exact mode >= 1.2x the reference, output within 1e-3")


TABLE_OPTIONS: dict[str, dict[str, object]] = {
    "plain": {},
    "few steps (LCM 6, guidance 1)": {"scheduler": "lcm", "num_inference_steps": 6, "guidance_scale": 1.0},
    "feature reuse 3": {"feature_reuse": 3},
    "channels-last + compile": {"setup": "compile"},
    "fp8 weights": {"setup": "fp8"},
    "model offload": {"setup": "model-offload"},
    "group offload": {"setup": "group-offload"},
}


def table_pipeline(device: str, dtype: torch.dtype, setup: str | None) -> TextToVideoZeroPipeline | None:
    """Fresh SD 1.5 components set up for one option (None where the option needs CUDA and this is a CPU)."""
    from utils.compilation import compile_repeated_blocks, use_channels_last
    from utils.memory import offload_by_blocks, store_in_fp8

    if setup == "model-offload" and device != "cuda":
        return None
    offloaded = setup in ("model-offload", "group-offload")
    components = sd15_components("cpu" if offloaded else device, dtype)
    unet = components["unet"]
    if setup == "compile":
        compile_repeated_blocks(use_channels_last(unet), torch.device(device))
    if setup == "fp8":
        store_in_fp8(unet, dtype)
    pipe = ours(components)
    if setup == "model-offload":
        pipe.enable_model_cpu_offload(device=device)
    if setup == "group-offload":
        for name in ("unet", "vae", "text_encoder"):
            offload_by_blocks(components[name], torch.device(device))
    return pipe


def table(device: str, dtype: torch.dtype, lengths: list[int], steps: int, size: int) -> None:
    """6. Seconds (and peak GPU memory) per clip for every option, chunk 8 and 2, each clip length."""
    cuda = device == "cuda"
    print(f"\n6. per clip, {size} px, {steps} DDIM steps, guidance 7.5 unless the option says otherwise:")
    print(f"  {'option':32s} {'frames':>6s} {'chunk':>5s} {'seconds':>8s} {'peak GPU GiB':>12s}")
    for option, chosen in TABLE_OPTIONS.items():
        settings = dict(chosen)
        setup = settings.pop("setup", None)
        pipe = table_pipeline(device, dtype, setup if isinstance(setup, str) else None)
        if pipe is None:
            print(f"  {option:32s} needs CUDA")
            continue
        scheduler = settings.pop("scheduler", None)
        pipe.set_scheduler(scheduler if isinstance(scheduler, str) else None)
        call = {"num_inference_steps": steps, "guidance_scale": 7.5, "height": size, "width": size, **settings}
        # A short first call, not counted: it compiles (two batch sizes: the batch turns dynamic) and warms up.
        pipe(PROMPT, video_length=5, chunk_size=3, **{**call, "num_inference_steps": 2})
        for length in lengths:
            for chunk in (8, 2):
                if cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                sync(device)
                start = time.perf_counter()
                pipe(PROMPT, video_length=length, chunk_size=chunk, generator=torch.Generator().manual_seed(0), **call)
                sync(device)
                seconds = time.perf_counter() - start
                memory = f"{torch.cuda.max_memory_allocated() / 2**30:12.2f}" if cuda else f"{'n/a':>12s}"
                print(f"  {option:32s} {length:6d} {chunk:5d} {seconds:8.2f} {memory}", flush=True)
        del pipe
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    print("  target: 8 frames at 512 px under 4 GiB with chunking and offload, no token merging")


if __name__ == "__main__":
    main()
