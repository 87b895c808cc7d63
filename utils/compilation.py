"""Exact speed-ups of the denoising networks: `channels_last` memory layout and regional `torch.compile`.

Regional compilation (https://docs.pytorch.org/tutorials/recipes/regional_compilation.html) compiles the blocks a
UNet repeats (transformer and ResNet blocks) instead of the whole network: a fraction of the compile time, nearly
all of the gain. Blocks of one class share their compiled code where their weights have the same shapes. The
cross-frame attention processors run inside the compiled transformer blocks; their per-call state (which chunk
holds the anchor, the recorded keys/values) is read by guards, so a few variants compile once each. The batch
dimension becomes dynamic after the second chunk size seen: further chunk sizes and video lengths do not recompile.
"""

from __future__ import annotations

import logging
import os
import shutil

import torch

logger = logging.getLogger(__name__)

# The blocks compiled, by class name: every UNet (2-D, 3-D) and ControlNet is built from them.
REPEATED_BLOCKS = ("BasicTransformerBlock", "ResnetBlock2D")
# Compiled variants kept per block class: SD 1.5's UNet alone has 12 ResNet block shapes, each with and without the
# anchor's chunk, token merging or a LoRA; past the limit torch falls back to running the block uncompiled.
RECOMPILE_LIMIT = 64
BACKEND = "inductor"  # torch.compile's default; the tests check the tracing with a lighter one


def has_compiler(device: torch.device) -> bool:
    """Inductor builds CPU kernels with a C++ compiler; on CUDA, Triton builds its launchers with a C compiler."""
    if device.type == "cpu":
        names = (os.environ.get("CXX", ""), "g++", "c++", "clang++")
    else:
        names = (os.environ.get("CC", ""), "gcc", "cc", "clang")
    return any(shutil.which(name) for name in names if name)


def use_channels_last(module: torch.nn.Module) -> torch.nn.Module:
    """The module's 2-D convolutions with channels-last (NHWC) weights, which cuDNN's convolutions prefer on CUDA;
    the results equal the default layout's up to floating-point rounding. Only those: a 3-D UNet's temporal
    convolutions have 5-D weights, which `module.to(memory_format=torch.channels_last)` would refuse."""
    for layer in module.modules():
        if isinstance(layer, torch.nn.Conv2d):
            layer.to(memory_format=torch.channels_last)
    return module


def compile_repeated_blocks(module: torch.nn.Module, device: torch.device, backend: str | None = None) -> int:
    """Compile every block of `module` whose class is one of REPEATED_BLOCKS, in place (the first call through a
    block compiles it: the first generation takes longer). Returns how many were set to compile; 0 where the
    inductor backend has no compiler on this machine (`has_compiler`)."""
    backend = backend or BACKEND
    if backend == "inductor" and not has_compiler(device):
        logger.warning("T2VZ_COMPILE: torch.compile needs a C/C++ compiler (gcc, g++) on this machine; uncompiled.")
        return 0
    import torch._dynamo

    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    blocks = [block for block in module.modules() if type(block).__name__ in REPEATED_BLOCKS]
    for block in blocks:
        block.compile(backend=backend)
    return len(blocks)


def is_compiled(block: torch.nn.Module) -> bool:
    return getattr(block, "_compiled_call_impl", None) is not None
