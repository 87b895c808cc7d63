"""Coherence beyond the paper, on each step's clean estimate: flow-guided fusion and the interleaved-frame smoother.

At a step, the scheduler's estimate of the clean latents x0 (from the noise prediction) is changed and the
prediction replaced by the one that gives the changed estimate; the scheduler then steps as usual, so the changed
estimate is re-noised to the next step by the scheduler's own rule. Both act on all frames at once, after the
lockstep chunks have predicted every frame of the step: a chunk's first frame sees the previous chunk's last frame
of the same step, and the output does not depend on the chunk size.

- Flow-guided fusion (the idea of Rerender-A-Video's and FRESCO's cross-frame constraints, re-implemented): in the
  first `FUSION_WINDOW` of the steps, frame k's estimate is pulled toward its predecessor's (already fused) estimate
  moved along the flow, by `flow_fusion`, where the predecessor sees the same content (outside occlusions).
- The interleaved-frame smoother (ControlVideo, Chen et al. 2023): at two steps near 40 % of the schedule, every
  other frame's estimate is replaced by the interpolation of its two neighbours along the flow (odd frames at the
  first, even frames at the second; frame 0 and the last frame are kept).
The flow is the input video's (guided and editing modes) or the camera's (text-to-video), see `flow`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler

from .flow import FrameFlow, video_flow, warp

FUSION_WINDOW = 0.8  # of the steps, from the first: the last steps (fine texture) are left to each frame
SMOOTHER_AT = 0.38  # of the schedule: ControlVideo's steps 19 and 20 of 50


def clean_map(scheduler, t, sample: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) with x0 = a * sample + b * prediction at timestep `t` of `scheduler` (noise or v prediction, in the
    variance-preserving space or Euler's sigma space)."""
    kind = scheduler.config.get("prediction_type", "epsilon")
    dtype = torch.promote_types(sample.dtype, torch.float32)  # float16 works in float32, float64 stays
    if isinstance(scheduler, (EulerDiscreteScheduler, EulerAncestralDiscreteScheduler)):
        sigma = scheduler.sigmas[scheduler.step_index].to(sample.device, dtype)
        if kind == "v_prediction":
            return 1 / (sigma**2 + 1), -sigma / (sigma**2 + 1).sqrt()
        return torch.ones_like(sigma), -sigma
    alpha = scheduler.alphas_cumprod[int(t)].to(sample.device, dtype)
    if kind == "v_prediction":
        return alpha.sqrt(), -(1 - alpha).sqrt()
    if kind == "sample":
        return torch.zeros_like(alpha), torch.ones_like(alpha)
    return 1 / alpha.sqrt(), -((1 - alpha) / alpha).sqrt()


def fuse(estimate: torch.Tensor, flow: FrameFlow, weight: float) -> torch.Tensor:
    """Each frame's estimate pulled toward its predecessor's (fused first) moved along the flow, by `weight`,
    where the predecessor sees it; frame 0 as it is."""
    fused = [estimate[0]]
    for k in range(1, len(estimate)):
        moved = warp(fused[-1][None], flow.to_previous[k : k + 1])[0]
        share = weight * flow.valid_previous[k]
        fused.append(estimate[k] + share * (moved - estimate[k]))
    return torch.stack(fused)


def smooth(estimate: torch.Tensor, flow: FrameFlow, first: int) -> torch.Tensor:
    """Frames `first`, `first` + 2, ... (not the last) replaced by their two neighbours moved along the flow and
    averaged: both where both see the cell, one where one does, the frame's own estimate where neither does."""
    smoothed = estimate.clone()
    for k in range(first, len(estimate) - 1, 2):
        before = warp(estimate[k - 1 : k], flow.to_previous[k : k + 1])[0]
        after = warp(estimate[k + 1 : k + 2], flow.to_next[k : k + 1])[0]
        seen_before, seen_after = flow.valid_previous[k], flow.valid_next[k]
        seen = seen_before + seen_after
        mean = (seen_before * before + seen_after * after) / seen.clamp(min=1)
        smoothed[k] = torch.where(seen > 0, mean, estimate[k])
    return smoothed


def smoother_steps(num_inference_steps: int) -> tuple[int, ...]:
    """The two step indices of the schedule the smoother runs at (one where the schedule has one step)."""
    first = min(num_inference_steps - 1, round(SMOOTHER_AT * num_inference_steps))
    return tuple(sorted({first, min(num_inference_steps - 1, first + 1)}))


@dataclass(frozen=True)
class Coherence:
    """What one call's steps do to the clean estimates: `flow_fusion` in [0, 1] (0: off), `frame_smoother`; the
    flow comes with `refiner`."""

    flow_fusion: float = 0.0
    frame_smoother: bool = False

    def __bool__(self) -> bool:
        return bool(self.flow_fusion) or self.frame_smoother

    def refiner(self, flow: FrameFlow, num_inference_steps: int, first_step: int = 0):
        """A `denoise` refinement (step index, timestep, scheduler, sample, prediction) -> prediction for a phase
        that runs steps `first_step` .. `num_inference_steps` - 1 of the schedule; None when nothing is on."""
        if not self or len(flow) < 2:
            return None
        phase = num_inference_steps - first_step
        fusion_end = first_step + round(FUSION_WINDOW * phase)
        steps = smoother_steps(num_inference_steps) if self.frame_smoother else ()
        smoothing = {step: first for step, first in zip(steps, (1, 2), strict=False)}  # odd frames, then even

        placed: dict = {}  # the flow on the device and in the dtype the steps work in, moved once

        def refine(i: int, t, scheduler, sample: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
            fusing = self.flow_fusion and i < fusion_end
            if not fusing and i not in smoothing:
                return prediction
            a, b = clean_map(scheduler, t, sample)
            estimate = a * sample.to(a.dtype) + b * prediction.to(a.dtype)
            key = (sample.device, a.dtype)
            moved = placed[key] if key in placed else placed.setdefault(key, flow.to(*key))
            changed = fuse(estimate, moved, self.flow_fusion) if fusing else estimate
            if i in smoothing:
                changed = smooth(changed, moved, smoothing[i])
            return (prediction.to(a.dtype) + (changed - estimate) / b).to(prediction.dtype)

        return refine


def uint8_frames(frames) -> np.ndarray:
    """Video frames as uint8 (F, H, W, 3): from uint8 or [0, 1] float arrays (F, H, W, 3) or a (F, 3, H, W) tensor
    in [0, 1]."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().float().permute(0, 2, 3, 1).cpu().numpy()
    array = np.asarray(frames)
    if array.dtype == np.uint8:
        return array
    return (np.clip(array, 0, 1) * 255).round().astype(np.uint8)


def check_coherence(flow_fusion, frame_smoother, vidtome_local=0.0, vidtome_global=0.0) -> None:
    """The pipelines' check of the coherence options (the calls name them for the user, `modes`)."""
    from .token_merging import MAX_GLOBAL, MAX_LOCAL

    for name, value, top in (
        ("vidtome_local", vidtome_local, MAX_LOCAL),
        ("vidtome_global", vidtome_global, MAX_GLOBAL),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
            raise ValueError(f"`{name}` must be a number in [0, {top}], got {value!r}.")
    if isinstance(flow_fusion, bool) or not isinstance(flow_fusion, (int, float)) or not 0 <= flow_fusion <= 1:
        raise ValueError(f"`flow_fusion` must be a number in [0, 1], got {flow_fusion!r}.")
    if not isinstance(frame_smoother, bool):
        raise ValueError(f"`frame_smoother` must be True or False, got {frame_smoother!r}.")


def video_refiner(coherence: Coherence, frames, latent_size: tuple[int, int], num_inference_steps: int):
    """The refinement of a video mode: the flow of its input video (`frames`), None when nothing is on."""
    if not coherence or len(frames) < 2:
        return None
    return coherence.refiner(video_flow(uint8_frames(frames), latent_size), num_inference_steps)
