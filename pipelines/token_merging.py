"""Cross-frame token merging (VidToMe, Li et al., CVPR 2024), re-implemented for lockstep chunks.

In the self-attention layers of the UNet's finest resolutions (at most `MAX_DOWNSAMPLE` below the latent grid), the
frames are taken in windows of `WINDOW` consecutive frames. Within a window, the middle frame's tokens are the
destinations and the other frames' the sources: each source token is matched to its most similar destination
(cosine similarity, the bipartite soft matching of ToMe/tomesd), and the `local` fraction of sources with the best
matches is merged into them (averaged). Self-attention runs once over the window's merged tokens (every frame of
the window reads every other), and unmerging gives each merged token's output back to every token merged into it: the
matched tokens of different frames come out identical.

Global tokens carry consistency from window to window (and so across chunks, complementing the anchor frame): each
layer keeps the last window's merged tokens; the next window's merged tokens are matched to them and the `global`
fraction merged in before attention, and they become the new global tokens. Windows are taken in frame order at every
step, and a lockstep chunk always holds whole windows (`window_chunk`), so the clip does not depend on the chunk size.

The matching is deterministic (the middle frame of each window is the destination, where VidToMe draws one at
random), so that a seed gives one clip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from .cross_frame_attention import is_self_attention

WINDOW = 4  # frames merged together (VidToMe's chunk of 4 frames with one destination frame)
MAX_DOWNSAMPLE = 2  # layers at most this far below the latent grid (VidToMe's default: the two finest)
MAX_LOCAL, MAX_GLOBAL = 0.9, 0.9
SIMILARITY_STEPS = 1024  # the cosine similarity's resolution for matching


@dataclass
class Merge:
    """One bipartite merge of `sources` (B, S, C) into `destinations` (B, D, C): which sources merge (`merged`,
    their indices into S, (B, r)) into which destination (`into`, (B, r)), and which are kept (`kept`, (B, S - r))."""

    merged: torch.Tensor
    into: torch.Tensor
    kept: torch.Tensor

    @classmethod
    def match(cls, sources: torch.Tensor, destinations: torch.Tensor, ratio: float) -> Merge:
        """The `ratio` of sources with the most similar destination (cosine) merge into it."""
        count = int(ratio * sources.shape[1])
        similarity = F.normalize(sources.float(), dim=-1) @ F.normalize(destinations.float(), dim=-1).transpose(1, 2)
        # Rounded, so that rounding noise (a chunk's batch size, the device) cannot reorder near-equal matches: ties
        # then go to the first index, the same way every time.
        similarity = (similarity * SIMILARITY_STEPS).round()
        best, into = similarity.max(dim=-1)  # (B, S)
        order = best.argsort(dim=-1, descending=True, stable=True)
        merged, kept = order[:, :count], order[:, count:].sort(dim=-1).values
        return cls(merged, into.gather(1, merged), kept)

    def apply(self, sources: torch.Tensor, destinations: torch.Tensor) -> torch.Tensor:
        """[kept sources, destinations with their merged sources averaged in]: (B, S - r + D, C)."""
        channels = sources.shape[-1]
        gathered = sources.gather(1, self.merged[..., None].expand(-1, -1, channels))
        index = self.into[..., None].expand(-1, -1, channels)
        averaged = destinations.scatter_reduce(1, index, gathered, reduce="mean", include_self=True)
        kept = sources.gather(1, self.kept[..., None].expand(-1, -1, channels))
        return torch.cat([kept, averaged], dim=1)

    def unmerge(self, tokens: torch.Tensor, sources: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Merged `tokens` (B, S - r + D, C) -> (sources (B, S, C), destinations (B, D, C)): every merged source
        gets its destination's token."""
        batch, _, channels = tokens.shape
        kept_count = self.kept.shape[1]
        kept, destinations = tokens[:, :kept_count], tokens[:, kept_count:]
        out = tokens.new_empty(batch, sources, channels)
        out.scatter_(1, self.kept[..., None].expand(-1, -1, channels), kept)
        merged = destinations.gather(1, self.into[..., None].expand(-1, -1, channels))
        out.scatter_(1, self.merged[..., None].expand(-1, -1, channels), merged)
        return out, destinations


def merge_window(window: torch.Tensor, ratio: float) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """A window's tokens (B, F, N, C) merged across its frames: (merged tokens (B, M, C), an unmerge function
    back to (B, F, N, C)). The middle frame is the destination."""
    batch, frames, tokens, channels = window.shape
    middle = frames // 2
    destinations = window[:, middle]
    sources = torch.cat([window[:, :middle], window[:, middle + 1 :]], dim=1).reshape(batch, -1, channels)
    merge = Merge.match(sources, destinations, ratio) if frames > 1 else None
    merged = destinations if merge is None else merge.apply(sources, destinations)

    def unmerge(out: torch.Tensor) -> torch.Tensor:
        if merge is None:
            return out[:, None]
        rest, middle_out = merge.unmerge(out, sources.shape[1])
        rest = rest.view(batch, frames - 1, tokens, channels)
        return torch.cat([rest[:, :middle], middle_out[:, None], rest[:, middle:]], dim=1)

    return merged, unmerge


@dataclass
class MergingState:
    """What one call's merging processors share: the guidance branches, the ratios, the finest layers' size."""

    num_branches: int
    local: float
    global_: float
    full_tokens: int  # tokens of a frame at the latent grid
    window: int = WINDOW
    layers: list = field(default_factory=list)

    def merges(self, tokens: int) -> bool:
        return tokens * MAX_DOWNSAMPLE**2 >= self.full_tokens


class TokenMergingProcessor:
    """Self-attention over each window's merged tokens, with global tokens carried from window to window; layers
    coarser than the state's limit use `fallback` (the cross-frame processor they had)."""

    def __init__(self, state: MergingState, fallback):
        self.state = state
        self.fallback = fallback
        self.plain = AttnProcessor2_0()
        self.global_tokens: torch.Tensor | None = None

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None, **kwargs):
        if (
            encoder_hidden_states is not None
            or hidden_states.ndim != 3
            or not self.state.merges(hidden_states.shape[1])
        ):
            return self.fallback(attn, hidden_states, encoder_hidden_states, **kwargs)
        batch, tokens, channels = hidden_states.shape
        branches = self.state.num_branches
        frames = batch // branches
        by_frame = hidden_states.view(branches, frames, tokens, channels)
        outputs = []
        for start in range(0, frames, self.state.window):
            merged, unmerge = merge_window(by_frame[:, start : start + self.state.window], self.state.local)
            out = unmerge(self.attend(attn, merged))
            outputs.append(out)
        return torch.cat(outputs, dim=1).reshape(batch, tokens, channels)

    def attend(self, attn: Attention, merged: torch.Tensor) -> torch.Tensor:
        """Attention over a window's merged tokens, with the global tokens merged in where there are some."""
        previous = self.global_tokens
        if previous is None or not self.state.global_:
            self.global_tokens = merged.detach()
            return self.plain(attn, merged)
        merge = Merge.match(merged, previous.to(merged), self.state.global_)
        joined = merge.apply(merged, previous.to(merged))
        out = self.plain(attn, joined)
        # The window's tokens, those merged with global ones taking the merged value, are the next global tokens.
        self.global_tokens = merge.unmerge(joined, merged.shape[1])[0].detach()
        return merge.unmerge(out, merged.shape[1])[0]


def window_chunk(chunk_size: int, window: int = WINDOW) -> int:
    """A lockstep chunk that holds whole merging windows: `chunk_size` rounded up to a multiple of the window."""
    return math.ceil(chunk_size / window) * window


@contextmanager
def token_merging_across_frames(
    unet: torch.nn.Module, num_branches: int, local: float, global_: float, latent_size: tuple[int, int]
) -> Iterator[MergingState | None]:
    """Install merging processors on the UNet's self-attention layers (over whatever processors they have, the
    cross-frame ones, which the coarser layers keep using); restored on exit. Nothing with both ratios at 0."""
    if not local and not global_:
        yield None
        return
    state = MergingState(num_branches, local, global_, latent_size[0] * latent_size[1])
    originals = unet.attn_processors
    unet.set_attn_processor(
        {
            name: TokenMergingProcessor(state, processor) if is_self_attention(name) else processor
            for name, processor in originals.items()
        }
    )
    try:
        yield state
    finally:
        unet.set_attn_processor(originals)
