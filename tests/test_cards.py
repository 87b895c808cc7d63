"""Generation cards (the clip made again from its card, frame for frame; bad cards named), the command line and the
local batch (resumable, idempotent, failures recorded)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from cards import Card, card_text_of_video
from clip_files import sidecar
from errors import CardError
from model import Model
from settings import Settings
from tabs.guided import example
from utils.video import read_video

FAST = dict(resolution=64, num_inference_steps=3)


@pytest.fixture(scope="module")
def model(tiny_models, tmp_path_factory):
    settings = Settings.from_env().with_tiny_models()
    return Model(settings=dataclasses.replace(settings, output_dir=tmp_path_factory.mktemp("cards")))


def frames(path) -> np.ndarray:
    return read_video(path)[0]


@pytest.mark.parametrize(
    "method, args, kwargs",
    [
        ("text2video", ("a cat",), dict(video_length=3, seed=-1, motion_zoom=0.05, cross_frame="sparse-causal")),
        ("controlnet_canny", (example("cat_zoom.mp4"), "a tiger"), dict(max_frames=2)),
        ("pix2pix", (example("cat_zoom.mp4"), "make it night"), dict(max_frames=2)),
        ("modelscope", ("a cat",), dict(num_frames=3, num_inference_steps=2)),
    ],
)
def test_a_clip_made_again_from_its_card_is_the_same_clip(model, method, args, kwargs):
    fast = FAST if method != "modelscope" else {}
    first = getattr(model, method)(*args, **{**fast, **kwargs})
    card = Card.read(sidecar(first.path))
    assert card == first.card and card.parameters["seed"] == first.seed  # the seed actually used
    assert Card.read(first.path) == card  # the video carries it too
    assert set(card.versions) == {"project", "torch", "diffusers", "transformers"}
    assert card.models["model"].revision.startswith("sha256:")  # a local folder: a hash of its weights
    again = model.run_card(first.path)
    assert np.array_equal(frames(again.path), frames(first.path))


def test_a_card_names_what_is_wrong_with_it(model):
    good = {"mode": "text2video", "parameters": {"prompt": "a cat"}}
    assert Card.read(good).parameters == {"prompt": "a cat"}  # a partial card: the rest takes the defaults
    for bad, words in [
        ({**good, "colour": "red"}, "unknown key 'colour'"),
        ({**good, "mode": "text2audio"}, "unknown mode 'text2audio'"),
        ({"parameters": {}}, "missing key 'mode'"),
        ({**good, "parameters": "a cat"}, "'parameters'"),
        ({**good, "card_version": 99}, "'card_version'"),
        ([1, 2], "a JSON object"),
        ("{not json", "not valid JSON"),
    ]:
        with pytest.raises(CardError, match=words):
            Card.read(bad)
    with pytest.raises(Exception, match="Unknown parameter colour"):
        model.run_card({"mode": "text2video", "parameters": {"prompt": "a cat", "colour": "red"}})
    schema = Card.model_json_schema()
    assert schema["additionalProperties"] is False and "mode" in schema["required"]


def test_a_video_without_a_card_says_so(tmp_path):
    assert card_text_of_video(example("cat_zoom.mp4")) is None
    with pytest.raises(CardError, match="carries no generation card"):
        Card.read(example("cat_zoom.mp4"))


def test_the_command_line_generates_reproduces_and_exits_with_meaning(tiny_models, tmp_path, capsys):
    from cli import main

    out = tmp_path / "clip.mp4"
    assert (
        main(
            [
                "--tiny-models",
                "--quiet",
                "generate",
                "text2video",
                "--prompt",
                "a cat",
                "--video-length",
                "2",
                "--resolution",
                "64",
                "--num_inference_steps",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.is_file() and sidecar(out).is_file()
    again = tmp_path / "again.mp4"
    assert main(["--tiny-models", "--quiet", "reproduce", str(sidecar(out)), "--out", str(again)]) == 0
    assert np.array_equal(frames(again), frames(out))
    assert main(["--tiny-models", "generate", "text2video", "--prompt", "a cat", "--video_length", "0"]) == 2
    assert "Video length" in capsys.readouterr().err
    assert main(["--tiny-models", "generate", "pix2pix", "--prompt", "x", "--video", str(tmp_path / "none.mp4")]) == 2
    assert main(["--tiny-models", "generate", "text2video", "--prompt", "a", "--model_name", "nobody/none"]) == 3
    assert main(["generate", "text2video", "--help"]) == 0 and "--motion_zoom" in capsys.readouterr().out
    assert main(["schema"]) == 0 and json.loads(capsys.readouterr().out)["title"] == "Card"


def test_a_batch_runs_resumes_and_records_failures(tiny_models, tmp_path):
    from cli import main

    jobs = [
        {"mode": "text2video", "parameters": {"prompt": "a cat", "video_length": 2, **FAST}},
        {"mode": "text2video", "parameters": {"prompt": "a dog", "video_length": 2, "seed": 3, **FAST}},
        {
            "mode": "canny",
            "parameters": {"video_path": example("cat_zoom.mp4"), "prompt": "a tiger", "max_frames": 2, **FAST},
        },
        {
            "mode": "pix2pix",
            "parameters": {"video": example("coffee_pan.mp4"), "prompt": "night", "max_frames": 2, **FAST},
        },
        {"mode": "modelscope", "parameters": {"prompt": "a boat", "num_frames": 2, "num_inference_steps": 2}},
        {"mode": "text2video", "parameters": {"prompt": "", **FAST}},  # fails alone
    ]
    lines = [json.dumps(job) for job in jobs] + ['{"mode": "text2audio"}']
    (tmp_path / "jobs.jsonl").write_text("\n".join(lines))
    out = tmp_path / "out"
    assert main(["--tiny-models", "--quiet", "batch", str(tmp_path / "jobs.jsonl"), "--out", str(out)]) == 1
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    status = {row["job"]: row["status"] for row in results}
    assert status == {0: "done", 1: "done", 2: "done", 3: "done", 4: "done", 5: "failed", 6: "failed"}
    errors = {row["job"]: row["error"] for row in results if row["status"] == "failed"}
    assert "Prompt" in errors[5] and "unknown mode" in errors[6]
    made = {p.name: frames(p) for p in out.glob("*.mp4")}
    assert len(made) == 5
    # Run again: nothing to do, the same files.
    assert main(["--tiny-models", "--quiet", "batch", str(tmp_path / "jobs.jsonl"), "--out", str(out)]) == 1
    again = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(row["status"] for row in again) == ["failed", "failed"] + ["skipped"] * 5
    assert all(np.array_equal(frames(out / name), pixels) for name, pixels in made.items())
    # An interrupted run loses at most the clip in progress: a lost clip (and its card) is made again.
    lost = sorted(out.glob("text2video-*.mp4"))[0]
    lost.unlink()
    assert main(["--tiny-models", "--quiet", "batch", str(tmp_path / "jobs.jsonl"), "--out", str(out)]) == 1
    assert lost.is_file() and np.array_equal(frames(lost), made[lost.name])


def test_an_interrupted_batch_resumes_where_it_stopped(tiny_models, tmp_path, monkeypatch):
    """Ctrl-C during the third clip: the two made are kept, the third leaves nothing; the next run makes the rest."""
    from batch import run_batch

    jobs = [{"mode": "text2video", "parameters": {"prompt": f"take {i}", "video_length": 2, **FAST}} for i in range(4)]
    (tmp_path / "jobs.jsonl").write_text("\n".join(json.dumps(job) for job in jobs))
    model = Model(settings=Settings.from_env().with_tiny_models())
    original, calls = model.text2video, []

    def interrupted_third(*args, **kwargs):
        calls.append(kwargs["prompt"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "text2video", interrupted_third)
    with pytest.raises(KeyboardInterrupt):
        run_batch(tmp_path / "jobs.jsonl", tmp_path / "out", model)
    assert len(list((tmp_path / "out").glob("*.mp4"))) == 2
    monkeypatch.setattr(model, "text2video", original)
    summary = run_batch(tmp_path / "jobs.jsonl", tmp_path / "out", model)
    assert (summary.done, summary.skipped, summary.failed) == (2, 2, 0)
    assert len(list((tmp_path / "out").glob("*.mp4"))) == 4


def test_quiet_shows_no_progress_bar(tiny_models, tmp_path, capsys, monkeypatch):
    from cli import main

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    command = ["generate", "text2video", "--prompt", "a cat", "--video-length", "2", "--resolution", "64"]
    command += ["--num_inference_steps", "3", "--out"]
    assert main(["--tiny-models", *command, str(tmp_path / "loud.mp4")]) == 0
    assert "Generating" in capsys.readouterr().err
    assert main(["--tiny-models", "--quiet", *command, str(tmp_path / "quiet.mp4")]) == 0
    err = capsys.readouterr().err
    assert "Generating" not in err and "Writing the video" not in err and "Anchor frame" not in err
    assert "%|" not in err and (tmp_path / "quiet.mp4").is_file()  # no bar at all
