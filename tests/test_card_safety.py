"""A card is data from a stranger: dropped on a tab it never makes the server read or serve one of its files, it is
checked as a request is (every failure a message naming the key), and a clip's card names its input files by
content, never by a path of the machine that made it (portable cards)."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cards import Card, card_text_of_video
from clip_files import sidecar
from errors import CardError
from model import Model
from settings import Settings
from tabs.guided import example
from tests.helpers import call_event, event_index, upload
from utils.video import VideoWriter, read_video

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(model_name="tiny-sd", resolution=64, num_inference_steps=3)
# Each tab's card box, and the file parameters a card of its mode has.
TABS = {"text2video": ("text2video", "image"), "pose": ("pose", "video_path"), "pix2pix": ("pix2pix", "video")}


@pytest.fixture(scope="module")
def card_app(tiny_models, tmp_path_factory):
    """The app on the tiny models, with secrets in the working folder, the temp folder and elsewhere (the project's
    own folder); its demo, URL and the secrets."""
    from app import build_demo

    work = tmp_path_factory.mktemp("work")
    secrets = {
        "working folder": work / "secret-in-cwd.txt",
        "temp folder": Path(tempfile.mkdtemp()) / "secret-in-tmp.png",
        "elsewhere": ROOT / "settings.py",
    }
    for where, path in secrets.items():
        if where != "elsewhere":
            path.write_text(f"SECRET {where}")
    folder = tmp_path_factory.mktemp("cards-app")
    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models(), output_dir=folder / "outputs", models_root=folder / "models"
    )
    demo = build_demo(Model(settings=settings))
    previous = Path.cwd()
    import os

    os.chdir(work)  # Gradio would serve any file of the working folder a component is set to
    try:
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
        yield demo, demo.local_url, secrets
    finally:
        demo.close()
        os.chdir(previous)


def drop(card_app, tab: str, card_file: Path) -> dict:
    """Drop a card file on a tab's card box, as the page does (upload, then the box's upload event)."""
    demo, url, _ = card_app
    return call_event(url, event_index(demo, f"{tab}-card", "upload"), [upload(url, card_file)])


def card_file(tmp_path: Path, card: dict | str | bytes, name: str = "card.json") -> Path:
    path = tmp_path / name
    if isinstance(card, bytes):
        path.write_bytes(card)
    else:
        path.write_text(card if isinstance(card, str) else json.dumps(card))
    return path


def served_files(output) -> list:
    """Every file payload among an event's outputs (what the page would then fetch from the server)."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            if isinstance(value.get("path"), str) or isinstance(value.get("url"), str):
                found.append(value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(output.get("data"))
    return found


@pytest.mark.parametrize("where", ["working folder", "temp folder", "elsewhere"])
@pytest.mark.parametrize("tab", list(TABS))
@pytest.mark.parametrize("carrier", ["json", "video metadata"])
def test_a_dropped_card_never_makes_the_server_serve_its_files(card_app, tmp_path, where, tab, carrier):
    import httpx

    _, url, secrets = card_app
    mode, field = TABS[tab]
    card = {"mode": mode, "parameters": {"prompt": "a cat", field: str(secrets[where]), "seed": 7}}
    if carrier == "json":
        path = card_file(tmp_path, card)
    else:  # a video made elsewhere, carrying the card in its metadata
        path = tmp_path / "clip.mp4"
        with VideoWriter(path, 4, metadata={"comment": json.dumps(card)}) as writer:
            writer.write(np.zeros((2, 16, 16, 3), np.float32))
        assert card_text_of_video(path) is not None
    answer = drop(card_app, tab, path)
    assert answer["success"], answer
    assert served_files(answer["output"]) == []  # no control is set to a file
    assert any("Upload the input it was made from" in log for log in answer["log"]), answer["log"]
    assert any("seed 7" in log for log in answer["log"])
    secret = secrets[where].read_text()[:40]
    for link in (f"/gradio_api/file={secrets[where]}", f"/file={secrets[where]}"):
        response = httpx.get(url.rstrip("/") + link)
        assert response.status_code in (403, 404) and secret not in response.text


@pytest.mark.parametrize(
    "content, words",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00binary\xff\xfe", "not UTF-8"),
        ('{"mode": "text2video"}'.encode("utf-16"), "not UTF-8"),
        ('{"mode": "text2video", "parameters": {"prompt": "a", "guidance_scale": NaN}}', "Guidance scale"),
        ('{"mode": "text2video", "parameters": {"prompt": "a", "seed": "forty-two"}}', "seed must be a whole number"),
        ('{"mode": "text2video", "parameters": {"prompt": "a", "motion_path": {"x": 1}}}', "Camera path"),
        ('{"mode": "text2video", "parameters": {"prompt": "a", "seed": ' + "9" * 301 + "}}", "seed must be between"),
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ('{"mode": "text2video", "parameters": ' + '{"a": ' * 20 + "1" + "}" * 21, "nested"),
        ('{"mode": "text2video", "parameters": {"prompt": "a", "colour": "red"}}', "Unknown parameter colour"),
        ('{"mode": "text2video", "parameters": {"prompt": "a", "scheduler": "evil"}}', "Scheduler must be one of"),
        ('{"mode": "text2video", "parameters": {"prompt": "a", "output_format": "exe"}}', "Output format"),
        ('{"mode": "text2video", "parameters": {"prompt": "a", "video_length": {"n": 8}}}', "Video length"),
        ('{"mode": "text2video", "parameters": {"prompt": "a", "path": "/tmp/x.mp4"}}', "'parameters.path'"),
        ('{"mode": "text2video", "parameters": {"prompt": "a", "model_name": "/etc"}}', "inside the models folder"),
        ('{"mode": "pose", "parameters": {"prompt": "a"}}', "for the pose mode"),
        ("{not json", "not valid JSON"),
    ],
)
def test_every_bad_card_gets_a_message_naming_what_is_wrong_and_fills_nothing(card_app, tmp_path, content, words):
    answer = drop(card_app, "text2video", card_file(tmp_path, content))
    assert answer["success"] is False
    message = answer["output"].get("error") or ""
    assert words in message, message
    assert len(message) < 2000 and "Traceback" not in message


def test_a_video_without_a_card_says_so_on_the_page(card_app):
    answer = drop(card_app, "text2video", Path(example("cat_zoom.mp4")))
    assert answer["success"] is False and "carries no generation card" in answer["output"]["error"]


def test_a_good_card_fills_the_tab_and_says_which_input_to_upload(card_app, tmp_path):
    from clip_files import InputFile

    reference = InputFile("dance.mp4", "ab" * 32, b"").reference
    card = {"mode": "pose", "parameters": {"prompt": "a robot", "video_path": reference, "seed": 5, **FAST}}
    answer = drop(card_app, "pose", card_file(tmp_path, card))
    assert answer["success"], answer
    assert answer["output"]["data"][0]["prompt"] == "a robot"  # the checked values, which then fill the tab
    assert served_files(answer["output"]) == []
    assert any("Upload 'dance.mp4' (sha256 abababababab" in log for log in answer["log"]), answer["log"]


# ------------------------------------------------------------------------------------------ portable cards
@pytest.fixture(scope="module")
def model(tiny_models, tmp_path_factory):
    settings = Settings.from_env().with_tiny_models()
    return Model(settings=dataclasses.replace(settings, output_dir=tmp_path_factory.mktemp("portable")))


def all_text(path: Path) -> str:
    return sidecar(path).read_text() + (card_text_of_video(path) or "")


def test_a_card_names_its_inputs_by_content_and_they_are_kept_beside_it(model, tmp_path):
    from PIL import Image

    image = tmp_path / "uploads-of-the-server" / "first frame.png"
    image.parent.mkdir()
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(image)
    made = model.text2video("a cat", image=str(image), video_length=2, **FAST)
    for text in (sidecar(made.path).read_text(), card_text_of_video(made.path)):
        assert str(image.parent) not in text and "uploads-of-the-server" not in text  # no server path anywhere
    reference = made.card.parameters["image"]
    assert reference["file"] == "first frame.png" and len(reference["sha256"]) == 64
    kept = Path(made.path).parent / "inputs"
    assert [p.name for p in kept.iterdir()] == [f"{reference['sha256'][:16]}-first_frame.png"]
    # Another machine: the clip's folder copied elsewhere, the original upload gone.
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for path in (Path(made.path), sidecar(made.path), *kept.iterdir()):
        target = moved / path.relative_to(Path(made.path).parent)
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(path.read_bytes())
    image.unlink()
    again = model.run_card(moved / Path(made.path).name)
    assert np.array_equal(read_video(again.path)[0], read_video(made.path)[0])


def test_an_array_image_is_kept_as_a_png_and_reproduces(model):
    picture = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    made = model.text2video("a cat", image=picture, video_length=2, **FAST)
    assert made.card.parameters["image"]["file"] == "image.png"
    again = model.run_card(sidecar(made.path))
    assert np.array_equal(read_video(again.path)[0], read_video(made.path)[0])


def test_reproducing_without_the_input_says_which_file_is_needed(model, tmp_path):
    video = tmp_path / "my dance.mp4"
    video.write_bytes(Path(example("cat_zoom.mp4")).read_bytes())
    made = model.controlnet_canny(str(video), "a tiger", max_frames=2, **FAST)
    card = Card.read(sidecar(made.path)).model_dump()
    (tmp_path / "cards").mkdir()
    loose = tmp_path / "cards" / "loose.json"
    loose.write_text(json.dumps(card))  # a card on its own, nothing beside it
    with pytest.raises(CardError, match="made from the file 'my dance.mp4' .* put that file beside the card"):
        model.run_card(loose)
    again = model.run_card(loose, inputs=tmp_path)  # the folder holding it, by its own name
    assert np.array_equal(read_video(again.path)[0], read_video(made.path)[0])
    video.write_bytes(b"another file of the same name")
    with pytest.raises(CardError, match="my dance.mp4"):
        model.run_card(loose, inputs=tmp_path)  # the content decides, not the name


def test_clips_of_one_input_share_its_kept_copy_and_the_pruner_removes_it(model, tmp_path):
    import os
    import time

    from utils.video import prune_outputs

    first = model.controlnet_canny(example("cat_zoom.mp4"), "a tiger", max_frames=2, **FAST)
    second = model.controlnet_canny(example("cat_zoom.mp4"), "a lion", max_frames=2, **FAST)
    kept = Path(first.path).parent / "inputs"
    name = f"{first.card.parameters['video_path']['sha256'][:16]}-cat_zoom.mp4"
    assert name in [p.name for p in kept.iterdir()]
    assert second.card.parameters["video_path"] == first.card.parameters["video_path"]
    old = time.time() - 3 * 3600
    for path in [kept / name, Path(first.path), sidecar(first.path), Path(second.path), sidecar(second.path)]:
        os.utime(path, (old, old))
    assert prune_outputs(Path(first.path).parent, 3600) >= 5
    assert not (kept / name).exists()
