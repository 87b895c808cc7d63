"""The command line and the Python API answer every bad input with the project's input error and, on the command
line, a meaningful exit code: 2 for bad input, 1 only for a batch with failed jobs, 70 for a crash; a batch's bad
line fails alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli import EXIT_FAILED_JOBS, EXIT_INPUT, EXIT_INTERNAL, EXIT_MODEL, main
from clip_files import sidecar
from errors import CardError, InputError
from model import Model
from settings import Settings
from tabs.guided import example
from tests.test_uploads import png

TINY = ["--tiny-models", "--quiet"]
FAST = ["--resolution", "64", "--num_inference_steps", "2", "--video_length", "2"]


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(png(20000, 20000))
    return path


@pytest.fixture(scope="module")
def a_card(tiny_models, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("made") / "clip.mp4"
    assert main([*TINY, "generate", "text2video", "--prompt", "a cat", *FAST, "--out", str(out)]) == 0
    return sidecar(out)


@pytest.mark.parametrize(
    "arguments, words",
    [
        (["generate", "text2video", *FAST], "Prompt is missing"),
        (["generate", "text2video", "--prompt", "a", "--path", "x.mp4"], "--out"),
        (["generate", "text2video", "--prompt", "a", "--self", "1"], "Unknown parameter --self"),
        (["generate", "text2video", "--prompt", "a", "--colour", "red"], "Unknown parameter --colour"),
        (["generate", "pose", "--prompt", "a", "--video_path", "[1, 2]"], "Input video must be a file path"),
        (["batch", "missing.jsonl", "--out", "out"], "is not there"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(tiny_models, tmp_path, monkeypatch, capsys, arguments, words):
    monkeypatch.chdir(tmp_path)
    assert main([*TINY, *arguments]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_a_decompression_bomb_image_exits_2(tiny_models, bomb, capsys):
    assert main([*TINY, "generate", "text2video", "--prompt", "a", "--image", str(bomb), *FAST]) == EXIT_INPUT
    assert "megapixels" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, words",
    [
        ({"mode": "text2video", "parameters": {"prompt": "a", "path": "x.mp4"}}, "'parameters.path'"),
        ({"mode": "text2video", "parameters": {"prompt": "a", "self": 1}}, "Unknown parameter self"),
        ("[" * 50_000 + "]" * 50_000, "nested"),
        (b"\x00\xff\xfe binary", "not UTF-8"),
        ('{"mode": "text2video", "parameters": {"prompt": "a"}}'.encode("utf-16"), "not UTF-8"),
    ],
)
def test_reproduce_refuses_a_bad_card_with_exit_2(tiny_models, tmp_path, capsys, content, words):
    card = tmp_path / "card.json"
    if isinstance(content, bytes):
        card.write_bytes(content)
    else:
        card.write_text(content if isinstance(content, str) else json.dumps(content))
    assert main([*TINY, "reproduce", str(card)]) == EXIT_INPUT
    assert words in capsys.readouterr().err


def test_out_names_a_file_replaced_only_when_asked_or_a_folder(a_card, tmp_path, capsys):
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"keep me")
    assert main([*TINY, "reproduce", str(a_card), "--out", str(existing)]) == EXIT_INPUT
    assert "--overwrite" in capsys.readouterr().err and existing.read_bytes() == b"keep me"
    assert main([*TINY, "reproduce", str(a_card), "--out", str(existing), "--overwrite"]) == 0
    assert existing.read_bytes() != b"keep me"
    folder = tmp_path / "clips"
    folder.mkdir()
    assert main([*TINY, "reproduce", str(a_card), "--out", str(folder)]) == 0
    assert len(list(folder.glob("*.mp4"))) == 1 and len(list(folder.glob("*.json"))) == 1


def test_a_batch_out_that_is_a_file_or_unwritable_exits_2(tmp_path, capsys):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"mode": "text2video", "parameters": {"prompt": "a"}}\n')
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert main([*TINY, "batch", str(jobs), "--out", str(a_file)]) == EXIT_INPUT
    assert "is a file" in capsys.readouterr().err
    assert main([*TINY, "batch", str(jobs), "--out", str(a_file / "sub")]) == EXIT_INPUT
    assert "Cannot write to --out" in capsys.readouterr().err
    assert main([*TINY, "batch", str(tmp_path), "--out", str(tmp_path / "out")]) == EXIT_INPUT
    assert "is a folder" in capsys.readouterr().err


def test_a_folder_that_is_no_model_exits_3_saying_so(tiny_models, tmp_path, capsys):
    (tmp_path / "etc" / "python3").mkdir(parents=True)
    (tmp_path / "etc" / "python3" / "site.py").write_text("")
    code = main([*TINY, "generate", "text2video", "--prompt", "a", "--model_name", str(tmp_path / "etc"), *FAST])
    assert code == EXIT_MODEL and "not a complete diffusers folder" in capsys.readouterr().err


def test_a_crash_is_not_exit_1(tiny_models, monkeypatch, capsys):
    def crash(self, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(Model, "text2video", crash)
    assert main([*TINY, "generate", "text2video", "--prompt", "a"]) == EXIT_INTERNAL
    assert "internal error (RuntimeError: a bug)" in capsys.readouterr().err


def test_a_bad_line_in_a_batch_fails_alone(tiny_models, tmp_path, bomb):
    good = {"mode": "text2video", "parameters": {"prompt": "a cat", "resolution": 64, "num_inference_steps": 2}}
    lines = [
        json.dumps({**good, "parameters": {**good["parameters"], "path": "elsewhere.mp4"}}),
        json.dumps({**good, "parameters": {**good["parameters"], "self": 1}}).encode(),
        b"[" * 50_000 + b"]" * 50_000,
        b'{"mode": "text2video", "parameters": {"prompt": "caf\xe9"}}',  # Latin-1, not UTF-8
        json.dumps({**good, "parameters": {**good["parameters"], "image": str(bomb)}}),
        json.dumps({**good, "parameters": {**good["parameters"], "video_length": 2}}),
    ]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines))
    out = tmp_path / "out"
    assert main([*TINY, "batch", str(jobs), "--out", str(out)]) == EXIT_FAILED_JOBS
    rows = {row["job"]: row for row in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert sorted(rows) == list(range(6))
    assert [rows[i]["status"] for i in range(6)] == ["failed"] * 5 + ["done"]
    for index, words in enumerate(
        ["'parameters.path'", "Unknown parameter self", "nested", "not UTF-8", "megapixels"]
    ):
        assert words in rows[index]["error"], rows[index]


# ----------------------------------------------------------------------------------------------- Python API
@pytest.fixture(scope="module")
def model(tiny_models) -> Model:
    return Model(settings=Settings.from_env().with_tiny_models())


@pytest.mark.parametrize(
    "method, args, words",
    [
        ("controlnet_canny", (123, "a cat"), "Input video must be a file path"),
        ("controlnet_canny", (b"\x00\x01", "a cat"), "Input video must be a file path"),
        ("pix2pix", ({"a": 1}, "night"), "Input video must be a file path"),
        ("modelscope_upscale", (123, "a cat"), "Clip to upscale must be a file path"),
        ("controlnet_pose", (None, "a cat"), "No video"),
        ("text2video", (), "Prompt is missing"),
    ],
)
def test_wrong_types_are_input_errors_naming_the_parameter(model, method, args, words):
    options = (
        dict(num_inference_steps=2) if method == "modelscope_upscale" else dict(resolution=64, num_inference_steps=2)
    )
    with pytest.raises(InputError, match=words):
        getattr(model, method)(*args, **options)


@pytest.mark.parametrize(
    "source, words",
    [
        ({"mode": "text2video", "parameters": {"prompt": "a", "path": "x.mp4"}}, "'parameters.path'"),
        ({"mode": "text2video", "parameters": {"prompt": "a", "self": 1}}, "Unknown parameter self"),
        ("[" * 50_000 + "]" * 50_000, "nested"),
        (b"\xff\xfe\x00binary", "not UTF-8"),
        ('{"mode": "text2video"}'.encode("utf-16"), "not UTF-8"),
        (12, "A card is a JSON object"),
    ],
)
def test_run_card_refuses_bad_cards_with_the_project_s_error(model, source, words):
    with pytest.raises(CardError, match=words):
        model.run_card(source)


def test_an_image_bomb_is_an_input_error(model, bomb):
    with pytest.raises(InputError, match="megapixels"):
        model.text2video("a cat", image=str(bomb), resolution=64, video_length=2, num_inference_steps=2)


def test_a_card_file_from_a_video_with_a_bad_card_is_an_input_error(model, tmp_path):
    from utils.video import VideoWriter

    video = tmp_path / "odd.mp4"
    with VideoWriter(video, 4, metadata={"comment": '{"mode": "text2video", "parameters": {"self": 1}}'}) as writer:
        writer.write(np.zeros((2, 16, 16, 3), np.float32))
    with pytest.raises(CardError, match="Unknown parameter self"):
        model.run_card(video)
    with pytest.raises(CardError, match="carries no generation card"):
        model.run_card(example("cat_zoom.mp4"))
