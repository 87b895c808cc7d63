"""Camera motion beyond the paper's translation: zoom, rotation and free paths as nearest-cell warps of the noisy
anchor latent (the noise keeps its statistics), and the paper's ablation without motion field."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from errors import InputError
from model import Model
from pipelines.motion import (
    CameraMotion,
    motion_shift,
    source_cells,
    translate_latent,
    warp_anchor_latent,
    warp_latent,
)
from pipelines.options import camera_path as motion_path
from settings import Settings

RUN = dict(prompt="a cat", video_length=4, height=64, width=64, num_inference_steps=4, output_type="latent")


def noise(size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 4, size, size, generator=torch.Generator().manual_seed(seed))


def test_a_path_of_steady_offsets_is_the_paper_s_translation():
    anchor = noise()
    path = tuple((12.0 * k, -7.0 * k) for k in range(6))
    by_path = warp_anchor_latent(anchor, list(range(1, 6)), motion=CameraMotion(path=path))
    by_strength = warp_anchor_latent(anchor, list(range(1, 6)), 12, -7)
    assert torch.equal(by_path, by_strength)
    # The general warp with no zoom or rotation shifts whole cells as the paper's motion does.
    rows, cols = source_cells(CameraMotion(path=path), 3, 64, 64)
    shift = motion_shift(12, 3, 64), motion_shift(-7, 3, 64)  # 4.5 -> 5 cells, -2.625 -> -3 (half rounds up)
    assert shift == (5, -3) and torch.equal(anchor[0][:, rows, cols], translate_latent(anchor[0], *shift))


@pytest.mark.parametrize(
    "motion",
    [CameraMotion(zoom=0.05), CameraMotion(zoom=-0.05), CameraMotion(rotation=10), CameraMotion(12, 0, 0.03, -5)],
)
def test_every_frame_keeps_unit_variance_and_copies_cells(motion):
    """Nearest cells, never a blend: each output value is one of the anchor's, and the noise keeps its variance."""
    anchor = noise()
    values = set(anchor.flatten().tolist())
    for frame in (1, 4, 7):
        warped = warp_latent(anchor[0], motion, frame)
        assert set(warped.flatten().tolist()) <= values
        assert abs(warped.var().item() - 1) < 0.1 and abs(warped.mean().item()) < 0.1


def test_zoom_maps_cells_where_the_geometry_says():
    motion = CameraMotion(zoom=0.25)  # frame 2: 1.5625 x closer
    rows, cols = source_cells(motion, 2, 33, 33)
    assert (rows[16, 16], cols[16, 16]) == (16, 16)  # the centre stays
    # Output cell 10 right of the centre shows the anchor's cell 10 / 1.5625 = 6.4 -> 6 right of it.
    assert (rows[16, 26], cols[16, 26]) == (16, 22)
    # Zooming in duplicates cells (coarser noise), zooming out drops them.
    assert len(set(cols[16].tolist())) < 33
    out_rows, out_cols = source_cells(CameraMotion(zoom=-0.2), 2, 33, 33)
    assert (out_rows[16, 26], out_cols[16, 26]) == (16, 16 + round(10 / 0.64))


def test_rotation_turns_cells_counter_clockwise_about_the_centre():
    rows, cols = source_cells(CameraMotion(rotation=45), 2, 33, 33)  # 90 degrees at frame 2
    # What was 8 cells right of the centre is now 8 cells above it (rows grow downwards).
    assert (rows[16 - 8, 16], cols[16 - 8, 16]) == (16, 16 + 8)
    assert (rows[16, 16], cols[16, 16]) == (16, 16)


def test_the_pipeline_moves_the_frames_by_the_camera_and_keeps_the_anchor(t2v_pipe):
    pipe = type(t2v_pipe)(**t2v_pipe.components)

    def run(**camera):
        return pipe(**RUN, generator=torch.Generator().manual_seed(0), **camera).frames

    pan = run(motion_field_strength_x=12, motion_field_strength_y=12)
    for camera in (dict(motion_zoom=0.1), dict(motion_rotation=15), dict(motion_path=[(0, 0), (40, 0), (80, 40)])):
        moved = run(**camera)
        torch.testing.assert_close(moved[0], pan[0])  # the anchor's trajectory does not depend on the camera
        assert (moved[1:] - pan[1:]).abs().max() > 1e-3


def test_without_motion_field_each_frame_starts_from_its_own_noise(t2v_pipe):
    """The paper's ablation: no motion-field latents at all, so the motion strengths do not matter; zero motion
    (the anchor's own latent for every frame) stays reachable through the strengths."""
    pipe = type(t2v_pipe)(**t2v_pipe.components)

    def run(**options):
        return pipe(**RUN, generator=torch.Generator().manual_seed(0), **options).frames

    independent = run(use_motion_field=False, motion_field_strength_x=12)
    assert torch.equal(independent, run(use_motion_field=False, motion_field_strength_x=-30))
    still = run(motion_field_strength_x=0, motion_field_strength_y=0)
    assert (independent[1:] - still[1:]).abs().max() > 1e-3


def test_camera_paths_as_text_or_pairs_and_bad_ones_named():
    assert motion_path("0,0; 8, 0 ;16,4") == ((0, 0), (8, 0), (16, 4))
    assert motion_path([[0, 0], [1.5, -2]]) == ((0, 0), (1.5, -2))
    assert motion_path("") is None and motion_path(None) is None
    for bad in ("0,0; 8", "a,b", [[0, 0, 1]], [], "nan,0", [[1e9, 0]]):
        with pytest.raises(InputError, match="Camera path must be"):
            motion_path(bad)


def test_the_model_takes_the_camera(tiny_models):
    model = Model(settings=Settings.from_env().with_tiny_models())
    fast = dict(resolution=64, video_length=3, num_inference_steps=3)
    assert model.text2video("a cat", motion_zoom=0.05, motion_rotation=5, motion_path="0,0; 16,0", **fast).path
    with pytest.raises(InputError, match="Zoom per frame"):
        model.text2video("a cat", motion_zoom=0.9, **fast)
    with pytest.raises(InputError, match="Rotation per frame"):
        model.text2video("a cat", motion_rotation="left", **fast)


def test_camera_presets_set_the_sliders():
    from tabs.text2video import CAMERA_PRESETS, camera_motion

    values = [update["value"] for update in camera_motion("Diagonal pan (the paper's)", 5)]
    assert values == [12, 12, 0.0, 0.0]  # the paper's default motion
    assert [u["value"] for u in camera_motion("Zoom out", 4)] == [0, 0, -0.04, 0.0]
    assert [u["value"] for u in camera_motion("Rotate right", 2)] == [0, 0, 0.0, -2.0]
    assert len(CAMERA_PRESETS) >= 9 and np.isfinite([v for p in CAMERA_PRESETS.values() for v in p]).all()


def test_the_coherence_bench_s_warp_error_is_zero_on_a_clip_that_follows_the_camera_exactly():
    import numpy as np
    from skimage import data

    from bench.coherence import adjacent_difference, camera_maps, input_video, warp_error
    from pipelines.motion import motion_shift

    photo = data.astronaut().astype(np.float32) / 255  # 512 x 512
    size, strength = 128, 24.0
    shifts = [(motion_shift(strength, k, size // 8) * 8) for k in range(6)]
    clip = np.stack([photo[s : s + size, s : s + size] for s in shifts])  # frame k shows the photo at p + shift_k
    maps = camera_maps(6, size, strength)
    assert warp_error(clip, maps) == 0 and adjacent_difference(clip) > 0.01
    still = np.stack([photo[:size, :size]] * 6)
    assert warp_error(still, maps) > 0.01  # a clip that does not follow the camera has an error
    # The video modes' input: a photograph panned and zoomed by known maps, which its own frames follow.
    video, maps = input_video(6, 128, pan=12.0, zoom=0.02)
    frames = video.astype(np.float32) / 255
    assert warp_error(frames, maps) < 0.02 < adjacent_difference(frames)
    assert warp_error(frames[::-1].copy(), maps) > 0.05  # played backwards it does not follow them
