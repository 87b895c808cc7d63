"""Cheap previews of a generation in progress: the denoising loop's current estimate of the clean latents
(`predicted_original`), turned into a small picture of the first frames (`preview_image`).

Two decoders: diffusers' `AutoencoderTiny` (TAESD, a few MB of weights, near the real VAE's picture) where one is
configured, else a linear map from the four latent channels to RGB, which needs no weights (coarse colours and
shapes at 1/8 of the size: enough to see early whether the clip is going where one wants).
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
from diffusers.utils.torch_utils import get_module_execution_device

# Latent channels -> RGB for Stable Diffusion's VAE latents in the sampler's (scaled) space, fitted by the ComfyUI
# project on real images; SDXL's VAE has its own. (weights 4 x 3, bias 3)
SD_LATENT_RGB = (
    ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177)),
    (0.0, 0.0, 0.0),
)
SDXL_LATENT_RGB = (
    ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362), (-0.3165, -0.2492, -0.2188)),
    (0.1084, -0.0175, -0.0011),
)
MAX_PREVIEW_FRAMES = 4


def predicted_original(scheduler, step_output, prediction: torch.Tensor, t, sample: torch.Tensor):
    """The scheduler's estimate of the clean latents at this step: its own where it returns one (DDIM, DDPM, Euler,
    LCM), else from the variance-preserving relation x_t = sqrt(a) x_0 + sqrt(1 - a) eps (DPM-Solver, UniPC).
    None where neither applies."""
    for name in ("pred_original_sample", "denoised"):
        estimate = getattr(step_output, name, None)
        if estimate is not None:
            return estimate
    alphas = getattr(scheduler, "alphas_cumprod", None)
    if alphas is None:
        return None
    alpha = alphas[int(t)].to(sample.device, torch.float32)
    sample, prediction = sample.float(), prediction.float()
    kind = scheduler.config.get("prediction_type", "epsilon")
    if kind == "v_prediction":
        return alpha.sqrt() * sample - (1 - alpha).sqrt() * prediction
    if kind == "sample":
        return prediction
    return (sample - (1 - alpha).sqrt() * prediction) / alpha.sqrt()


def as_frames(latents: torch.Tensor) -> torch.Tensor:
    """(F, C, h, w) frames of the image pipelines' latents, or of a 3-D UNet's (1, C, F, h, w)."""
    return latents[0].permute(1, 0, 2, 3) if latents.ndim == 5 else latents


def latent_rgb(latents: torch.Tensor, sdxl: bool = False) -> torch.Tensor:
    """(F, 4, h, w) scaled latents -> (F, 3, h, w) RGB in [0, 1] by the linear map; latents with other channel
    counts show their first three channels, normalised."""
    latents = latents.float()
    if latents.shape[1] != 4:
        rgb = latents[:, :3]
        low, high = rgb.amin(), rgb.amax()
        return (rgb - low) / (high - low).clamp(min=1e-6)
    weights, bias = SDXL_LATENT_RGB if sdxl else SD_LATENT_RGB
    weights_t = torch.tensor(weights, device=latents.device)
    bias_t = torch.tensor(bias, device=latents.device)
    rgb = torch.einsum("fchw,cr->frhw", latents, weights_t) + bias_t[None, :, None, None]
    return (rgb / 2 + 0.5).clamp(0, 1)


@torch.no_grad()
def preview_image(
    latents: torch.Tensor, decoder=None, sdxl: bool = False, max_frames: int = MAX_PREVIEW_FRAMES, to_rgb=None
) -> np.ndarray:
    """The first `max_frames` frames of estimated clean latents side by side, as a uint8 (height, width, 3) image:
    decoded by `decoder` (an `AutoencoderTiny`) when given, else by `to_rgb` ((F, C, h, w) -> (F, 3, h, w) in
    [0, 1]: a map fitted to the VAE, `fitted_rgb_map`), else by the latent-to-RGB map."""
    frames = as_frames(latents)[:max_frames]
    if to_rgb is not None:
        rgb = to_rgb(frames.float())
    elif decoder is not None:
        # TAESD takes the sampler's latents as they are (its scaling factor is 1) and returns images in [-1, 1].
        images = decoder.decode(frames.to(decoder.device, decoder.dtype), return_dict=False)[0].float()
        rgb = (images / 2 + 0.5).clamp(0, 1)
    else:
        rgb = latent_rgb(frames, sdxl)
    strip = torch.cat(list(rgb), dim=2)  # (3, h, w * frames)
    return (strip.permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy()


# The VAEs whose latent-to-RGB maps were fitted (`fitted_rgb_map`), for the life of the VAE.
_FITTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
FIT_SIDE_LATENTS = 16  # the fitting picture spans this many latents a side (256 samples)


@torch.no_grad()
def fitted_rgb_map(vae, spatial_ratio: int):
    """A linear map from a video VAE's latents (its own, unnormalised space) to RGB, fitted once per VAE by least
    squares on a picture of smooth random colours it encodes (each latent against the mean colour of the pixels it
    covers): the same kind of map as `SD_LATENT_RGB`, for any latent space, with no weights to ship. A preview's
    colours and shapes, not its detail."""
    if vae not in _FITTED:
        side = FIT_SIDE_LATENTS * spatial_ratio
        generator = torch.Generator().manual_seed(0)
        coarse = torch.rand(1, 3, 8, 8, generator=generator)
        picture = torch.nn.functional.interpolate(coarse, size=(side, side), mode="bicubic").clamp(0, 1)
        device = get_module_execution_device(vae)  # where it runs, offloaded or not
        sample = (picture * 2 - 1).unsqueeze(2).to(device, vae.dtype)  # (1, 3, 1, H, W) in [-1, 1]
        latent = vae.encode(sample).latent_dist.mode()[0, :, 0].float().cpu()  # (C, h, w)
        h, w = latent.shape[1:]
        target = torch.nn.functional.adaptive_avg_pool2d(picture[0], (h, w))  # (3, h, w): the colours they cover
        inputs = torch.cat([latent.reshape(len(latent), -1), torch.ones(1, h * w)]).T  # (h w, C + 1)
        ridge = 1e-3 * torch.eye(inputs.shape[1])
        weights = torch.linalg.solve(inputs.T @ inputs + ridge, inputs.T @ target.reshape(3, -1).T)  # (C + 1, 3)
        _FITTED[vae] = weights

    weights = _FITTED[vae]

    def to_rgb(frames: torch.Tensor) -> torch.Tensor:
        mapped = torch.einsum("fchw,cr->frhw", frames.cpu(), weights[:-1]) + weights[-1][None, :, None, None]
        return mapped.clamp(0, 1)

    return to_rgb
