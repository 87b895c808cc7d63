"""Sparse-causal cross-frame attention: each frame reads the anchor's and the previous frame's keys/values; in
lockstep chunks the previous frame of a chunk's first frame comes from the previous chunk at the same step."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention_processor import Attention

from errors import InputError
from model import Model
from pipelines.cross_frame_attention import CrossFrameAttnProcessor, CrossFrameState
from settings import Settings
from tabs.guided import example


def attend(hidden: torch.Tensor, chunk: int, mode: str = "sparse-causal") -> torch.Tensor:
    torch.manual_seed(0)
    attn = Attention(query_dim=8, heads=2, dim_head=4).double()
    state = CrossFrameState(num_branches=1, mode=mode)
    attn.set_processor(CrossFrameAttnProcessor(state))
    outputs = []
    for start in range(0, len(hidden), chunk):
        state.anchor_in_batch = start == 0
        outputs.append(attn(hidden[start : start + chunk]))
    return torch.cat(outputs)


def test_each_frame_reads_the_anchor_and_the_frame_before_it():
    hidden = torch.randn(5, 6, 8, dtype=torch.float64)
    changed = hidden.clone()
    changed[2] += 1.0
    before, after = attend(hidden, 5), attend(changed, 5)
    moved = [(after[k] - before[k]).abs().max().item() > 1e-9 for k in range(5)]
    assert moved == [False, False, True, True, False]  # frame 2 itself, and frame 3 that reads it
    anchor_only = attend(changed, 5, "anchor") - attend(hidden, 5, "anchor")
    assert [anchor_only[k].abs().max().item() > 1e-9 for k in range(5)] == [False, False, True, False, False]


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunks_give_what_all_frames_at_once_give(chunk):
    hidden = torch.randn(7, 6, 8, dtype=torch.float64)
    torch.testing.assert_close(attend(hidden, chunk), attend(hidden, 7), rtol=0, atol=1e-12)


def test_the_pipeline_in_float64_does_not_depend_on_the_chunk_size(tiny_models):
    from pipelines import TextToVideoZeroPipeline

    pipe = TextToVideoZeroPipeline.from_pretrained(tiny_models["sd"]).to(torch.float64)
    pipe.set_progress_bar_config(disable=True)
    run = dict(prompt="a cat", video_length=5, height=64, width=64, num_inference_steps=4, output_type="latent")

    def frames(chunk_size, mode="sparse-causal"):
        generator = torch.Generator().manual_seed(0)
        return pipe(**run, chunk_size=chunk_size, cross_frame=mode, generator=generator).frames

    whole = frames(None)
    for chunk_size in (2, 3):
        torch.testing.assert_close(frames(chunk_size), whole, rtol=0, atol=1e-10)
    assert (whole - frames(None, "anchor")).abs().max() > 1e-6  # not the paper's attention


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_every_mode_takes_it_and_other_names_are_refused(tiny_models):
    model = Model(settings=Settings.from_env().with_tiny_models())
    small = dict(resolution=64, num_inference_steps=2, cross_frame="sparse-causal")
    assert model.text2video("a cat", video_length=3, chunk_size=2, **small).path
    assert model.controlnet_canny(example("cat_zoom.mp4"), "a cat", max_frames=3, chunk_size=2, **small).path
    assert model.pix2pix(example("cat_zoom.mp4"), "night", max_frames=3, chunk_size=2, **small).path
    with pytest.raises(InputError, match="Cross-frame attention must be one of anchor, sparse-causal"):
        model.text2video("a cat", cross_frame="causal")
