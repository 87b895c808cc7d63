"""SparseCtrl with a motion module: a few keyframes (RGB images, or scribbles) steer the clip, and one keyframe at
frame 0 is image-to-video. Equal to diffusers' AnimateDiffSparseControlNetPipeline on identical components (diffusers
samples the RGB keyframes' latents without a generator; the reference is run with the VAE's mode, as here)."""

import numpy as np
import pytest
import torch
from diffusers import AnimateDiffSparseControlNetPipeline, MotionAdapter, SparseControlNetModel
from diffusers.pipelines.animatediff import pipeline_animatediff_sparsectrl as sparsectrl_module

from pipelines import MotionSparseCtrlPipeline, TextToVideoZeroPipeline
from pipelines.motion_module import animatediff_scheduler, motion_unet

RUN = dict(num_frames=8, height=64, width=64, num_inference_steps=3, guidance_scale=7.5, negative_prompt="blurry")


@pytest.fixture(scope="module")
def parts(tiny_models):
    components = TextToVideoZeroPipeline.from_pretrained(tiny_models["sd"]).components
    adapter = MotionAdapter.from_pretrained(tiny_models["motion-adapter"])
    shared = {name: components[name] for name in ("vae", "text_encoder", "tokenizer")}
    return shared, components["unet"], adapter, components["scheduler"].config


def keyframe_images(count: int) -> torch.Tensor:
    """Random pictures in 8-bit steps (so their PIL copies, which diffusers' pipeline takes, hold the same values)."""
    torch.manual_seed(4)
    return (torch.rand(count, 3, 64, 64) * 255).round() / 255


def as_pictures(images: torch.Tensor) -> list:
    from PIL import Image

    return [Image.fromarray((image.permute(1, 2, 0) * 255).round().byte().numpy()) for image in images]


def seed() -> dict:
    return dict(generator=torch.Generator().manual_seed(8))


@pytest.mark.parametrize("kind, indices", [("rgb", [0]), ("rgb", [0, 5]), ("scribble", [0, 7])])
def test_sparsectrl_equals_diffusers(parts, tiny_models, monkeypatch, kind, indices):
    original = sparsectrl_module.retrieve_latents
    monkeypatch.setattr(
        sparsectrl_module, "retrieve_latents", lambda output, generator=None: original(output, sample_mode="argmax")
    )
    shared, unet, adapter, config = parts
    sparsectrl = SparseControlNetModel.from_pretrained(tiny_models[f"sparsectrl-{kind}"])
    scheduler = animatediff_scheduler(config)
    ours = MotionSparseCtrlPipeline(
        **shared, unet=motion_unet(unet, adapter), controlnet=sparsectrl, scheduler=scheduler
    )
    reference = AnimateDiffSparseControlNetPipeline(
        **shared, unet=unet, motion_adapter=adapter, controlnet=sparsectrl, scheduler=scheduler
    )
    for pipe in (ours, reference):
        pipe.set_progress_bar_config(disable=True)
    images = keyframe_images(len(indices))
    mine = ours("a sailing boat", images, indices, **RUN, **seed()).frames
    theirs = reference(
        "a sailing boat",
        conditioning_frames=as_pictures(images),
        controlnet_frame_indices=indices,
        output_type="np",
        **RUN,
        **seed(),
    ).frames[0]
    assert np.abs(mine - theirs).max() < 1e-5
    free = ours("a sailing boat", images, indices, controlnet_conditioning_scale=0.0, **RUN, **seed()).frames
    assert np.abs(mine - free).max() > 1e-3  # the keyframes steer the clip


def test_keyframes_are_checked(parts, tiny_models):
    shared, unet, adapter, config = parts
    pipe = MotionSparseCtrlPipeline(
        **shared,
        unet=motion_unet(unet, adapter),
        controlnet=SparseControlNetModel.from_pretrained(tiny_models["sparsectrl-rgb"]),
        scheduler=animatediff_scheduler(config),
    )
    with pytest.raises(ValueError, match="distinct frames from 0 to 7"):
        pipe("a boat", keyframe_images(2), [0, 8], **RUN)
    with pytest.raises(ValueError, match="one index per keyframe"):
        pipe("a boat", keyframe_images(2), [0], **RUN)


@pytest.fixture(scope="module")
def model(tiny_models):
    from model import Model
    from settings import Settings

    return Model(settings=Settings.from_env().with_tiny_models())


CLIP = dict(resolution=64, video_length=8, num_inference_steps=3, motion_adapter="tiny-motion-adapter")


def test_image_to_video_with_a_motion_module_goes_through_sparsectrl_and_reproduces(model, tmp_path):
    from cards import Card
    from cli import main
    from clip_files import sidecar
    from utils.video import load_video

    picture = (keyframe_images(1)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    path = tmp_path / "first.png"
    as_pictures(keyframe_images(1))[0].save(path)
    made = model.text2video("a sailing boat", **CLIP, image=str(path))
    card = Card.read(sidecar(made.path))
    assert card.parameters["sparse_control"] == "tiny-sparsectrl-rgb" and "sparse_control" in card.models
    assert card.models["sparse_control"].revision.startswith("sha256:")
    again = tmp_path / "again.mp4"
    assert main(["--tiny-models", "--quiet", "reproduce", str(sidecar(made.path)), "--out", str(again)]) == 0
    assert np.array_equal(load_video(str(again), 64).frames, load_video(made.path, 64).frames)
    plain = load_video(model.text2video("a sailing boat", **CLIP).path, 64).frames
    assert not np.array_equal(load_video(made.path, 64).frames, plain)  # the image steers the clip
    scribble = model.text2video("a sailing boat", **CLIP, image=picture, sparse_control="tiny-sparsectrl-scribble")
    assert scribble.card.parameters["sparse_control"] == "tiny-sparsectrl-scribble"
    assert "sparse_control" not in Card.read(sidecar(model.text2video("a boat", **CLIP).path)).models


def test_what_is_not_a_sparsectrl_model_is_refused_by_name(model):
    from errors import ModelLoadError

    picture = np.zeros((64, 64, 3), np.uint8)
    for wrong in ("tiny-controlnet-canny", "tiny-motion-adapter"):
        with pytest.raises(ModelLoadError, match=f"'{wrong}' is not a SparseCtrl model"):
            model.text2video("a boat", **CLIP, image=picture, sparse_control=wrong)
    model.text2video("a boat", **CLIP, image=picture)  # nothing half-loaded


def test_keyframes_reach_their_window_when_the_whole_unet_goes_window_by_window(parts, tiny_models):
    shared, unet, adapter, config = parts
    pipe = MotionSparseCtrlPipeline(
        **shared,
        unet=motion_unet(unet, adapter),
        controlnet=SparseControlNetModel.from_pretrained(tiny_models["sparsectrl-rgb"]),
        scheduler=animatediff_scheduler(config),
    )
    pipe.set_progress_bar_config(disable=True)
    run = {**RUN, "num_frames": 12, "context_length": 6, "context_stride": 3, "context_scope": "unet"}
    images = keyframe_images(1)
    late = pipe("a boat", images, [10], **run, **seed()).frames
    free = pipe("a boat", images, [10], controlnet_conditioning_scale=0.0, **run, **seed()).frames
    assert np.abs(late[10] - free[10]).max() > 1e-3  # the keyframe acts in the windows that hold frame 10
