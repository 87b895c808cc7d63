"""Background smoothing (the paper's `smooth_bg`, whose salient-object detector the original code never shipped).

After each step of the all-frames phase, every frame's background is pulled toward the anchor's, as the camera
moves it: x_k <- M_k x_k + (1 - M_k) (s W_k(x_0) + (1 - s) x_k), with M_k the frame's foreground mask, W_k the
frame's camera warp of the anchor's latent (nearest cells, as the motion field) and s the strength. The anchor is
left as it is. Two sources of masks:
- "attention" (default, any subject, no extra model): the UNet's own cross-attention maps of the prompt's tokens,
  averaged over the middle and up blocks' layers, normalised per frame and thresholded;
- "person": MediaPipe's person segmentation (its weights ship in the wheel) of the VAE-decoded estimate of the
  clean frames, refreshed every few steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from .motion import CameraMotion, warp_latent

MASK_SOURCES = ("attention", "person")
ATTENTION_THRESHOLD = 0.4  # of the per-frame normalised map: above it, foreground
PERSON_MASK_EVERY = 5  # steps between person segmentations (each decodes the frames)


def smooth_background(
    latents: torch.Tensor, masks: torch.Tensor, strength: float, camera: CameraMotion | None = None
) -> torch.Tensor:
    """The blend above for frames 1.. of (F, C, h, w) `latents` with (F, h, w) foreground `masks` in [0, 1]."""
    if len(latents) < 2 or strength == 0:
        return latents
    camera = camera or CameraMotion()
    reference = torch.stack([warp_latent(latents[0], camera, k) for k in range(1, len(latents))])
    mask = masks[1:, None].to(latents.dtype)
    others = latents[1:]
    blended = mask * others + (1 - mask) * (strength * reference + (1 - strength) * others)
    return torch.cat([latents[:1], blended])


def normalised_masks(maps: torch.Tensor, threshold: float = ATTENTION_THRESHOLD) -> torch.Tensor:
    """(F, h, w) attention maps -> (F, h, w) masks: each frame's map scaled to [0, 1], 1 above `threshold`."""
    flat = maps.flatten(1)
    low, high = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    scaled = (maps - low) / (high - low).clamp(min=1e-8)
    return (scaled > threshold).to(maps.dtype)


class SubjectAttention:
    """Wraps a cross-attention layer's processor: computes what it computed, and keeps the map of how much each
    pixel of the conditional branch's frames attends to the prompt's tokens."""

    def __init__(self, inner, collector: AttentionMaps, name: str):
        self.inner, self.collector, self.name = inner, collector, name

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        output = self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
        if encoder_hidden_states is not None and self.collector.tokens:
            frames = hidden_states.shape[0] // self.collector.num_branches
            states, text = hidden_states[-frames:], encoder_hidden_states[-frames:]  # the conditional branch
            query, key = attn.to_q(states), attn.to_k(text)
            heads = attn.heads
            query = query.view(frames, -1, heads, query.shape[-1] // heads).transpose(1, 2)
            key = key.view(frames, -1, heads, key.shape[-1] // heads).transpose(1, 2)
            probs = (query @ key.transpose(-1, -2) * attn.scale).softmax(-1)  # (frames, heads, pixels, tokens)
            self.collector.add(self.name, probs[..., self.collector.tokens].mean(dim=(1, 3)).float())
        return output


class AttentionMaps:
    """Per step, the subject maps of every frame, from the cross-attention layers of the middle and up blocks (each
    UNet call holds a chunk of frames; the chunks come in order)."""

    def __init__(self, num_branches: int, tokens: list[int], latent_size: tuple[int, int]):
        self.num_branches, self.tokens, self.latent_size = num_branches, tokens, latent_size
        self.calls: dict[str, list[torch.Tensor]] = {}

    def begin_step(self) -> None:
        self.calls = {}

    def add(self, layer: str, maps: torch.Tensor) -> None:
        """`maps` (frames, pixels) of one call of `layer`, at the layer's resolution."""
        height, width = self.latent_size
        factor = round((height * width / maps.shape[1]) ** 0.5)
        grid = maps.view(len(maps), 1, height // factor, width // factor)
        self.calls.setdefault(layer, []).append(F.interpolate(grid, size=(height, width), mode="bilinear")[:, 0])

    def maps(self) -> torch.Tensor | None:
        """(F, h, w) maps of this step, averaged over the layers; None if no layer ran."""
        if not self.calls:
            return None
        per_layer = [torch.cat(calls) for calls in self.calls.values()]
        return torch.stack(per_layer).mean(0)

    @contextmanager
    def installed(self, unet: torch.nn.Module) -> Iterator[AttentionMaps]:
        """Wrap the cross-attention processors of the UNet's middle and up blocks for the enclosed code."""
        wrapped = []
        for name in unet.attn_processors:
            if "attn2" in name and (name.startswith("mid_block") or name.startswith("up_blocks")):
                module = unet.get_submodule(name.removesuffix(".processor"))
                wrapped.append((module, module.processor))
                module.set_processor(SubjectAttention(module.processor, self, name))
        try:
            yield self
        finally:
            for module, processor in wrapped:
                module.set_processor(processor)


def prompt_token_positions(tokenizer, prompt: str) -> list[int]:
    """Positions of the prompt's own tokens in CLIP's padded sequence (after the start token, before the end)."""
    ids = tokenizer(prompt, truncation=True, max_length=tokenizer.model_max_length).input_ids
    return list(range(1, max(1, len(ids) - 1)))


def person_masks(frames: np.ndarray) -> np.ndarray:
    """(F, H, W) person masks in [0, 1] of (F, H, W, 3) uint8 frames, by MediaPipe's selfie segmentation (general
    model; its weights ship with the package)."""
    import mediapipe as mp

    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as segmenter:
        return np.stack([segmenter.process(np.ascontiguousarray(frame)).segmentation_mask for frame in frames])
