"""FreeInit for text-to-video: off is the method as published, bit for bit; on, the all-frames phase runs again from
the last clip noised back to T with its low frequencies kept (diffusers' filters)."""

import re

import pytest
import torch

from errors import InputError
from pipelines.free_init import FILTERS, low_pass

RUN = dict(video_length=5, height=64, width=64, num_inference_steps=8, t0=5, t1=7, output_type="latent")


def latents(pipe, seed: int = 0, **kwargs) -> torch.Tensor:
    return pipe("a horse galloping", generator=torch.Generator().manual_seed(seed), **RUN, **kwargs).frames


def test_off_is_the_published_method_bit_for_bit_and_on_changes_the_clip(t2v_pipe):
    published = latents(t2v_pipe)
    assert torch.equal(latents(t2v_pipe, free_init_iterations=0), published)
    once, twice = latents(t2v_pipe, free_init_iterations=1), latents(t2v_pipe, free_init_iterations=2)
    assert not torch.equal(once, published) and not torch.equal(twice, once)
    assert torch.equal(latents(t2v_pipe, free_init_iterations=1), once)  # seeded: the same clip again


def test_chunked_equals_unchunked_with_free_init(t2v_pipe):
    whole = latents(t2v_pipe, free_init_iterations=1)
    for chunk_size in (1, 2, 3):
        assert torch.allclose(latents(t2v_pipe, free_init_iterations=1, chunk_size=chunk_size), whole, atol=1e-5)


def test_the_filter_passes_the_dc_term_with_gain_one_and_keeps_the_clip_s_mean():
    frames, height, width = 4, 8, 8
    mask = low_pass(frames, height, width, "cpu")
    assert mask.shape == (1, 1, frames, height, width)
    assert mask[0, 0, frames // 2, height // 2, width // 2] == 1  # the DC term, once fftshift has centred it
    assert float(mask.min()) < 0.01  # the highest frequencies are cut
    clip = torch.full((1, 4, frames, height, width), 0.7)
    mixed = FILTERS._apply_freq_filter(clip, torch.randn(clip.shape, generator=torch.Generator().manual_seed(0)), mask)
    assert mixed.mean().item() == pytest.approx(0.7, abs=1e-5)  # the low frequencies, the mean among them, kept


def test_each_pass_shows_on_a_bar_of_its_own(t2v_pipe, capsys):
    t2v_pipe.set_progress_bar_config(disable=False)
    try:
        latents(t2v_pipe, free_init_iterations=2)
    finally:
        t2v_pipe.set_progress_bar_config(disable=True)
    err = capsys.readouterr().err
    steps_from_t = RUN["num_inference_steps"] - (RUN["num_inference_steps"] - 1 - RUN["t1"])
    for n in (1, 2):
        assert re.search(rf"FreeInit pass {n} of 2[^\n\r]*{steps_from_t}/{steps_from_t}", err), err[-2000:]
    assert "8/8" in err  # the user's bar still counts the steps asked for


def test_the_python_api_the_card_and_the_command_line_take_it_and_refuse_what_is_out_of_range(tiny_models, tmp_path):
    from cards import Card
    from cli import main
    from clip_files import sidecar
    from model import Model
    from settings import Settings

    model = Model(settings=Settings.from_env().with_tiny_models())
    fast = dict(resolution=64, video_length=2, num_inference_steps=3)
    made = model.text2video("a kite", free_init_iterations=1, **fast)
    assert Card.read(sidecar(made.path)).parameters["free_init_iterations"] == 1
    for bad in (-1, 6, "many", 1.5):
        with pytest.raises(InputError, match="FreeInit iterations"):
            model.text2video("a kite", free_init_iterations=bad, **fast)
    out = tmp_path / "cli.mp4"
    command = ["--tiny-models", "--quiet", "generate", "text2video", "--prompt", "a kite", "--video-length", "2"]
    assert main([*command, "--resolution", "64", "--free_init_iterations", "1", "--out", str(out)]) == 0
    assert Card.read(sidecar(out)).parameters["free_init_iterations"] == 1
    assert main([*command, "--free_init_iterations", "9", "--out", str(tmp_path / "no.mp4")]) == 2


def test_modelscope_takes_freeinit_as_diffusers_does_and_off_changes_nothing(tiny_models, tmp_path):
    from cards import Card
    from clip_files import sidecar
    from model import Model
    from pipelines.modelscope import ModelScopePipeline
    from settings import Settings

    pipe = ModelScopePipeline.from_pretrained(tiny_models["modelscope"])
    pipe.set_progress_bar_config(disable=True)

    def clip(**kwargs) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        return pipe("a boat", num_frames=4, num_inference_steps=3, generator=generator, output_type="latent", **kwargs)

    plain = clip().frames
    assert torch.equal(clip(free_init_iterations=0).frames, plain)
    assert not torch.equal(clip(free_init_iterations=1).frames, plain)
    with pytest.raises(ValueError, match="FreeInit is for text-to-video"):
        clip(free_init_iterations=1, video=torch.rand(4, 3, 64, 64))
    model = Model(settings=Settings.from_env().with_tiny_models())
    made = model.modelscope("a boat", num_frames=2, num_inference_steps=2, free_init_iterations=1)
    assert Card.read(sidecar(made.path)).parameters["free_init_iterations"] == 1
    with pytest.raises(InputError, match="FreeInit iterations"):
        model.modelscope("a boat", num_frames=2, num_inference_steps=2, free_init_iterations=9)
