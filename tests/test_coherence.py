"""Flow-guided fusion and the interleaved-frame smoother: the flow they follow (an input video's, the camera's),
what each changes, off bitwise, and chunked output equal to unchunked in every SD mode."""

import numpy as np
import pytest
import torch
from diffusers import ControlNetModel, DDIMScheduler, EulerAncestralDiscreteScheduler
from skimage import data

from pipelines import ControlNetVideoPipeline, InstructPix2PixVideoPipeline, TextToVideoZeroPipeline
from pipelines.coherence import Coherence, clean_map, fuse, smooth, smoother_steps
from pipelines.flow import FrameFlow, camera_flow, video_flow, warp
from pipelines.motion import CameraMotion, warp_anchor_latent
from pipelines.token_merging import Merge, merge_window, window_chunk

STEP = 16  # px per frame the synthetic camera pans
OPTIONS = [
    dict(flow_fusion=0.5),
    dict(frame_smoother=True),
    dict(vidtome_local=0.9),
    dict(vidtome_global=0.5),
    dict(flow_fusion=1.0, frame_smoother=True, vidtome_local=0.5, vidtome_global=0.5),
]
EVERY_OPTION = dict(flow_fusion=0.7, frame_smoother=True, vidtome_local=0.9, vidtome_global=0.8)


@pytest.fixture(scope="module")
def panning():
    """A photograph panned right by STEP px per frame: frame k shows photo[x + STEP k] at x."""
    photo = data.astronaut()
    return np.stack([photo[100:228, 60 + STEP * k : 60 + STEP * k + 128] for k in range(5)])


def cells(frames: np.ndarray, size: int = 16) -> torch.Tensor:
    tensor = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    return torch.nn.functional.interpolate(tensor, size=(size, size), mode="area")


# ------------------------------------------------------------------------------------------------------ flow
def test_the_video_flow_moves_each_frame_onto_its_neighbour_and_masks_exactly_the_revealed_strip(panning):
    flow = video_flow(panning, (16, 16))
    strip = STEP * 16 // 128  # cells the camera reveals per frame
    picture = cells(panning)
    for k in range(1, len(panning)):
        hidden = flow.valid_previous[k, 0] == 0
        assert flow.to_previous[k, 0][~hidden].mean().item() == pytest.approx(strip, abs=0.05)
        assert flow.to_previous[k, 1][~hidden].abs().max().item() < 0.25  # DIS, to 2 px at the border
        assert hidden[:, -strip:].all() and not hidden[:, :-strip].any()  # exactly the strip entering on the right
        moved = warp(picture[k - 1 : k], flow.to_previous[k : k + 1])[0]
        inner = (slice(None), slice(1, -1), slice(1, 16 - strip - 1))  # away from the borders
        assert (moved - picture[k])[inner].abs().mean() < 0.01 < (picture[k - 1] - picture[k])[inner].abs().mean()
    for k in range(len(panning) - 1):
        hidden = flow.valid_next[k, 0] == 0
        assert hidden[:, :strip].all() and not hidden[:, strip:].any()  # what leaves on the left
    assert flow.valid_previous[0].sum() == 0 and flow.valid_next[-1].sum() == 0


def test_the_camera_flow_is_the_motion_field_and_masks_the_strip_it_reveals():
    anchor = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    motion = CameraMotion(strength_x=64, strength_y=-32)  # 2 cells right, 1 up per frame at 16 cells
    frames = warp_anchor_latent(anchor, list(range(4)), motion=motion)
    flow = camera_flow(motion, 4, (16, 16))
    for k in range(1, 4):
        assert torch.equal(flow.to_previous[k, 0], torch.full((16, 16), 2.0))
        assert torch.equal(flow.to_previous[k, 1], torch.full((16, 16), -1.0))
        valid = flow.valid_previous[k, 0] == 1
        moved = warp(frames[k - 1 : k], flow.to_previous[k : k + 1])[0]
        assert torch.allclose(moved[:, valid], frames[k][:, valid], atol=1e-6)  # exact wherever it is valid
        # Frame k shows the anchor moved 2k cells left and k down: what came in from outside (mirrored noise, free
        # content once denoised) is no frame's real content, the rest is seen in frame k-1.
        revealed = torch.zeros(16, 16, dtype=torch.bool)
        revealed[:k], revealed[:, 16 - 2 * k :] = True, True
        assert torch.equal(~valid, revealed)


def test_a_zoom_s_flow_points_to_the_centre_and_a_zoom_out_reveals_the_border():
    closer = camera_flow(CameraMotion(zoom=0.1), 3, (16, 16))
    assert closer.to_previous[1, 0, 8, 0] > 0 > closer.to_previous[1, 0, 8, -1]  # the left edge came from inside
    assert closer.valid_previous[1].all()
    away = camera_flow(CameraMotion(zoom=-0.2), 3, (16, 16))
    assert not away.valid_previous[2, 0, :, 0].any() and away.valid_previous[2, 0, 8, 8] == 1


# ------------------------------------------------------------------------------------------ fusion, smoother
def still_flow(frames: int, size: int = 8) -> FrameFlow:
    zeros, ones = torch.zeros(frames, 2, size, size), torch.ones(frames, 1, size, size)
    first, last = ones.clone(), ones.clone()
    first[0], last[-1] = 0, 0
    return FrameFlow(zeros, zeros.clone(), first, last)


def test_the_smoother_changes_only_the_interleaved_frames_to_their_neighbours_mean():
    estimate = torch.randn(6, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    flow = still_flow(6)
    odd, even = smooth(estimate, flow, 1), smooth(estimate, flow, 2)
    for k in range(6):
        changed_odd, changed_even = not torch.equal(odd[k], estimate[k]), not torch.equal(even[k], estimate[k])
        assert changed_odd == (k in (1, 3)) and changed_even == (k in (2, 4))  # frame 0 and the last kept
    assert torch.allclose(odd[3], (estimate[2] + estimate[4]) / 2)
    assert smoother_steps(50) == (19, 20) and smoother_steps(4) == (2, 3) and smoother_steps(1) == (0,)


def test_fusion_pulls_each_frame_toward_its_fused_predecessor_only_where_it_is_seen():
    estimate = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    flow = still_flow(4)
    flow.valid_previous[2, :, :, :4] = 0  # occluded on the left half
    assert torch.equal(fuse(estimate, flow, 0.0), estimate)
    full = fuse(estimate, flow, 1.0)
    close = dict(atol=1e-6)
    assert torch.allclose(full[1], estimate[0], **close) and torch.allclose(
        full[2][..., 4:], estimate[0][..., 4:], **close
    )
    assert torch.equal(full[2][..., :4], estimate[2][..., :4])
    half = fuse(estimate, flow, 0.5)
    assert torch.allclose(half[1], (estimate[0] + estimate[1]) / 2)


@pytest.mark.parametrize("scheduler_class", [DDIMScheduler, EulerAncestralDiscreteScheduler])
@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
def test_the_clean_estimate_map_is_the_scheduler_s_own(scheduler_class, kind):
    unclipped = {"clip_sample": False} if scheduler_class is DDIMScheduler else {}  # as SD's configurations
    scheduler = scheduler_class(prediction_type=kind, **unclipped)
    scheduler.set_timesteps(10)
    t = scheduler.timesteps[0]
    sample, prediction = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    scheduler.scale_model_input(sample, t)  # as the loop does first (Euler's step index set)
    a, b = clean_map(scheduler, t, sample)
    own = scheduler.step(prediction, t, sample, generator=torch.Generator().manual_seed(0)).pred_original_sample
    assert torch.allclose(a * sample + b * prediction, own, atol=1e-5)


# ------------------------------------------------------------------------------------------ the three pipelines
def three_pipes(tiny_models, dtype=torch.float32) -> dict:
    base = TextToVideoZeroPipeline.from_pretrained(tiny_models["sd"], dtype=dtype)
    controlnet = ControlNetModel.from_pretrained(tiny_models["controlnet-canny"], dtype=dtype)
    made = {
        "text2video": base,
        "guided": ControlNetVideoPipeline(**base.components, controlnet=controlnet),
        "pix2pix": InstructPix2PixVideoPipeline.from_pretrained(tiny_models["pix2pix"], dtype=dtype),
    }
    for pipe in made.values():
        pipe.set_progress_bar_config(disable=True)
    return made


@pytest.fixture(scope="module")
def pipes(tiny_models):
    return three_pipes(tiny_models)


def run(pipes, mode: str, video: np.ndarray, **kwargs) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    small = video[:, ::2, ::2]  # 64 x 64
    if mode == "text2video":
        args = dict(video_length=5, height=64, width=64, num_inference_steps=8, motion_field_strength_x=64)
        return pipes[mode]("a horse", generator=generator, output_type="latent", **args, **kwargs).frames
    if mode == "guided":
        edges = (small > 128).astype(np.uint8) * 255
        args = dict(motion_frames=small, num_inference_steps=8)
        return pipes[mode]("a horse", edges, generator=generator, output_type="latent", **args, **kwargs).frames
    return pipes[mode](
        "night", small, generator=generator, output_type="latent", num_inference_steps=8, **kwargs
    ).frames


@pytest.mark.parametrize("mode", ["text2video", "guided", "pix2pix"])
def test_off_is_today_s_output_bitwise_and_each_option_changes_it(pipes, panning, mode):
    today = run(pipes, mode, panning)
    assert torch.equal(run(pipes, mode, panning, flow_fusion=0.0, frame_smoother=False), today)
    off = dict(flow_fusion=0.0, frame_smoother=False, vidtome_local=0.0, vidtome_global=0.0)
    assert torch.equal(run(pipes, mode, panning, **off), today)
    outputs = [run(pipes, mode, panning, **options) for options in OPTIONS]
    for options, output in zip(OPTIONS, outputs, strict=True):
        assert (output - today).abs().max() > 1e-3, options
    for first in range(len(outputs)):
        for second in range(first):
            assert not torch.equal(outputs[first], outputs[second])


@pytest.mark.parametrize("mode", ["text2video", "guided", "pix2pix"])
def test_chunked_equals_unchunked_with_the_flow_options(pipes, panning, mode):
    options = dict(flow_fusion=0.7, frame_smoother=True)
    whole = run(pipes, mode, panning, **options)
    for chunk_size in (1, 2, 3):
        chunked = run(pipes, mode, panning, **options, chunk_size=chunk_size)
        assert torch.allclose(chunked, whole, atol=1e-5), (chunk_size, (chunked - whole).abs().max())


@pytest.mark.parametrize("mode", ["text2video", "guided", "pix2pix"])
def test_chunked_equals_unchunked_in_float64_with_every_option_on(tiny_models, panning, mode):
    """Token merging picks discrete matches: in float32 a chunk's rounding can swap two near-equal ones, so its
    chunk invariance is proved where the engine proves it exactly, in float64."""
    pipes = three_pipes(tiny_models, torch.float64)
    whole = run(pipes, mode, panning, **EVERY_OPTION)
    for chunk_size in (1, 2, 3):
        chunked = run(pipes, mode, panning, **EVERY_OPTION, chunk_size=chunk_size)
        assert torch.allclose(chunked, whole, atol=1e-10), (chunk_size, (chunked - whole).abs().max())


def test_the_pipelines_refuse_values_out_of_range(pipes, panning):
    bad_values = (
        dict(flow_fusion=1.5),
        dict(flow_fusion=-0.1),
        dict(frame_smoother="yes"),
        dict(flow_fusion=True),
        dict(vidtome_local=0.95),
        dict(vidtome_global=-1),
        dict(vidtome_local="half"),
    )
    for bad in bad_values:
        with pytest.raises(ValueError, match=next(iter(bad))):
            run(pipes, "text2video", panning, **bad)


def test_coherence_off_gives_no_refinement():
    assert Coherence().refiner(still_flow(4), 10) is None
    assert Coherence(flow_fusion=0.5).refiner(still_flow(1), 10) is None  # one frame: nothing to follow


# ------------------------------------------------------------------------------------- token merging (VidToMe)
def test_merged_tokens_come_out_identical_and_the_count_drops_by_the_ratio():
    generator = torch.Generator().manual_seed(0)
    window = torch.randn(2, 4, 16, 8, generator=generator)  # (branches, frames, tokens, channels)
    window[:, 0, :5] = window[:, 2, :5] + 0.01 * torch.randn(2, 5, 8, generator=generator)  # near copies of frame 2
    merged, unmerge = merge_window(window, 0.5)
    sources = 3 * 16
    assert merged.shape == (2, 4 * 16 - int(0.5 * sources), 8)  # the count reduced by the ratio of the sources
    out = unmerge(merged)  # attention as the identity: each token gets its merged token back
    assert out.shape == window.shape
    identical = [(f, t) for f in (0, 1, 3) for t in range(16) if torch.equal(out[0, f, t], out[0, 2, t])]
    assert {(0, t) for t in range(5)} <= set(identical)  # the near copies merged into their match
    for frame in (0, 1, 3):  # every merged source equals the destination token it was merged into
        same_as_some_middle = [any(torch.equal(out[0, frame, t], out[0, 2, u]) for u in range(16)) for t in range(16)]
        kept = [torch.equal(out[0, frame, t], window[0, frame, t]) for t in range(16)]
        assert all(a or b for a, b in zip(same_as_some_middle, kept, strict=True))
    assert sum(not torch.equal(out[0, f, t], window[0, f, t]) for f in (0, 1, 3) for t in range(16)) == sources // 2
    nothing, unmerge_nothing = merge_window(window, 0.0)
    assert nothing.shape[1] == 4 * 16 and torch.equal(unmerge_nothing(nothing), window)


def test_a_merge_averages_sources_into_their_destination():
    sources = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]]])
    destinations = torch.tensor([[[1.0, 0.05], [0.0, 2.0]]])
    merge = Merge.match(sources, destinations, 2 / 3)
    joined = merge.apply(sources, destinations)
    assert joined.shape == (1, 3, 2)  # one source kept, two destinations
    assert sorted(merge.merged[0].tolist()) == [0, 1]  # the two most similar sources (cosine 0.999 and 1.0)
    assert torch.allclose(joined[0, 1], (sources[0, 0] + destinations[0, 0]) / 2)
    assert torch.allclose(joined[0, 2], (sources[0, 1] + destinations[0, 1]) / 2)
    back, _ = merge.unmerge(joined, 3)
    assert torch.equal(back[0, 0], joined[0, 1]) and torch.equal(back[0, 2], sources[0, 2])


def test_chunks_hold_whole_windows_when_frames_merge():
    assert [window_chunk(size) for size in (1, 2, 3, 4, 5, 8)] == [4, 4, 4, 4, 8, 8]


def test_the_guided_pipeline_refuses_motion_frames_that_do_not_match_its_condition(pipes, panning):
    edges = (panning[:, ::2, ::2] > 128).astype(np.uint8) * 255
    with pytest.raises(ValueError, match="one frame per condition frame"):
        pipes["guided"]("a horse", edges, motion_frames=panning[:3, ::2, ::2], num_inference_steps=2, flow_fusion=0.5)
