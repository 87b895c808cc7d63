"""Image-to-video: the user's image, encoded and noised, is the anchor; its strength says how far from it the model
may move the first frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor
from skimage import data

from errors import InputError
from model import Model
from pipelines.text_to_video_zero import image_start_index, image_tensor, motion_step_indices
from settings import Settings

PHOTO = data.astronaut()  # 512 x 512 RGB
RUN = dict(prompt="an astronaut", video_length=3, height=64, width=64, num_inference_steps=10, output_type="latent")


@pytest.fixture
def pipe(t2v_pipe):
    return type(t2v_pipe)(**t2v_pipe.components)


def test_at_strength_zero_the_anchor_at_t_prime_is_the_noised_encoding(pipe, monkeypatch):
    seen = []
    original = pipe.forward_noise
    monkeypatch.setattr(pipe, "forward_noise", lambda latents, *args: seen.append(latents) or original(latents, *args))
    pipe(**RUN, image=PHOTO, image_strength=0.0, generator=torch.Generator().manual_seed(0))
    scheduler = pipe.fresh_scheduler(RUN["num_inference_steps"], "cpu")
    _, index_t_prime = motion_step_indices(scheduler.timesteps)
    encoded = pipe.encode_video(image_tensor(PHOTO, 64, 64, "cpu", torch.float32))
    noise = randn_tensor(encoded.shape, generator=torch.Generator().manual_seed(0))
    expected = scheduler.add_noise(encoded, noise, scheduler.timesteps[index_t_prime : index_t_prime + 1])
    assert torch.equal(seen[0][0], expected[0])  # frame 0 of the moved frames: the anchor itself


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_the_first_frame_stays_closer_to_the_image_as_strength_falls(pipe):
    encoded = pipe.encode_video(image_tensor(PHOTO, 64, 64, "cpu", torch.float32))[0]
    # T and T' late in the schedule (t0=2, t1=3 of 10 steps), so that the image shows through.
    distances = []
    for strength in (0.0, 0.5, 1.0):
        runs = [
            pipe(
                **RUN, image=PHOTO, image_strength=strength, t0=2, t1=3, generator=torch.Generator().manual_seed(s)
            ).frames[0]
            for s in range(3)
        ]
        distances.append(float(np.mean([(frame - encoded).pow(2).mean().item() for frame in runs])))
    assert distances[0] < distances[1] < distances[2], distances


def test_the_start_step_follows_the_strength():
    assert [image_start_index(8, s) for s in (0.0, 0.25, 0.5, 1.0)] == [8, 6, 4, 0]


def test_images_are_cropped_to_the_frame_s_shape_then_resized():
    wide = np.zeros((100, 300, 3), dtype=np.uint8)
    wide[:, 100:200] = 255  # the middle third is white
    tensor = image_tensor(wide, 64, 64, "cpu", torch.float32)
    assert tensor.shape == (1, 3, 64, 64) and tensor.min() > 0.9  # only the middle square is kept


def test_the_model_reads_image_files_and_refuses_what_is_not_an_image(tiny_models, tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(PHOTO).save(path)
    model = Model(settings=Settings.from_env().with_tiny_models())
    fast = dict(resolution=64, video_length=2, num_inference_steps=3)
    assert model.text2video("an astronaut", image=str(path), image_strength=0.2, **fast).path
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match="Could not read the image"):
        model.text2video("an astronaut", image=str(tmp_path / "notes.txt"), **fast)
    with pytest.raises(InputError, match="Image strength"):
        model.text2video("an astronaut", image=str(path), image_strength=2, **fast)
    with pytest.raises(InputError, match="RGB array"):
        model.text2video("an astronaut", image=np.zeros((4, 4)), **fast)


def test_the_text2video_endpoint_takes_a_first_frame(tiny_models, tmp_path):
    import dataclasses

    from gradio_client import Client, handle_file
    from PIL import Image

    from tests.helpers import serving

    path = tmp_path / "photo.png"
    Image.fromarray(PHOTO).save(path)
    settings = dataclasses.replace(Settings.from_env().with_tiny_models(), output_dir=tmp_path / "out")
    with serving(Model(settings=settings)) as url:
        fast = dict(model_name="tiny-sd", resolution=64, video_length=2, num_inference_steps=3)
        video, _ = Client(url, verbose=False).predict(
            prompt="an astronaut", **fast, image=handle_file(str(path)), image_strength=0.1, api_name="/text2video"
        )
    assert str(video["video"] if isinstance(video, dict) else video).endswith(".mp4")


def test_a_strength_between_schedule_steps_is_said_to_take_effect_at_the_nearest(tiny_models):
    model = Model(settings=Settings.from_env().with_tiny_models())
    fast = dict(resolution=64, video_length=2, num_inference_steps=12, t0=8, t1=10)  # T' 3 steps in: thirds
    pipe = model.text2video_pipeline("tiny-sd")
    used = {s: pipe.image_strength_used(12, 8, 10, s) for s in (0.0, 0.2, 1 / 3, 0.5, 1.0)}
    assert used == pytest.approx({0.0: 0.0, 0.2: 1 / 3, 1 / 3: 1 / 3, 0.5: 2 / 3, 1.0: 1.0})
    exact = model.text2video("a dune", image=PHOTO, image_strength=1 / 3, **fast)
    assert not [note for note in exact.notes if "Image strength" in note]
    moved = model.text2video("a dune", image=PHOTO, image_strength=0.2, **fast)
    assert any("Image strength 0.2 takes effect as 0.33" in note for note in moved.notes), moved.notes


def test_the_page_offers_the_strengths_that_differ_and_only_those(tiny_models):
    from tabs.text2video import image_strength_steps

    pipe = Model(settings=Settings.from_env().with_tiny_models()).text2video_pipeline("tiny-sd")
    for steps, t0, t1 in ((8, -1, -1), (20, -1, -1), (50, -1, -1), (12, 8, 10), (30, 20, 25)):
        update = image_strength_steps(steps, t0, t1, 0.3)
        offered = [k * update["step"] for k in range(round(1 / update["step"]) + 1)]
        timesteps = (None, None) if t0 == -1 else (t0, t1)
        used = [pipe.image_strength_used(steps, *timesteps, strength) for strength in offered]
        assert used == pytest.approx(offered) and len(set(used)) == len(used), (steps, t0, t1)  # each one counts
        assert update["value"] == pytest.approx(pipe.image_strength_used(steps, *timesteps, 0.3), abs=1e-4)
