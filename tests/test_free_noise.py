"""Long clips and prompt travel with a motion module: FreeNoise's context windows equal diffusers'
`enable_free_noise` on identical components (with prompts that change at given frames, too), split inference equals
the unsplit run, and every option leaves the shared motion UNet as it found it."""

import numpy as np
import pytest
import torch
from diffusers import AnimateDiffPipeline, MotionAdapter
from diffusers.models.attention import BasicTransformerBlock
from diffusers.pipelines.free_noise_utils import SplitInferenceModule

from pipelines import MotionModulePipeline, TextToVideoZeroPipeline
from pipelines.motion_module import animatediff_scheduler, motion_unet

RUN = dict(height=64, width=64, num_inference_steps=3, guidance_scale=7.5, negative_prompt="blurry")
TRAVEL = {0: "a calm sea", 9: "a storm at sea"}


@pytest.fixture(scope="module")
def parts(tiny_models):
    components = TextToVideoZeroPipeline.from_pretrained(tiny_models["sd"]).components
    adapter = MotionAdapter.from_pretrained(tiny_models["motion-adapter"])
    shared = {name: components[name] for name in ("vae", "text_encoder", "tokenizer")}
    scheduler = animatediff_scheduler(components["scheduler"].config)
    ours = MotionModulePipeline(**shared, unet=motion_unet(components["unet"], adapter), scheduler=scheduler)
    ours.set_progress_bar_config(disable=True)

    def reference() -> AnimateDiffPipeline:  # a fresh one per use: its `disable_free_noise` fails on this UNet
        pipe = AnimateDiffPipeline(**shared, unet=components["unet"], motion_adapter=adapter, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    return ours, reference


def seed() -> dict:
    return dict(generator=torch.Generator().manual_seed(11))


def temporal_blocks(unet) -> list:
    return [
        block
        for module in unet.modules()
        if hasattr(module, "transformer_blocks")
        for block in module.transformer_blocks
    ]


@pytest.mark.parametrize("prompt, frames, length, stride", [("a lighthouse", 20, 8, 4), (TRAVEL, 16, 8, 2)])
def test_free_noise_equals_diffusers(parts, prompt, frames, length, stride):
    ours, reference = parts
    mine = ours(prompt, num_frames=frames, context_length=length, context_stride=stride, **RUN, **seed()).frames
    free_noise = reference()
    free_noise.enable_free_noise(context_length=length, context_stride=stride)
    theirs = free_noise(prompt, num_frames=frames, output_type="np", **RUN, **seed()).frames[0]
    assert np.abs(mine - theirs).max() < 1e-5
    assert all(type(block) is BasicTransformerBlock for block in temporal_blocks(ours.unet))  # given back


def test_prompt_travel_changes_the_prompt_along_the_clip(parts):
    ours, _ = parts
    embeds = ours.travel_embeds(TRAVEL, 12, "cpu")
    calm, storm = ours._encode_text("a calm sea", "cpu")[0], ours._encode_text("a storm at sea", "cpu")[0]
    assert torch.allclose(embeds[0], calm) and torch.allclose(embeds[9], storm) and torch.allclose(embeds[11], storm)
    assert torch.allclose(embeds[3], calm + (storm - calm) / 3, atol=1e-6)  # a third of the way at frame 3
    travelling = ours(TRAVEL, num_frames=12, **RUN, **seed()).frames
    calm_only = ours("a calm sea", num_frames=12, **RUN, **seed()).frames
    assert np.abs(travelling[0] - calm_only[0]).max() < np.abs(travelling[-1] - calm_only[-1]).max()
    for bad in ({1: "late start"}, {0: "a", 12: "past the end"}):
        with pytest.raises(ValueError, match="keyframes"):
            ours(bad, num_frames=12, **RUN)


def test_split_inference_equals_the_unsplit_run_and_unwraps(parts):
    ours, _ = parts
    frames = dict(num_frames=20, context_length=8, context_stride=4)
    plain = ours("a lighthouse", **frames, **RUN, **seed()).frames
    split = ours("a lighthouse", **frames, split_inference=True, **RUN, **seed()).frames
    assert np.abs(plain - split).max() < 1e-5
    assert not any(isinstance(module, SplitInferenceModule) for module in ours.unet.modules())
    assert np.array_equal(ours("a lighthouse", **frames, **RUN, **seed()).frames, plain)  # the UNet as it was


def test_context_windows_are_checked_and_a_failed_call_gives_the_unet_back(parts):
    ours, _ = parts
    with pytest.raises(ValueError, match="adapter's length, 32"):
        ours("a lighthouse", num_frames=40, context_length=33, **RUN)
    with pytest.raises(ValueError, match="context_stride"):
        ours("a lighthouse", num_frames=40, context_length=8, context_stride=9, **RUN)
    with pytest.raises(ValueError):
        ours("", num_frames=20, context_length=8, split_inference=True, **RUN)  # fails inside the windows
    assert all(type(block) is BasicTransformerBlock for block in temporal_blocks(ours.unet))
    assert not any(isinstance(module, SplitInferenceModule) for module in ours.unet.modules())


@pytest.fixture(scope="module")
def model(tiny_models):
    from model import Model
    from settings import Settings

    return Model(settings=Settings.from_env().with_tiny_models())


CLIP = dict(resolution=64, num_inference_steps=2, motion_adapter="tiny-motion-adapter")


def test_a_long_keyframed_clip_goes_in_windows_and_reproduces_from_its_card(model, tmp_path):
    from cards import Card
    from cli import main
    from clip_files import sidecar
    from utils.video import load_video

    made = model.text2video("0: a calm sea | 20: a storm at sea", video_length=36, **CLIP)
    assert any("FreeNoise windows of 32 frames" in note for note in made.notes)
    assert len(load_video(made.path, 64).frames) == 36
    card = Card.read(sidecar(made.path))
    assert card.parameters["prompt"] == "0: a calm sea | 20: a storm at sea" and card.parameters["context_length"] == 0
    again = tmp_path / "again.mp4"
    assert main(["--tiny-models", "--quiet", "reproduce", str(sidecar(made.path)), "--out", str(again)]) == 0
    assert np.array_equal(load_video(str(again), 64).frames, load_video(made.path, 64).frames)
    out = tmp_path / "cli.mp4"
    cli = [
        "--tiny-models",
        "--quiet",
        "generate",
        "text2video",
        "--prompt",
        "0: a kite | 5: a bird",
        "--video_length",
        "12",
    ]
    cli += ["--motion_adapter", "tiny-motion-adapter", "--context_length", "8", "--context_stride", "2"]
    assert (
        main(
            [*cli, "--resolution", "64", "--num_inference_steps", "2", "--split_inference", "true", "--out", str(out)]
        )
        == 0
    )
    parameters = Card.read(sidecar(out)).parameters
    assert (parameters["context_length"], parameters["context_stride"], parameters["split_inference"]) == (8, 2, True)


def test_split_inference_through_the_model_gives_the_same_clip(model):
    from utils.video import load_video

    runs = [
        load_video(
            model.text2video("a lighthouse", video_length=12, context_length=8, split_inference=split, **CLIP).path, 64
        ).frames
        for split in (False, True)
    ]
    assert np.abs(runs[0].astype(int) - runs[1].astype(int)).max() <= 1  # float rounding, then 8-bit video


@pytest.mark.parametrize(
    "prompt, options, words",
    [
        ("0: a calm sea | 24: a storm", dict(video_length=16), "keyframe 24 is past the end"),
        ("0: a calm sea | 12: a storm | 6: rain", dict(video_length=16), "must rise: frame 6 comes after frame 12"),
        ("4: a calm sea | 12: a storm", dict(video_length=16), "first prompt keyframe must be frame 0"),
        ("0: a calm sea | a storm", dict(video_length=16), "has no frame number"),
        ("0: a calm sea | 8:", dict(video_length=16), "frame 8 is empty"),
        ("0: a calm sea | 8: a storm", dict(video_length=16, motion_adapter="zero-shot"), "need a motion module"),
        ("a sea", dict(context_length=8, context_stride=9), "Context stride 9 is above the context length 8"),
        ("a sea", dict(context_length=40), "Context length 40 is above .* takes \\(32 frames"),
        ("a sea", dict(context_length=65), "Context length must be"),
        ("a sea", dict(context_length=8, context_scope="everywhere"), "Context scope must be one of temporal, unet"),
    ],
)
def test_keyframes_and_windows_are_refused_by_name(model, prompt, options, words):
    from errors import InputError

    with pytest.raises(InputError, match=words):
        model.text2video(prompt, **{**CLIP, **options})


def test_guided_tabs_take_keyframes_and_windows_and_zero_shot_names_what_it_ignores(model):
    from catalogue import EXAMPLES_DIR
    from errors import InputError

    video = str(EXAMPLES_DIR / "cat_zoom.mp4")
    guided = dict(resolution=64, max_frames=8, num_inference_steps=2, motion_adapter="tiny-motion-adapter")
    made = model.generate("depth", video, "0: a fox | 4: a wolf", context_length=4, context_stride=2, **guided)
    assert made.card.parameters["context_length"] == 4
    low_memory = model.generate("depth", video, "a fox", context_length=4, context_scope="unet", **guided)
    assert low_memory.card.parameters["context_scope"] == "unet"
    with pytest.raises(InputError, match="keyframe 20 is past the end of the clip: its 8 frames"):
        model.generate("depth", video, "0: a fox | 20: a wolf", **guided)
    zero_shot = model.generate("depth", video, "a fox", **{**guided, "motion_adapter": None, "context_length": 4})
    assert any("motion module only" in note and "context_length" in note for note in zero_shot.notes)


def test_batch_runs_motion_module_jobs_with_every_option_and_few_steps(model, tmp_path):
    import json

    from cards import Card
    from cli import main
    from clip_files import sidecar

    jobs = tmp_path / "jobs.jsonl"
    lines = [
        {"prompt": "0: a kite | 6: a bird", "video_length": 10, "context_length": 8, "scheduler": "lcm"},
        {"prompt": "a kite", "video_length": 6, "motion_lora": "tiny-motion-lora-pan-left", "guidance_scale": 1.0},
    ]
    jobs.write_text("\n".join(json.dumps({"mode": "text2video", "parameters": {**CLIP, **line}}) for line in lines))
    assert main(["--tiny-models", "--quiet", "batch", str(jobs), "--out", str(tmp_path / "batch")]) == 0
    cards = [Card.read(sidecar(clip)) for clip in sorted((tmp_path / "batch").glob("*.mp4"))]
    assert sorted(card.parameters.get("scheduler") or "" for card in cards) == ["", "lcm"]
    assert {card.models["motion_adapter"].name for card in cards} == {"tiny-motion-adapter"}
    assert any(card.parameters["motion_lora"] == "tiny-motion-lora-pan-left" for card in cards)


def test_whole_unet_windows_cover_the_clip_and_equal_the_plain_run_when_one_window_holds_it(parts):
    ours, _ = parts
    whole = ours("a lighthouse", num_frames=8, **RUN, **seed()).frames
    one_window = ours("a lighthouse", num_frames=8, context_length=8, context_scope="unet", **RUN, **seed()).frames
    assert np.array_equal(whole, one_window)
    seen: list[slice] = []
    original = ours.windowed

    def spy(run, frames):
        return original(lambda window: seen.append(window) or run(window), frames)

    ours.windowed = spy
    try:
        windows = dict(num_frames=22, context_length=8, context_stride=6, context_scope="unet")
        clip = ours(TRAVEL, **windows, **RUN, **seed()).frames
    finally:
        del ours.windowed
    assert clip.shape[0] == 22 and np.isfinite(clip).all()
    steps = RUN["num_inference_steps"]
    assert seen[: len(seen) // steps] == [slice(0, 8), slice(6, 14), slice(12, 20), slice(14, 22)]  # the end too
    temporal = ours(TRAVEL, **{**windows, "context_scope": "temporal"}, **RUN, **seed()).frames
    assert not np.array_equal(clip, temporal)  # another method than diffusers' FreeNoise, by choice
    assert all(type(block) is BasicTransformerBlock for block in temporal_blocks(ours.unet))
    with pytest.raises(ValueError, match="context_scope"):
        ours("a lighthouse", num_frames=20, context_length=8, context_scope="everywhere", **RUN)


def test_whole_unet_windows_count_their_passes_toward_the_work_bound(tiny_models):
    from errors import InputError
    from model import Model
    from settings import Settings
    from utils.jobs import RequestRules

    clip = dict(CLIP, video_length=24, context_length=8, context_stride=2, resolution=128)
    one_pass = 24 * 128 * 128 * CLIP["num_inference_steps"] / 1e6  # megapixel-steps of the clip, once through
    model = Model(settings=Settings.from_env().with_tiny_models())
    rules = RequestRules(work_limit=int(one_pass) + 1)
    model.generate("text2video", "a kite", rules=rules, **{**clip, "context_scope": "temporal"})  # one pass: fits
    with pytest.raises(InputError, match="too large for this server"):  # nine windows of 8 over 24 frames: 3x
        model.generate("text2video", "a kite", rules=rules, **{**clip, "context_scope": "unet"})
