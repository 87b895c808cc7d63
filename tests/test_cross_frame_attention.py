import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from pipelines.cross_frame_attention import CrossFrameAttnProcessor, CrossFrameState, cross_frame_attention


@pytest.fixture
def attn():
    torch.manual_seed(0)
    module = Attention(query_dim=16, heads=2, dim_head=8)
    return module.eval()


def direct_cross_frame(attn: Attention, hidden: torch.Tensor, branches: int) -> torch.Tensor:
    """softmax(Q_f K_0^T / sqrt(d)) V_0 written out per branch, frame and head."""
    batch, tokens, _ = hidden.shape
    frames = batch // branches
    out = torch.empty(batch, tokens, attn.heads * 8)
    for b in range(branches):
        anchor = hidden[b * frames]
        key, value = attn.to_k(anchor), attn.to_v(anchor)
        for f in range(frames):
            query = attn.to_q(hidden[b * frames + f])
            for h in range(attn.heads):
                sl = slice(h * 8, (h + 1) * 8)
                weights = torch.softmax(query[:, sl] @ key[:, sl].T / 8**0.5, dim=-1)
                out[b * frames + f, :, sl] = weights @ value[:, sl]
    return attn.to_out[0](out)


@torch.no_grad()
@pytest.mark.parametrize("branches", [1, 2, 3])
def test_processor_equals_direct_computation_from_the_anchor(attn, branches):
    hidden = torch.randn(branches * 4, 6, 16)
    processor = CrossFrameAttnProcessor(CrossFrameState(num_branches=branches))
    got = processor(attn, hidden)
    torch.testing.assert_close(got, direct_cross_frame(attn, hidden, branches), atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_recorded_anchor_replays_to_later_chunks(attn):
    branches, frames = 2, 5
    hidden = torch.randn(branches * frames, 6, 16)
    state = CrossFrameState(num_branches=branches)
    processor = CrossFrameAttnProcessor(state)
    full = processor(attn, hidden).view(branches, frames, 6, -1)

    grouped = hidden.view(branches, frames, 6, 16)
    state.anchor_in_batch = True
    first = processor(attn, grouped[:, :2].reshape(-1, 6, 16)).view(branches, 2, 6, -1)
    state.anchor_in_batch = False
    rest = processor(attn, grouped[:, 2:].reshape(-1, 6, 16)).view(branches, 3, 6, -1)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), full, atol=1e-6, rtol=1e-6)


def test_replay_without_a_recorded_anchor_is_an_error(attn):
    state = CrossFrameState(num_branches=1, anchor_in_batch=False)
    with pytest.raises(RuntimeError, match="anchor"):
        CrossFrameAttnProcessor(state)(attn, torch.randn(2, 6, 16))


def test_processors_are_installed_on_self_attention_only_and_restored(t2v_pipe):
    unet = t2v_pipe.unet
    before = dict(unet.attn_processors)
    with cross_frame_attention(unet, num_branches=2):
        installed = unet.attn_processors
        for name, processor in installed.items():
            expected = CrossFrameAttnProcessor if name.endswith("attn1.processor") else type(before[name])
            assert isinstance(processor, expected), name
        # Each layer keeps its own anchor slot.
        cross = [p for p in installed.values() if isinstance(p, CrossFrameAttnProcessor)]
        assert len({id(p) for p in cross}) == len(cross) > 1
    assert unet.attn_processors == before


def test_processors_are_restored_when_the_call_fails(t2v_pipe):
    unet = t2v_pipe.unet
    before = dict(unet.attn_processors)
    with pytest.raises(KeyError), cross_frame_attention(unet, num_branches=1):
        raise KeyError("boom")
    assert unet.attn_processors == before
    assert all(isinstance(p, AttnProcessor2_0) for p in before.values())
