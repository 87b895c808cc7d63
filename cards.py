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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from clip_files import InputFile, input_files, resolve_inputs
from errors import CardError
from registry import MODES
from utils.validation import quote, shorten
from utils.video import INPUT_DEMUXERS

CARD_VERSION = 2  # 2: input files named by content ({"file", "sha256"}), never by a path of the machine
PROJECT_VERSION = "0.1.0"
# Parameters that name where the output goes: a card describes the clip, not where it was put.
OUTPUT_PARAMETERS = ("path", "save_path")
MAX_CARD_BYTES = 1_000_000  # a card is a few kB; a video's metadata card too
MAX_DEPTH = 8  # levels of nesting in a card (a camera path is 3)


class ModelRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    revision: str = "unknown"


class Card(BaseModel):
    """A clip's generation card (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid")

    card_version: int = Field(default=CARD_VERSION, ge=1, le=CARD_VERSION)
    mode: Literal[tuple(MODES.card_modes)]  # type: ignore[valid-type]  # the registry's kinds of clip
    parameters: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, ModelRef] = Field(default_factory=dict)
    scheduler: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    output: str | None = None
    created: str | None = None
    # The card its input video carried, as read (a restyled clip: the clip it restyled and the model that made it).
    source: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _known_parameters(self) -> Card:
        """Only the parameters of the card's mode (by their own or their other names), and no output path."""
        known = mode_parameters(self.mode)
        for name in self.parameters:
            if name in OUTPUT_PARAMETERS:
                raise ValueError(
                    f"'parameters.{name}': a card says how a clip is made, not where it goes: leave '{name}' out "
                    "(the command line takes --out, the Python API path=)"
                )
            if name not in known:
                raise ValueError(
                    f"Unknown parameter {shorten(name)} ('parameters.{shorten(name)}'): the {self.mode} mode takes "
                    f"{', '.join(sorted(known))}"
                )
        return self

    @classmethod
    def read(cls, source: dict | str | bytes | Path | Card) -> Card:
        """A card from a dict, a JSON text, a card file, or a video that carries one; `CardError` names what is
        wrong (never a Python error: a card is data from anyone)."""
        if isinstance(source, Card):
            return source
        if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith(("{", "["))):
            source = card_text(Path(source))
        if isinstance(source, bytes):
            source = decode(source, "The card")
        if isinstance(source, str):
            source = parse_json(source)
        if not isinstance(source, dict):
            raise CardError(f"A card is a JSON object, got {type(source).__name__}.")
        if (depth := nesting(source)) > MAX_DEPTH:
            raise CardError(f"The card is nested {depth} levels deep; a card has at most {MAX_DEPTH}.")
        try:
            return cls.model_validate(source)
        except ValidationError as error:
            raise CardError(describe(error)) from None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def mode_parameters(mode: str) -> set[str]:
    """The parameters a mode takes (`registry.MODES`: a card's mode, or any mode of the command line), by their
    own names and their other names (`modes.ALIASES`), but the output path."""
    from modes import ALIASES

    own = MODES[mode].parameter_names() - set(OUTPUT_PARAMETERS)
    return own | {
        alias for alias, names in ALIASES.items() if set(names) & own and alias not in (*own, *OUTPUT_PARAMETERS)
    }


def card_text(path: Path) -> str:
    """The text of a card file, or of the card a video carries."""
    name = shorten(path.name)
    try:
        if not path.is_file():
            raise CardError(f"No card at '{shorten(str(path))}': give a card (.json) or a video made by this app.")
        if path.suffix.lower() != ".json":
            text = card_text_of_video(path)
            if text is None:
                raise CardError(f"'{name}' carries no generation card.")
            return text
        if path.stat().st_size > MAX_CARD_BYTES:
            raise CardError(f"'{name}' is {path.stat().st_size:,} bytes: a card is at most {MAX_CARD_BYTES:,}.")
        return decode(path.read_bytes(), f"'{name}'")
    except OSError as error:
        raise CardError(f"The card '{name}' cannot be read: {error.strerror or 'an error of the system'}.") from None


def decode(data: bytes, what: str) -> str:
    if len(data) > MAX_CARD_BYTES:
        raise CardError(f"{what} is {len(data):,} bytes: a card is at most {MAX_CARD_BYTES:,}.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CardError(f"{what} is not UTF-8 text: a card is JSON saved as UTF-8.") from None


def parse_json(text: str) -> Any:
    if len(text) > MAX_CARD_BYTES:
        raise CardError(f"The card is {len(text):,} characters: a card is at most {MAX_CARD_BYTES:,}.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CardError(
            f"The card is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    except RecursionError:
        raise CardError(f"The card is nested too deeply; a card has at most {MAX_DEPTH} levels.") from None
    except ValueError as error:  # an integer of thousands of digits
        raise CardError(f"The card holds a value JSON cannot carry here: {shorten(str(error))}.") from None


def nesting(value: Any) -> int:
    """How many levels of lists and objects `value` has (without recursion: a hostile card may be deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def describe(error: ValidationError) -> str:
    """pydantic's errors as one message naming each key."""
    parts = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "card"
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown key '{shorten(key)}' (a card has {', '.join(Card.model_fields)})")
        elif item["type"] == "literal_error" and key == "mode":
            parts.append(f"unknown mode {quote(item.get('input'))} (modes: {', '.join(MODES.card_modes)})")
        elif item["type"] == "missing":
            parts.append(f"missing key '{key}'")
        elif item["type"] == "value_error":
            parts.append(str(item.get("ctx", {}).get("error", item["msg"])))
        else:
            parts.append(f"'{key}': {item['msg']} (got {quote(item.get('input'))})")
    return "Bad card: " + "; ".join(parts) + "."


def card_with_inputs(source, inputs=None) -> tuple[Card, dict[str, Any]]:
    """A card (`Card.read`) and its parameters with the input files it names found: beside the card file or video
    it was read from, or in `inputs` (a folder or a list of folders)."""
    card = Card.read(source)
    given = [] if inputs is None else [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    folders = [Path(folder) for folder in given]
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith(("{", "["))):
        folders.append(Path(source).parent)
    return card, resolve_inputs(card, folders)


def card_parameters(call, files: dict[str, InputFile] | None = None) -> dict[str, Any]:
    """Every parameter of a checked call, as JSON values: the seed used, defaults filled in, no output path; input
    files by content (`InputFile`)."""
    import dataclasses

    files = input_files(call) if files is None else files
    values = {}
    for field in dataclasses.fields(call):
        if field.name == "notes" or field.name in OUTPUT_PARAMETERS:
            continue
        value = getattr(call, field.name)
        if field.name in call.FILES:
            value = files[field.name].reference if field.name in files else None
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


def make_card(
    mode: str, call, models: dict[str, str], scheduler: str | None, output: Path, files: dict[str, InputFile]
) -> Card:
    return Card(
        mode=mode,  # type: ignore[arg-type]
        parameters=card_parameters(call, files),
        models={role: ModelRef(name=name, revision=model_revision(name)) for role, name in models.items() if name},
        scheduler=scheduler,
        versions=versions(),
        output=output.name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def source_card(video) -> dict[str, Any] | None:
    """The generation card an input video carries (a clip made here), as data, or None: a restyle's card records
    the clip it restyled, and the model that made it, beside its own."""
    if not isinstance(video, str | Path) or not Path(video).is_file():
        return None
    try:
        found = json.loads(card_text_of_video(video) or "null")
    except ValueError:
        return None
    return found if isinstance(found, dict) and "mode" in found else None


def card_text_of_video(path: str | Path) -> str | None:
    """The card a video carries in its `comment` metadata tag, or None."""
    from imageio_ffmpeg import get_ffmpeg_exe

    result = subprocess.run(
        [get_ffmpeg_exe(), "-v", "error", *INPUT_DEMUXERS, "-i", str(path), "-f", "ffmetadata", "-"],
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
