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

STEP = 16  # px per frame the synthetic camera pans
OPTIONS = [dict(flow_fusion=0.5), dict(frame_smoother=True), dict(flow_fusion=1.0, frame_smoother=True)]


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
@pytest.fixture(scope="module")
def pipes(tiny_models):
    base = TextToVideoZeroPipeline.from_pretrained(tiny_models["sd"])
    controlnet = ControlNetModel.from_pretrained(tiny_models["controlnet-canny"])
    made = {
        "text2video": base,
        "guided": ControlNetVideoPipeline(**base.components, controlnet=controlnet),
        "pix2pix": InstructPix2PixVideoPipeline.from_pretrained(tiny_models["pix2pix"]),
    }
    for pipe in made.values():
        pipe.set_progress_bar_config(disable=True)
    return made


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
    outputs = [run(pipes, mode, panning, **options) for options in OPTIONS]
    for output in outputs:
        assert not torch.equal(output, today)
    assert not torch.equal(outputs[0], outputs[1])


@pytest.mark.parametrize("mode", ["text2video", "guided", "pix2pix"])
def test_chunked_equals_unchunked_with_every_option_on(pipes, panning, mode):
    whole = run(pipes, mode, panning, flow_fusion=0.7, frame_smoother=True)
    for chunk_size in (1, 2, 3):
        chunked = run(pipes, mode, panning, flow_fusion=0.7, frame_smoother=True, chunk_size=chunk_size)
        assert torch.allclose(chunked, whole, atol=1e-5), (chunk_size, (chunked - whole).abs().max())


def test_the_pipelines_refuse_values_out_of_range(pipes, panning):
    for bad in (dict(flow_fusion=1.5), dict(flow_fusion=-0.1), dict(frame_smoother="yes"), dict(flow_fusion=True)):
        with pytest.raises(ValueError, match="flow_fusion|frame_smoother"):
            run(pipes, "text2video", panning, **bad)


def test_coherence_off_gives_no_refinement():
    assert Coherence().refiner(still_flow(4), 10) is None
    assert Coherence(flow_fusion=0.5).refiner(still_flow(1), 10) is None  # one frame: nothing to follow
