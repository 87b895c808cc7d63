"""Generation cards: how a clip was made, as data that makes it again.

Every output gets a card: the mode, every parameter of the call (defaults filled in, the seed actually used), each
model's name and revision (a hub commit, or the local folder and a content hash of its weights), the scheduler and
the versions of the packages and of this project. It is written beside the video as JSON (`clip.mp4` ->
`clip.json`) and into the video's metadata (the `comment` tag of an mp4 or WebM). `Model.run_card` makes the clip
again from a card, a card file or a video that carries one.

The card is a versioned schema (`Card`, pydantic): unknown keys, wrong types and unknown modes are refused with a
message naming the key; `Card.model_json_schema()` exports it. A card may leave parameters out: they take their
defaults (the batch files of the command line are such partial cards).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from utils.validation import InputError

CARD_VERSION = 1
PROJECT_VERSION = "0.1.0"
# Card modes and the Model method that makes each.
MODES = {
    "text2video": "text2video",
    "pose": "controlnet_pose",
    "canny": "controlnet_canny",
    "depth": "controlnet_depth",
    "pix2pix": "pix2pix",
    "modelscope": "modelscope",
    "modelscope_upscale": "modelscope_upscale",
}
# Parameters that name where the output goes: a card describes the clip, not where it was put.
OUTPUT_PARAMETERS = ("path", "save_path")


class CardError(InputError):
    """A card that cannot be read: the message names the key and what it takes."""


class ModelRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    revision: str = "unknown"


class Card(BaseModel):
    """A clip's generation card (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid")

    card_version: int = Field(default=CARD_VERSION, ge=1, le=CARD_VERSION)
    mode: Literal["text2video", "pose", "canny", "depth", "pix2pix", "modelscope", "modelscope_upscale"]
    parameters: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, ModelRef] = Field(default_factory=dict)
    scheduler: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    output: str | None = None
    created: str | None = None

    @classmethod
    def read(cls, source: dict | str | Path | Card) -> Card:
        """A card from a dict, a JSON string, a card file, or a video that carries one; `CardError` names what is
        wrong."""
        if isinstance(source, Card):
            return source
        if isinstance(source, (str, Path)) and not str(source).lstrip().startswith("{"):
            path = Path(source)
            if not path.is_file():
                raise CardError(f"No card at '{source}': give a card (.json) or a video made by this app.")
            text = path.read_text() if path.suffix.lower() == ".json" else card_text_of_video(path)
            if text is None:
                raise CardError(f"'{path.name}' carries no generation card.")
            source = text
        if isinstance(source, (str, Path)):
            try:
                source = json.loads(str(source))
            except json.JSONDecodeError as error:
                raise CardError(f"The card is not valid JSON: {error}.") from None
        if not isinstance(source, dict):
            raise CardError(f"A card is a JSON object, got {type(source).__name__}.")
        try:
            return cls.model_validate(source)
        except ValidationError as error:
            raise CardError(describe(error)) from None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def describe(error: ValidationError) -> str:
    """pydantic's errors as one message naming each key."""
    parts = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "card"
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key}' (a card has {', '.join(Card.model_fields)})")
        elif item["type"] == "literal_error" and key == "mode":
            parts.append(f"unknown mode {item.get('input')!r} (modes: {', '.join(MODES)})")
        elif item["type"] == "missing":
            parts.append(f"missing key '{key}'")
        else:
            parts.append(f"'{key}': {item['msg']} (got {item.get('input')!r})")
    return "Bad card: " + "; ".join(parts) + "."


def card_parameters(call) -> dict[str, Any]:
    """Every parameter of a checked call, as JSON values: the seed used, defaults filled in, no output path; an
    image by the file it came from."""
    import dataclasses

    values = {}
    for field in dataclasses.fields(call):
        if field.name == "notes" or field.name in OUTPUT_PARAMETERS:
            continue
        value = getattr(call, field.name)
        if field.name == "image":
            value = getattr(call, "image_source", None)
        elif isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        elif isinstance(value, Path):
            value = str(value)
        values[field.name] = value
    return values


def versions() -> dict[str, str]:
    import diffusers
    import torch
    import transformers

    return {
        "project": PROJECT_VERSION,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
    }


def model_revision(name: str) -> str:
    """A hub model's commit (from the local cache: nothing is downloaded), or a local folder's or file's content
    hash of its weights ("sha256:..."); "unknown" where neither can be told."""
    path = Path(name).expanduser()
    if path.exists():
        files = [path] if path.is_file() else sorted(path.rglob("*.safetensors")) + sorted(path.rglob("*.json"))
        stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
        return _content_hash(stamp)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True)).name
    except Exception:  # not in the cache, or not a hub id
        return "unknown"


@lru_cache(maxsize=64)
def _content_hash(stamp: tuple[tuple[str, int, int], ...]) -> str:
    """sha256 over the files' names (relative) and contents; cached by their paths, sizes and times."""
    digest = hashlib.sha256()
    root = Path(stamp[0][0]).parent if stamp else Path(".")
    for file, _, _ in stamp:
        digest.update(str(Path(file).relative_to(root) if Path(file).is_relative_to(root) else file).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def make_card(mode: str, call, models: dict[str, str], scheduler: str | None, output: Path) -> Card:
    return Card(
        mode=mode,  # type: ignore[arg-type]
        parameters=card_parameters(call),
        models={role: ModelRef(name=name, revision=model_revision(name)) for role, name in models.items() if name},
        scheduler=scheduler,
        versions=versions(),
        output=output.name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def sidecar(video: str | Path) -> Path:
    """Where a video's card is written: beside it, with the suffix .json."""
    return Path(video).with_suffix(".json")


def card_text_of_video(path: str | Path) -> str | None:
    """The card a video carries in its `comment` metadata tag, or None."""
    from imageio_ffmpeg import get_ffmpeg_exe

    result = subprocess.run(
        [get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in _unescape_lines(result.stdout):
        if line.lower().startswith("comment="):
            text = line.split("=", 1)[1]
            return text if text.startswith("{") else None
    return None


def _unescape_lines(text: str) -> list[str]:
    """ffmetadata lines: a backslash escapes '=', ';', '#', '\\' and newlines."""
    lines, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "\n":
            lines.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        lines.append("".join(current))
    return lines
