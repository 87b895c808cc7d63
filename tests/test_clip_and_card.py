"""A clip and its card are written as one: both whole or neither there, and the message says the real reason."""

from __future__ import annotations

import dataclasses
import errno
from pathlib import Path

import pytest

from errors import OutputError
from model import Model
from settings import Settings

FAST = dict(model_name="tiny-sd", resolution=64, num_inference_steps=2, t0=0, t1=1, video_length=2)


@pytest.fixture
def model(tiny_models, tmp_path) -> Model:
    return Model(settings=dataclasses.replace(Settings.from_env().with_tiny_models(), output_dir=tmp_path / "out"))


def files(model: Model) -> list[Path]:
    return sorted(p for p in model.settings.output_dir.rglob("*") if p.is_file())


def full_disk(error_on: str):
    """Path methods that fail with ENOSPC when they touch a file whose name contains `error_on`."""

    def failing(original):
        def method(self, *args, **kwargs):
            if error_on in self.name:
                raise OSError(errno.ENOSPC, "No space left on device")
            return original(self, *args, **kwargs)

        return method

    return failing


def test_a_full_disk_at_the_card_leaves_neither_clip_nor_card(model, monkeypatch):
    monkeypatch.setattr(Path, "write_bytes", full_disk(".partial.json")(Path.write_bytes))
    with pytest.raises(OutputError, match="no space left on the device"):
        model.text2video("a cat", **FAST)
    assert files(model) == []


def test_a_card_that_cannot_be_put_in_place_takes_the_clip_with_it(model, monkeypatch):
    original = Path.replace

    def replace(self, target):
        if str(target).endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, target)

    monkeypatch.setattr(Path, "replace", replace)
    with pytest.raises(OutputError, match="no space left"):
        model.text2video("a cat", **FAST)
    assert files(model) == []


def test_a_failing_video_leaves_no_card_or_input(model, monkeypatch, tmp_path):
    from PIL import Image

    from utils.video import VideoWriter

    image = tmp_path / "first.png"
    Image.new("RGB", (32, 32), "red").save(image)

    def broken(self, frames):
        raise OutputError("Could not write the video 'x.mp4': the encoder failed.")

    monkeypatch.setattr(VideoWriter, "write", broken)
    with pytest.raises(OutputError, match="encoder failed"):
        model.text2video("a cat", image=str(image), **FAST)
    assert files(model) == []  # the staged card and the kept picture went with it


def test_a_whole_clip_has_its_card_and_its_inputs(model, tmp_path):
    from PIL import Image

    image = tmp_path / "first.png"
    Image.new("RGB", (32, 32), "red").save(image)
    made = model.text2video("a cat", image=str(image), **FAST)
    names = [p.relative_to(model.settings.output_dir).as_posix() for p in files(model)]
    stem = Path(made.path).stem
    assert names == sorted(
        [f"{stem}.json", f"{stem}.mp4", f"inputs/{made.card.parameters['image']['sha256'][:16]}-first.png"]
    )
