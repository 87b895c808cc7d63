"""Memory options for a network, shared by the app's loader and the benchmarks: block-by-block offloading and
float8 weight storage (their savings and costs: README, "Speed and memory")."""

from __future__ import annotations

import torch


def offload_by_blocks(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Keep `module` in CPU memory; each block visits `device` while it runs (diffusers' group offloading, with a
    CUDA stream overlapping the transfers and the compute)."""
    from diffusers.hooks import apply_group_offloading

    apply_group_offloading(
        module,
        onload_device=device,
        offload_device=torch.device("cpu"),
        offload_type="block_level",
        num_blocks_per_group=1,
        use_stream=device.type == "cuda",
    )
    return module


def store_in_fp8(module: torch.nn.Module, compute_dtype: torch.dtype) -> torch.nn.Module:
    """The module's weights stored in float8 (e4m3) and cast to `compute_dtype` layer by layer as they run."""
    module.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=compute_dtype)
    return module
