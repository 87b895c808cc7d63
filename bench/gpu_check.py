"""The device checks for a session that is lent a GPU, prepared so that they run as one or two short commands.

Parts (`--parts`, comma-separated; all by default):
  smoke  the CUDA float16 path of every pipeline on the tiny models: finite frames, chunked output equal to unchunked
         (float16 tolerance), channels-last + compiled blocks equal to plain (about a minute)
  5      bench_real_size.py case 5 at 512 px, 8 frames: the exact speed-ups against the reference (a few minutes)
  6      bench_real_size.py case 6: seconds and peak GPU memory per 8- and 24-frame clip at 512 px, chunk 8 and 2,
         every option (`--table-steps` DDIM steps; about 6 minutes at 20 steps on one H200)
  video  each trained video family's tiny model through the Model on the device (bfloat16 on CUDA): a clip of the
         asked size, not blank, with the decode in tiles too (under a minute)
  wan    bench_video_models.py: Wan 2.1 T2V 1.3B at full size, 33 frames at 832x480, ours against diffusers'
         WanPipeline, seconds per step per frame and working memory (a few minutes)

    python -m bench.gpu_check --parts smoke,video,5  # then, in a second command:
    python -m bench.gpu_check --parts 6 --table-steps 20
    python -m bench.gpu_check --parts wan

Each part's output is also written to $OUT/<part>.txt when OUT is set (the device tool brings that folder back).
The device machine has torch, transformers and Triton but not diffusers: carry its wheel. Here, once:
    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: -d .whl diffusers==0.42.1
and begin each run (carry: [".whl"]) with
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
On a machine without a GPU, `--device cpu` runs the same checks in float32 (to check this script).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

PROMPT = "a cat"


def latents(pipe, *args, chunk_size=None, **kwargs) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    call = dict(num_inference_steps=4, output_type="latent", chunk_size=chunk_size, generator=generator)
    return pipe(PROMPT, *args, **call, **kwargs).frames.float()


def check(name: str, whole: torch.Tensor, chunked: torch.Tensor, tolerance: float) -> bool:
    finite = bool(torch.isfinite(whole).all() and torch.isfinite(chunked).all())
    difference = (whole - chunked).abs().max().item()
    ok = finite and difference <= tolerance
    print(f"  {name:44s} finite {finite!s:5s}  max |diff| {difference:.1e}  {'ok' if ok else 'FAILED'}", flush=True)
    return ok


def smoke(device: str) -> bool:
    """Every pipeline on the tiny models in the device's dtype: chunked = unchunked, compiled = plain."""
    from diffusers import ControlNetModel

    from pipelines import (
        ControlNetVideoPipeline,
        InstructPix2PixVideoPipeline,
        TextToVideoZeroPipeline,
        TextToVideoZeroSDXLPipeline,
    )
    from pipelines.modelscope import ModelScopePipeline
    from utils.compilation import compile_repeated_blocks, use_channels_last
    from utils.tiny_models import ensure_tiny_models

    dtype = torch.float16 if device == "cuda" else torch.float32
    tolerance = 2e-2 if dtype == torch.float16 else 1e-3
    tiny = ensure_tiny_models(Path(tempfile.gettempdir()) / "t2vz-gpu-check-tiny")
    print(f"smoke: tiny models, {device} {dtype}; chunk 2 against unchunked, compiled against plain", flush=True)

    def load(cls, family: str):
        pipe = cls.from_pretrained(tiny[family], dtype=dtype).to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    rng = np.random.default_rng(0)
    edges = (rng.random((4, 64, 64, 3)) > 0.85).astype(np.uint8) * 255
    frames = rng.random((4, 64, 64, 3)).astype(np.float32)
    sd = load(TextToVideoZeroPipeline, "sd")
    controlnet = ControlNetModel.from_pretrained(tiny["controlnet-canny"], dtype=dtype).to(device)
    guided = ControlNetVideoPipeline(**sd.components, controlnet=controlnet)
    guided.set_progress_bar_config(disable=True)
    runs = {
        "text-to-video (SD)": (sd, (), dict(video_length=4, height=64, width=64)),
        "text-to-video (SDXL)": (load(TextToVideoZeroSDXLPipeline, "sdxl"), (), dict(video_length=4)),
        "guided (ControlNet canny)": (guided, (edges,), {}),
        "editing (Instruct-Pix2Pix)": (load(InstructPix2PixVideoPipeline, "pix2pix"), (frames,), {}),
    }
    ok = True
    for name, (pipe, args, kwargs) in runs.items():
        ok &= check(name, latents(pipe, *args, **kwargs), latents(pipe, *args, chunk_size=2, **kwargs), tolerance)
    # ModelScope's temporal layers see every frame at once (no chunks): the same call twice must agree.
    modelscope = load(ModelScopePipeline, "modelscope")
    size = dict(num_frames=4, height=64, width=64, num_inference_steps=4, output_type="latent")
    first, second = (modelscope(PROMPT, generator=torch.Generator().manual_seed(0), **size).frames for _ in range(2))
    ok &= check("ModelScope (the same call twice)", first.float(), second.float(), tolerance)
    plain = latents(sd, video_length=4, height=64, width=64, chunk_size=2)
    fast_unet = use_channels_last(copy.deepcopy(sd.unet))
    compiled = compile_repeated_blocks(fast_unet, torch.device(device))
    sd.register_modules(unet=fast_unet)
    fast = latents(sd, video_length=4, height=64, width=64, chunk_size=2)
    ok &= check(f"channels-last + {compiled} compiled blocks (SD)", plain, fast, tolerance)
    return ok


def video(device: str) -> bool:
    """Each trained video family's tiny model through the Model on the device: a finite clip of the asked size,
    decoded whole and in tiles (T2VZ_VAE_TILING=on)."""
    import dataclasses

    from PIL import Image

    from catalogue import TINY_VIDEO_MODELS
    from model import Model
    from settings import Settings
    from utils.video import read_video

    folder = Path(tempfile.mkdtemp(prefix="t2vz-gpu-check-video-"))
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(folder / "first.png")
    ok = True
    for tiling in ("off", "on"):
        settings = Settings.from_env().with_tiny_models()
        model = Model(device=device, settings=dataclasses.replace(settings, output_dir=folder, vae_tiling=tiling))
        print(f"video: tiny models on {device} ({model.video_dtype}), VAE tiling {tiling}", flush=True)
        for name in TINY_VIDEO_MODELS:
            image = str(folder / "first.png") if name.endswith("i2v") else None
            small = dict(num_frames=9, height=64, width=64, num_inference_steps=2, image=image)
            frames = read_video(model.trained_video(PROMPT, model_name=name, **small).path)[0]
            good = frames.shape[:3] == (9, 64, 64) and frames.std() > 0
            print(f"  {name}: {frames.shape}, std {frames.std():.1f} {'ok' if good else 'FAILED'}", flush=True)
            ok &= good
    return ok


def bench(device: str, arguments: list[str], module: str = "bench.bench_real_size") -> bool:
    command = [sys.executable, "-m", module, "--device", device, *arguments]
    print("$ " + " ".join(command[1:]), flush=True)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    for line in process.stdout or ():
        print(line, end="", flush=True)  # through `tee`
    return process.wait() == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--parts", default="smoke,video,5,6,wan")
    parser.add_argument("--table-steps", type=int, default=20)
    args = parser.parse_args()
    device = args.device
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"torch {torch.__version__}, {name}", flush=True)
    parts = {
        "smoke": lambda: smoke(device),
        "5": lambda: bench(device, ["--cases", "5", "--frames", "8"]),
        "6": lambda: bench(device, ["--cases", "6", "--table-steps", str(args.table_steps)]),
        "video": lambda: video(device),
        "wan": lambda: bench(device, ["--repeats", "2"], module="bench.bench_video_models"),
    }
    failed = []
    for part in args.parts.split(","):
        if part not in parts:
            parser.error(f"unknown part {part!r}: choose from {', '.join(parts)}")
        with tee(part):
            if not parts[part]():
                failed.append(part)
    print("all checks passed" if not failed else f"FAILED: {', '.join(failed)}")
    sys.exit(1 if failed else 0)


@contextlib.contextmanager
def tee(part: str):
    """Print as usual and, where OUT is set, keep a copy in $OUT/<part>.txt (the benchmarks' output included)."""
    out = os.environ.get("OUT")
    if not out:
        yield
        return
    path = Path(out) / f"{part}.txt"
    with open(path, "w") as copy_file:
        stream = _Tee(sys.stdout, copy_file)
        previous = sys.stdout
        sys.stdout = stream  # type: ignore[assignment]
        try:
            yield
        finally:
            sys.stdout = previous


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)


if __name__ == "__main__":
    main()
