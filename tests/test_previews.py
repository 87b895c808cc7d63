"""Live previews of a generation (the estimate of the clean latents every few steps, drawn cheaply) and GIF results
shown in the page: the engine's estimate, the two decoders, every mode's plumbing and the page-only wiring."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from diffusers import AutoencoderTiny, DDIMScheduler, DPMSolverMultistepScheduler

from model import Model
from pipelines.preview import SD_LATENT_RGB, latent_rgb, predicted_original, preview_image
from settings import Settings
from tabs.guided import example
from utils.jobs import Job, job_scope

# 4 steps with t0=1, t1=2: the anchor alone for steps 0 (to T) and 1 (to T'), then all frames for steps 2..4.
T2V = dict(model_name="tiny-sd", resolution=64, num_inference_steps=4, t0=1, t1=2, video_length=6)


@pytest.fixture
def model(tiny_models, tmp_path):
    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models(), output_dir=tmp_path / "outputs", preview_every=1
    )
    return Model(settings=settings)


def collect_previews(model: Model, method: str, *args, **kwargs) -> list[np.ndarray]:
    previews: list[np.ndarray] = []
    with job_scope(Job(preview=previews.append)):
        getattr(model, method)(*args, **kwargs)
    return previews


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_the_clean_estimate_is_the_schedulers_own_where_it_has_none(prediction_type):
    """DPM-Solver returns no estimate: the variance-preserving relation gives the one DDIM computes itself."""
    dpm = DPMSolverMultistepScheduler(prediction_type=prediction_type)
    dpm.set_timesteps(10)
    sample, prediction = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    t = dpm.timesteps[3]
    output = dpm.step(prediction, t, sample)
    ddim = DDIMScheduler(prediction_type=prediction_type, clip_sample=False)
    ddim.set_timesteps(10)
    own = ddim.step(prediction, t, sample).pred_original_sample
    assert not hasattr(output, "pred_original_sample")
    torch.testing.assert_close(predicted_original(dpm, output, prediction, t, sample), own)


def test_latent_to_rgb_is_the_published_linear_map():
    latents = torch.zeros(1, 4, 2, 2)
    latents[0, 3] = 1.0  # the fourth channel alone: its row of the map, in [-1, 1] -> [0, 1]
    expected = torch.tensor(SD_LATENT_RGB[0][3]) / 2 + 0.5
    torch.testing.assert_close(latent_rgb(latents)[0, :, 0, 0], expected)
    image = preview_image(torch.zeros(6, 4, 8, 8))
    assert image.shape == (8, 8 * 4, 3) and image.dtype == np.uint8  # at most 4 frames, side by side
    assert preview_image(torch.zeros(1, 4, 3, 8, 8)).shape == (8, 8 * 3, 3)  # a 3-D UNet's (1, C, F, h, w)


def test_text2video_previews_the_anchor_then_the_frames(model):
    previews = collect_previews(model, "text2video", "a cat", **T2V)
    assert [p.shape[1] // p.shape[0] for p in previews] == [1, 1, 4, 4, 4]  # frames side by side, at most 4
    assert all(p.dtype == np.uint8 and p.shape[0] == 64 // 8 for p in previews)
    assert len({p.tobytes() for p in previews}) == len(previews)  # each step's estimate, not one picture resent


@pytest.mark.slow  # text-to-video's own test states it; every other mode in the full suite
@pytest.mark.parametrize(
    "method, args, kwargs",
    [
        ("controlnet_canny", (example("cat_zoom.mp4"), "a cat"), dict(max_frames=2)),
        ("pix2pix", (example("cat_zoom.mp4"), "make it night"), dict(max_frames=2)),
        ("modelscope", ("a cat",), dict(num_frames=3)),
    ],
)
def test_every_mode_previews_each_step(model, method, args, kwargs):
    steps = 3
    size = {} if method == "modelscope" else {"resolution": 64}
    previews = collect_previews(model, method, *args, num_inference_steps=steps, **size, **kwargs)
    assert len(previews) == steps and all(p.ndim == 3 and p.shape[2] == 3 for p in previews)


def test_previews_every_k_steps(model):
    every_third = Model(settings=dataclasses.replace(model.settings, preview_every=3))
    options = {**T2V, "num_inference_steps": 7, "t0": 4, "t1": 5}
    previews = collect_previews(every_third, "text2video", "a cat", **options)
    # Steps numbered 0, 1 (the anchor to T, to T') and 2..7 (all frames): previews at 0, 3 and 6.
    assert [p.shape[1] // p.shape[0] for p in previews] == [1, 4, 4]


def test_no_preview_is_drawn_without_a_page_asking(model, monkeypatch):
    import model as model_module

    def fail(*args, **kwargs):
        raise AssertionError("a preview was drawn")

    monkeypatch.setattr(model_module, "preview_image", fail)
    with job_scope(Job()):
        model.text2video("a cat", **T2V)
    model.text2video("a cat", **T2V)  # and from Python, without any job


def tiny_taesd(folder):
    decoder = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    )
    decoder.save_pretrained(folder)
    return folder


def test_a_configured_taesd_draws_full_size_previews(model, tmp_path):
    taesd = Model(settings=dataclasses.replace(model.settings, preview_decoder=str(tiny_taesd(tmp_path / "taesd"))))
    previews = collect_previews(taesd, "text2video", "a cat", **T2V)
    assert isinstance(taesd.preview_decoder(), AutoencoderTiny)
    # TAESD upsamples by 8: 8x8 latents -> 64x64 pictures, 4 frames side by side.
    assert previews[-1].shape == (64, 64 * 4, 3)


def test_a_preview_decoder_that_cannot_load_falls_back_to_latent_rgb(model, tmp_path, caplog):
    broken = Model(settings=dataclasses.replace(model.settings, preview_decoder=str(tmp_path / "missing")))
    previews = collect_previews(broken, "text2video", "a cat", **T2V)
    assert broken.preview_decoder() is None and previews[-1].shape == (8, 8 * 4, 3)
    assert "Could not load the preview decoder" in caplog.text


def test_the_api_keeps_its_outputs_and_draws_no_preview(tiny_models, tmp_path, monkeypatch):
    """The preview is the page's: an API client gets (video, seed) and costs no preview decoding."""
    from gradio_client import Client

    import model as model_module
    from tabs.results import PREVIEWS
    from tests.helpers import serving

    drawn = []
    monkeypatch.setattr(model_module, "preview_image", lambda *a, **k: drawn.append(1) or np.zeros((1, 1, 3)))
    model = Model(settings=dataclasses.replace(Settings.from_env().with_tiny_models(), output_dir=tmp_path))
    pages_before = dict(PREVIEWS._entries)  # other tests' pages
    with serving(model) as url:
        client = Client(url, verbose=False)
        video, seed = client.predict(prompt="a cat", **T2V, output_format="gif", api_name="/text2video")
    assert not drawn and dict(PREVIEWS._entries).keys() <= pages_before.keys()
    assert str(video["video"] if isinstance(video, dict) else video).endswith(".gif")  # the GIF, not an mp4 of it
    assert seed == 0


def test_the_preview_board_hands_each_picture_once_and_forgets_ended_generations():
    from tabs.results import PreviewBoard

    now = [0.0]
    board = PreviewBoard(limit=2, idle_seconds=30, clock=lambda: now[0])
    key = ("session", "text2video")
    board.post(key, "ignored: nobody asked")
    assert board.take(key) == (None, True)
    board.want(key)
    board.post(key, "first")
    board.post(key, "second")
    assert board.take(key) == ("second", False)
    assert board.take(key) == (None, False)
    board.end(key)
    assert board.take(key) == (None, True) and not board.wanted(key)
    assert board.want(("a", "x")) and board.want(("b", "x"))
    assert not board.want(("c", "x")) and board.wanted(("a", "x"))  # a full board refuses: it evicts no page's entry
    now[0] += 31
    assert board.want(("c", "x")) and not board.wanted(("a", "x"))  # pages that went away do not pile up


def test_small_previews_are_enlarged_pixel_by_pixel_for_the_page():
    from tabs.results import enlarged

    image = np.arange(8 * 32 * 3, dtype=np.uint8).reshape(8, 32, 3)
    big = enlarged(image, height=160)
    assert big.shape == (160, 640, 3) and np.array_equal(big[::20, ::20], image)
    assert enlarged(big, height=160) is big  # large enough already


class LinearVAE(torch.nn.Module):
    """A stand-in video VAE whose latents are a known linear map of the colours each latent covers."""

    def __init__(self, channels: int = 6, ratio: int = 4):
        super().__init__()
        generator = torch.Generator().manual_seed(3)
        self.ratio, self.mixing = ratio, torch.randn(channels, 3, generator=generator)
        self.offset = torch.randn(channels, generator=generator)
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # a device and a dtype, as a VAE has

    @property
    def device(self):
        return self.anchor.device

    @property
    def dtype(self):
        return self.anchor.dtype

    def latents(self, rgb: torch.Tensor) -> torch.Tensor:  # (3, H, W) in [0, 1] -> (C, h, w)
        pooled = torch.nn.functional.avg_pool2d(rgb[None], self.ratio)[0]
        return torch.einsum("rhw,cr->chw", pooled, self.mixing) + self.offset[:, None, None]

    def encode(self, sample: torch.Tensor):  # (1, 3, 1, H, W) in [-1, 1], as diffusers' video VAEs take it
        from types import SimpleNamespace

        latent = self.latents(sample[0, :, 0] / 2 + 0.5)[None, :, None]
        return SimpleNamespace(latent_dist=SimpleNamespace(mode=lambda: latent))


def test_a_fitted_latent_map_recovers_the_colours_a_vae_encodes():
    """`fitted_rgb_map` inverts a VAE whose latents are linear in colour, on a picture it was not fitted on."""
    from pipelines.preview import fitted_rgb_map

    vae = LinearVAE()
    to_rgb = fitted_rgb_map(vae, vae.ratio)
    generator = torch.Generator().manual_seed(11)
    picture = torch.nn.functional.interpolate(torch.rand(1, 3, 5, 5, generator=generator), size=(48, 48))[0]
    shown = to_rgb(vae.latents(picture)[None])[0]
    expected = torch.nn.functional.avg_pool2d(picture[None], vae.ratio)[0]
    assert (shown - expected.clamp(0, 1)).abs().max() < 1e-3
    vae.mixing = vae.mixing * 2  # a fit is kept for the VAE's life: a later map is the first one's
    assert torch.equal(fitted_rgb_map(vae, vae.ratio)(vae.latents(picture)[None]), to_rgb(vae.latents(picture)[None]))
