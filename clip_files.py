"""What goes with a clip on disk: its card beside it (`sidecar`), and the input files its card names by content
(`InputFile`: an input video, a first frame), kept in the `inputs` folder beside it so that the folder makes the
clip again anywhere (`resolve_inputs` finds them), all written as one with the video (`ClipFiles`)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from errors import CardError
from registry import MODES
from utils.validation import quote, shorten
from utils.video import INPUTS_FOLDER

if TYPE_CHECKING:
    from cards import Card


def sidecar(video: str | Path) -> Path:
    """Where a video's card is written: beside it, with the suffix .json."""
    return Path(video).with_suffix(".json")


@dataclass(frozen=True)
class InputFile:
    """An input file of a clip (an input video, a first frame), as a card names it: by its own name and its
    content's sha256, never by where it lay on the machine that made the clip. `source` is where it is now: a file,
    or the bytes of a picture given as an array."""

    name: str
    sha256: str
    source: Path | bytes

    @property
    def reference(self) -> dict[str, str]:
        return {"file": self.name, "sha256": self.sha256}

    def kept_name(self, clip: Path) -> Path:
        """Where it is kept: in the `inputs` folder beside the clip, named by its content (clips made from the same
        file share one copy) and its own name."""
        return clip.parent / INPUTS_FOLDER / kept_file_name(self.sha256, self.name)


def kept_file_name(digest: str, name: str) -> str:
    """`<the first 16 hex digits of the sha256>-<the file's name>` (characters a file system may refuse become _)."""
    safe = re.sub(r"[^\w.-]", "_", Path(name).name)[-100:] or "input"
    return f"{digest[:16]}-{safe}"


def input_files(call) -> dict[str, InputFile]:
    """The input files of a checked call, by parameter."""
    files = {}
    for parameter, source in call.input_files().items():
        if isinstance(source, (str, Path)):
            path = Path(source)
            files[parameter] = InputFile(path.name, file_hash(path), path)
        else:  # a picture given as an array: kept as a PNG
            data = png_bytes(source)
            files[parameter] = InputFile(f"{parameter}.png", hashlib.sha256(data).hexdigest(), data)
    return files


def png_bytes(array) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_reference(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"file", "sha256"}


def resolve_inputs(card: Card, folders: list[Path]) -> dict[str, Any]:
    """The card's parameters with each input file it names by content replaced by the path of a file with that
    content: kept in the `inputs` folder of one of `folders` (as `InputFile.kept_name`), or under its own name in
    one of them. A file that cannot be found is an error naming it."""
    parameters = MODES[card.mode].call.own_parameters(card.parameters)
    for parameter in MODES[card.mode].call.FILES:
        value = parameters.get(parameter)
        if value is None or isinstance(value, str):
            continue  # none, or a path a local user wrote (a batch file)
        if not is_reference(value) or not all(isinstance(v, str) for v in value.values()):
            raise CardError(
                f'\'parameters.{parameter}\' names an input file as {{"file": name, "sha256": hash}}, got '
                f"{quote(value)}."
            )
        name, digest = Path(value["file"]).name, value["sha256"].lower()
        candidates = [folder / INPUTS_FOLDER / kept_file_name(digest, name) for folder in folders]
        candidates += [folder / name for folder in folders]
        found = next((c for c in candidates if c.is_file() and file_hash(c) == digest), None)
        if found is None:
            raise CardError(
                f"This card's clip was made from the file '{shorten(name)}' (sha256 {shorten(digest, 16)}) as its "
                f"{parameter}, which is not beside the card: put that file beside the card (or name its folder: "
                "--inputs on the command line, inputs= in Python), then try again."
            )
        parameters[parameter] = str(found)
    return parameters


class ClipFiles:
    """What goes with a clip: its card (`clip.json`) and the input files it was made from (`InputFile`), staged as
    hidden partial files before the video is finished (`stage`), put in place once it is (`commit`), or dropped
    (`discard`). A clip and its card are both whole or neither is there: a full disk at the card removes the clip,
    and the message says why."""

    def __init__(self, video: Path, card: Card, files: dict[str, InputFile]):
        self.video = Path(video)
        self._contents: dict[Path, bytes | Path] = {f.kept_name(self.video): f.source for f in files.values()}
        self._contents[sidecar(self.video)] = card.to_json().encode()  # the card last: it names the others
        self.staged: dict[Path, Path] = {}

    def stage(self) -> None:
        from utils.video import describe_write_error

        try:
            for target, content in self._contents.items():
                if target.parent.name == INPUTS_FOLDER and target.is_file():
                    os.utime(target)  # kept already (named by its content): it lives as long as its newest clip
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = self.staged[target] = partial_name(target)
                if isinstance(content, bytes):
                    partial.write_bytes(content)
                else:
                    shutil.copyfile(content, partial)  # a copy, not a link: its own age for the pruner
        except OSError as error:
            self.discard()
            raise describe_write_error(self.video.name, error) from None

    def commit(self) -> None:
        """Put the staged files in place (the video already is); if that fails, the video goes too."""
        from utils.video import describe_write_error

        done = []
        try:
            for target, partial in self.staged.items():
                partial.replace(target)
                done.append(target)
        except OSError as error:
            for path in [*done, self.video]:
                path.unlink(missing_ok=True)
            self.discard()
            raise describe_write_error(self.video.name, error) from None

    def discard(self) -> None:
        for partial in self.staged.values():
            partial.unlink(missing_ok=True)


def partial_name(path: Path) -> Path:
    """The hidden file a file is written to before it gets its name (the pruner removes those a crash leaves)."""
    import uuid

    from utils.video import PARTIAL

    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}{PARTIAL}{path.suffix}")
