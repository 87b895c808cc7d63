"""The quality evaluation: CLIP scores on a tiny random CLIP saved as a hub model is (the plumbing; real numbers need
the real CLIP), and the optical-flow warp error on real photographs moving and on noise."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from skimage import data

from utils.quality import ClipScorer, masked_warp_error, warp_error
from utils.video import VideoWriter


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from utils.tiny_models import build_tokenizer

    folder = tmp_path_factory.mktemp("tiny-clip")
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            vocab_size=1000,
            max_position_embeddings=77,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def moving_photo(frames: int = 5, step: int = 3) -> np.ndarray:
    image = data.astronaut()[::4, ::4]  # 128 x 128
    return np.stack([np.roll(image, step * k, axis=1) for k in range(frames)])


def test_clip_scores_are_cosines_times_100(tiny_clip):
    scorer = ClipScorer(str(tiny_clip))
    frames = moving_photo()
    scores = scorer.scores(frames, "an astronaut")
    images, text = scorer.embed_frames(frames), scorer.embed_text("an astronaut")
    assert scores.text_alignment == pytest.approx((images @ text).mean().item() * 100)
    assert -100 <= scores.text_alignment <= 100
    still = scorer.scores(np.stack([frames[0]] * 3), "an astronaut")
    assert still.frame_consistency == pytest.approx(100, abs=1e-3)  # identical frames
    assert scorer.scores(frames[:1], "x").frame_consistency == 100.0


def test_the_warp_error_is_low_for_motion_and_high_for_flicker():
    steady = warp_error(moving_photo())
    rng = np.random.default_rng(0)
    flicker = warp_error(rng.integers(0, 256, size=(5, 128, 128, 3), dtype=np.uint8))
    assert steady < 0.05 < flicker
    assert warp_error(moving_photo()[:1]) == 0.0


def test_the_script_scores_a_folder_of_clips(tiny_clip, tmp_path):
    from bench import quality

    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("a_moving_astronaut.mp4", "b.mp4"):
        with VideoWriter(clips / name, fps=4) as writer:
            writer.write(moving_photo().astype(np.float32) / 255.0)
    (clips / "b.txt").write_text("a prompt from a text file")
    results = quality.main([str(clips), "--clip", str(tiny_clip), "--json", str(tmp_path / "scores.json")])
    assert [r["prompt"] for r in results] == ["a moving astronaut", "a prompt from a text file"]
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert set(saved["means"]) == {"clip_text_alignment", "clip_frame_consistency", "warp_error", "masked_warp_error"}
    assert all(r["frames"] == 5 and r["warp_error"] < 0.05 for r in results)
    assert [r["flow_from"] for r in results] == ["clip", "clip"]
    sources = tmp_path / "sources"
    sources.mkdir()
    with VideoWriter(sources / "b.mp4", fps=4) as writer:  # b's input: the flow comes from it
        writer.write(moving_photo().astype(np.float32) / 255.0)
    results = quality.main([str(clips), "--clip", str(tiny_clip), "--sources", str(sources)])
    assert [r["flow_from"] for r in results] == ["clip", "source"] and results[1]["masked_warp_error"] < 0.01


def test_the_masked_warp_error_follows_the_source_s_flow_and_leaves_out_what_it_cannot_see():
    moving = moving_photo()
    assert masked_warp_error(moving) < 0.005  # a clip that follows its flow (the revealed strip left out)
    still = np.stack([moving[0]] * len(moving))
    assert masked_warp_error(still, source=moving) > 0.02 > masked_warp_error(moving, source=moving)
    rng = np.random.default_rng(0)
    flicker = rng.integers(0, 256, size=moving.shape, dtype=np.uint8)
    assert masked_warp_error(flicker, source=moving) > 0.1
    assert masked_warp_error(moving[:1]) == 0.0
