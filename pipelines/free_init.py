"""FreeInit (Wu et al., 2023) for the zero-shot text-to-video method: after a pass, the clip's clean latents are
noised back up to T (with one noise for every iteration, as FreeInit keeps its initial noise), their low
spatio-temporal frequencies are kept and the high ones drawn afresh, and the all-frames phase runs again from there.
The layout and motion the first pass found steer the next, which steadies the clip; each iteration costs one more
all-frames phase.

The filters are diffusers' own (`FreeInitMixin`: a Butterworth low-pass over frames, height and width, and the
frequency mix); only where they apply differs: from T, the step where this method's frames begin, rather than from
the first timestep of a trained video model.
"""

from __future__ import annotations

import torch
from diffusers.pipelines.free_init_utils import FreeInitMixin
from diffusers.utils.torch_utils import randn_tensor

MAX_FREE_INIT = 5  # iterations: the paper's figures use up to 5
SPATIAL_STOP, TEMPORAL_STOP, ORDER = 0.25, 0.25, 4  # diffusers' (and the paper's) defaults


class _Filters(FreeInitMixin):
    """diffusers' FreeInit filters, without a pipeline around them."""


FILTERS = _Filters()


def low_pass(frames: int, height: int, width: int, device) -> torch.Tensor:
    """The Butterworth low-pass filter over (frames, height, width), shaped (1, 1, frames, height, width); its DC
    term passes with gain 1."""
    shape = (1, 1, frames, height, width)
    return FILTERS._get_free_init_freq_filter(shape, device, "butterworth", ORDER, SPATIAL_STOP, TEMPORAL_STOP)


def reinitialized(
    latents: torch.Tensor, noise: torch.Tensor, scheduler, timestep, generator: torch.Generator | None
) -> torch.Tensor:
    """Clean latents (frames, C, h, w) noised to `timestep` with `noise`, then their low frequencies over frames,
    height and width kept and the high ones drawn afresh: the start of the next pass."""
    noised = scheduler.add_noise(latents, noise, timestep.reshape(1))
    as_video = noised.permute(1, 0, 2, 3)[None]  # (1, C, frames, h, w): the filters' layout
    return low_frequencies_kept(as_video, generator)[0].permute(1, 0, 2, 3).to(latents.dtype)


def low_frequencies_kept(video: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Noised latents (1, C, frames, h, w) with their low frequencies kept and the high ones drawn afresh (in
    float32, as diffusers mixes them)."""
    fresh = randn_tensor(video.shape, generator=generator, device=video.device, dtype=torch.float32)
    frames, height, width = video.shape[-3:]
    return FILTERS._apply_freq_filter(video.float(), fresh, low_pass(frames, height, width, video.device))


def reinitialized_clip(
    latents: torch.Tensor, initial: torch.Tensor, scheduler, generator: torch.Generator | None
) -> torch.Tensor:
    """A trained video model's FreeInit step, as diffusers' `FreeInitMixin` takes it: the clip's latents
    (1, C, frames, h, w) noised to the last training timestep with the first pass's starting latents `initial`, their
    low frequencies kept and the high ones drawn afresh: the start of the next pass from the first timestep."""
    last = torch.full((latents.shape[0],), scheduler.config.num_train_timesteps - 1, device=latents.device).long()
    return low_frequencies_kept(scheduler.add_noise(latents, initial, last), generator).to(latents.dtype)
