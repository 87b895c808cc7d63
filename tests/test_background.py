"""Background smoothing: the blend exactly, masks from the UNet's own cross-attention maps on the tiny models, and
MediaPipe's person segmentation on a real photograph."""

from __future__ import annotations

import pytest
import torch
from skimage import data

from errors import InputError
from model import Model
from pipelines.background import normalised_masks, person_masks, smooth_background
from pipelines.motion import CameraMotion, warp_latent
from settings import Settings

RUN = dict(prompt="a cat on a sofa", video_length=4, height=64, width=64, num_inference_steps=5, output_type="latent")


def test_the_blend_is_the_formula():
    torch.manual_seed(0)
    latents, masks = torch.randn(4, 4, 8, 8), (torch.rand(4, 8, 8) > 0.5).float()
    camera, strength = CameraMotion(16, 0), 0.3
    out = smooth_background(latents, masks, strength, camera)
    assert torch.equal(out[0], latents[0])  # the anchor stays
    for k in range(1, 4):
        reference = warp_latent(latents[0], camera, k)
        m = masks[k]
        expected = m * latents[k] + (1 - m) * (strength * reference + (1 - strength) * latents[k])
        torch.testing.assert_close(out[k], expected, rtol=0, atol=0)
    assert torch.equal(smooth_background(latents, torch.ones(4, 8, 8), 1.0, camera), latents)  # all foreground
    everything = smooth_background(latents, torch.zeros(4, 8, 8), 1.0, camera)  # all background, strength 1
    assert torch.equal(everything[2], warp_latent(latents[0], camera, 2))


def test_attention_maps_make_masks_and_chunking_changes_nothing(t2v_pipe, monkeypatch):
    import pipelines.text_to_video_zero as t2v

    pipe = type(t2v_pipe)(**t2v_pipe.components)

    def run(**options):
        return pipe(**RUN, generator=torch.Generator().manual_seed(0), **options).frames

    seen = []

    def spy(latents, masks, strength, camera=None):
        seen.append(masks)
        return smooth_background(latents, masks, strength, camera)

    monkeypatch.setattr(t2v, "smooth_background", spy)
    smoothed = run(smooth_bg=True, smooth_bg_strength=0.8)
    plain = run()
    masks = seen[-1]
    assert masks.shape == (4, 8, 8) and set(masks.unique().tolist()) <= {0.0, 1.0}
    assert 0 < masks.mean() < 1  # some foreground, some background
    torch.testing.assert_close(smoothed[0], plain[0])  # the anchor's own trajectory
    assert (smoothed[1:] - plain[1:]).abs().max() > 1e-4
    chunked = run(smooth_bg=True, smooth_bg_strength=0.8, chunk_size=2)
    torch.testing.assert_close(chunked, smoothed, rtol=0, atol=1e-5)


def test_normalised_masks_threshold_each_frame_on_its_own_range():
    maps = torch.tensor([[[0.0, 1.0], [0.5, 0.2]], [[10.0, 20.0], [15.0, 11.0]]])
    assert normalised_masks(maps, 0.4).tolist() == [[[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]]


def test_the_person_mask_covers_the_astronaut():
    pytest.importorskip("mediapipe", reason="MediaPipe is not installed (requirements-mediapipe.txt)")
    photo = data.astronaut()  # 512 x 512: the astronaut in the middle, a flag and a shuttle behind her
    mask = person_masks(photo[None])[0]
    assert mask.shape == (512, 512)
    assert mask[80:200, 150:250].mean() > 0.8 and mask[250:500, 150:350].mean() > 0.9  # face and suit
    assert mask[:100, :100].mean() < 0.1  # the background at the top left


def test_the_model_smooths_backgrounds_with_either_mask(tiny_models):
    model = Model(settings=Settings.from_env().with_tiny_models())
    fast = dict(resolution=64, video_length=3, num_inference_steps=3)
    assert model.text2video("a cat", smooth_bg=True, **fast).path
    pytest.importorskip("mediapipe", reason="MediaPipe is not installed (requirements-mediapipe.txt)")
    assert model.text2video("a dancer", smooth_bg=True, smooth_bg_mask="person", **fast).path
    with pytest.raises(InputError, match="Background mask must be one of attention, person"):
        model.text2video("a cat", smooth_bg=True, smooth_bg_mask="saliency", **fast)
    with pytest.raises(InputError, match="Background smoothing strength"):
        model.text2video("a cat", smooth_bg=True, smooth_bg_strength=3, **fast)
