import torch

from pipelines.motion import motion_shift, reflect_indices, translate_latent, warp_anchor_latent


def test_motion_shift_is_in_pixels_of_a_512_frame_scaled_to_the_latent():
    # 512 px -> 64 latent cells: 12 px is 1.5 cells, which rounds half up to 2; frame 2 moves 3 cells.
    assert motion_shift(12, 1, 64) == 2
    assert motion_shift(12, 2, 64) == 3
    # 256 px -> 32 cells: the same motion is half as many cells.
    assert motion_shift(12, 2, 32) == 2
    assert motion_shift(-12, 2, 64) == -3
    assert motion_shift(12, 0, 64) == 0


def test_reflect_indices_repeats_the_edge_cell():
    idx = torch.tensor([-3, -2, -1, 0, 4, 5, 6, 7])
    assert reflect_indices(idx, 5).tolist() == [2, 1, 0, 0, 4, 4, 3, 2]


def test_translate_moves_whole_cells_exactly_and_keeps_values():
    latent = torch.randn(4, 8, 10)
    out = translate_latent(latent, shift_x=3, shift_y=-2)
    # Interior: out[y, x] = latent[y - 2, x + 3] exactly (no interpolation).
    assert torch.equal(out[:, 2:, :7], latent[:, :6, 3:])
    # Borders are mirrored copies: every output value is an input value of the same channel.
    for c in range(4):
        assert set(out[c].flatten().tolist()) <= set(latent[c].flatten().tolist())
    assert torch.equal(out[:, 1, :7], latent[:, 0, 3:])  # row -1 reflects to row 0
    assert torch.equal(out[:, 2:, 7], latent[:, :6, 9])  # column 10 reflects to column 9


def test_warp_translates_frame_k_by_k_times_the_strength():
    anchor = torch.randn(1, 4, 16, 16)
    warped = warp_anchor_latent(anchor, [0, 1, 2], strength_x=32, strength_y=0)  # 1 cell per frame at 16 cells
    assert warped.shape == (3, 4, 16, 16)
    assert torch.equal(warped[0], anchor[0])
    assert torch.equal(warped[1][:, :, :15], anchor[0][:, :, 1:])
    assert torch.equal(warped[2][:, :, :14], anchor[0][:, :, 2:])
    # Whole-cell copies keep the noise statistics (a blur would shrink the variance).
    noise = torch.randn(1, 4, 64, 64)
    moved = warp_anchor_latent(noise, [3], 12, 12)
    assert abs(moved.std().item() - noise.std().item()) < 0.05
