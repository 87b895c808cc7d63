"""Cross-frame attention with anchor keys/values that are recorded once per step and replayed to later chunks.

In every self-attention layer each frame's queries attend to the keys and values of the anchor frame (frame 0) of
the same guidance branch. The UNet batch is laid out as [branch][frame]: with classifier-free guidance it is
[uncond frames..., cond frames...], for Instruct-Pix2Pix three such groups.

Lockstep chunking calls the model several times per denoising step. The first call holds the anchor frame
(`state.anchor_in_batch = True`): every layer computes the anchor's keys/values from it and keeps them. Later calls
hold other frames only and reuse the kept keys/values, so the anchor runs once per step and a chunked step computes
exactly what an unchunked one does. Keys/values are only computed for the anchor rows: the other frames never need
their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention

CROSS_FRAME_MODES = ("anchor", "sparse-causal")


@dataclass
class CrossFrameState:
    """What one model call's processors share: the number of guidance branches, whether frame 0 is the anchor, and
    what each frame reads: the anchor's keys/values ("anchor", the paper's), or the anchor's and the previous
    frame's ("sparse-causal", ControlVideo's)."""

    num_branches: int = 1
    anchor_in_batch: bool = True
    mode: str = "anchor"


class CrossFrameAttnProcessor:
    """Self-attention where frame k of every branch reads the anchor frame's keys/values (torch SDPA)."""

    def __init__(self, state: CrossFrameState):
        self.state = state
        self.anchor_key: torch.Tensor | None = None
        self.anchor_value: torch.Tensor | None = None
        # Sparse-causal: the keys/values of the last frame of the previous chunk (per branch), for the next chunk.
        self.last_key: torch.Tensor | None = None
        self.last_value: torch.Tensor | None = None

    @staticmethod
    def _per_frame(anchor: torch.Tensor, frames: int, heads: int, head_dim: int) -> torch.Tensor:
        """(branches, tokens, inner) anchor K or V -> (branches * frames, heads, tokens, head_dim).

        A real copy per frame: SDPA's fused kernels want plain 4-D inputs (a broadcast 5-D view is 7x slower).
        """
        branches, tokens, _ = anchor.shape
        per_head = anchor.view(branches, 1, tokens, heads, head_dim).transpose(2, 3)
        return per_head.expand(-1, frames, -1, -1, -1).reshape(branches * frames, heads, tokens, head_dim)

    @staticmethod
    def _frames(states: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
        """(branches, frames, tokens, inner) -> (branches * frames, heads, tokens, head_dim)."""
        branches, frames, tokens, _ = states.shape
        per_head = states.reshape(branches * frames, tokens, heads, head_dim)
        return per_head.transpose(1, 2)

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None:
            raise ValueError("CrossFrameAttnProcessor is for self-attention layers only (attn1).")
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        batch_size, sequence_length, _ = hidden_states.shape
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        branches = self.state.num_branches
        if batch_size % branches:
            raise ValueError(f"Batch of {batch_size} cannot be split into {branches} guidance branches.")
        frames = batch_size // branches
        causal = self.state.mode == "sparse-causal"
        if causal:  # every frame's keys/values: the next frame reads them
            by_frame = hidden_states.view(branches, frames, sequence_length, -1)
            keys, values = attn.to_k(by_frame), attn.to_v(by_frame)  # (branches, frames, tokens, inner)
        if self.state.anchor_in_batch:
            if causal:
                self.anchor_key, self.anchor_value = keys[:, 0], values[:, 0]
            else:
                anchor = hidden_states.view(branches, frames, sequence_length, -1)[:, 0]
                self.anchor_key, self.anchor_value = attn.to_k(anchor), attn.to_v(anchor)
        elif self.anchor_key is None or self.anchor_key.shape[0] != branches:
            raise RuntimeError("No anchor keys/values recorded for this step: run the chunk holding frame 0 first.")

        query = attn.to_q(hidden_states)
        heads = attn.heads
        head_dim = query.shape[-1] // heads
        query = query.view(batch_size, -1, heads, head_dim).transpose(1, 2)
        key = self._per_frame(self.anchor_key, frames, heads, head_dim)
        value = self._per_frame(self.anchor_value, frames, heads, head_dim)
        if causal:
            # Frame k also reads frame k - 1: within the chunk, or the previous chunk's last frame of this step
            # (the anchor, first of all, reads itself). Chunk by chunk, the result is that of all frames at once.
            if self.state.anchor_in_batch:
                first_key, first_value = keys[:, :1], values[:, :1]
            elif self.last_key is None:
                raise RuntimeError("No previous frame recorded for this step: run the chunks in order.")
            else:
                first_key, first_value = self.last_key, self.last_value
            previous_key = torch.cat([first_key, keys[:, :-1]], dim=1)
            previous_value = torch.cat([first_value, values[:, :-1]], dim=1)  # type: ignore[list-item]
            self.last_key, self.last_value = keys[:, -1:], values[:, -1:]
            key = torch.cat([key, self._frames(previous_key, heads, head_dim)], dim=2)
            value = torch.cat([value, self._frames(previous_value, heads, head_dim)], dim=2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, key.shape[-2], batch_size)
            attention_mask = attention_mask.view(batch_size, heads, -1, attention_mask.shape[-1])

        hidden_states = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, scale=attn.scale)
        hidden_states = hidden_states.transpose(1, 2).reshape(batch_size, -1, heads * head_dim).to(query.dtype)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))

        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def is_self_attention(processor_name: str) -> bool:
    """diffusers names the self-attention of every transformer block `...attn1.processor`."""
    return processor_name.endswith("attn1.processor")


@contextmanager
def cross_frame_attention(
    *models: torch.nn.Module, num_branches: int, enabled: bool = True, mode: str = "anchor"
) -> Iterator[CrossFrameState]:
    """Install cross-frame processors on the self-attention layers of `models` (each layer its own anchor slot).

    The models' own processors are restored on exit, also when the call fails. With `enabled=False` nothing is
    installed and every frame attends to itself (the ablation). `mode`: see `CrossFrameState`.
    """
    if mode not in CROSS_FRAME_MODES:
        raise ValueError(f"Unknown cross-frame attention {mode!r}: choose one of {', '.join(CROSS_FRAME_MODES)}.")
    state = CrossFrameState(num_branches=num_branches, mode=mode)
    originals = [model.attn_processors for model in models]
    try:
        if enabled:
            for model, processors in zip(models, originals, strict=True):
                model.set_attn_processor(
                    {
                        name: CrossFrameAttnProcessor(state) if is_self_attention(name) else processor
                        for name, processor in processors.items()
                    }
                )
        yield state
    finally:
        for model, processors in zip(models, originals, strict=True):
            model.set_attn_processor(processors)
