"""The rule for model names that come from the web page or its API: Hugging Face ids, hub file addresses, the
offline aliases, or folders and files inside the models root, and nothing else of the server's disk or the web.
The Python API is not restricted."""

from __future__ import annotations

from pathlib import Path

from errors import InputError
from utils.single_file import hub_url, is_single_file
from utils.validation import as_text, shorten

MAX_NAME = 512  # characters of a model name: a hub id is at most 96, a path in the models folder a few dozen


def resolve_web_model_name(value, models_root: Path, aliases=(), what: str = "Model") -> str:
    """Where a model named through the web page or its API loads from: an offline alias as it is, a folder or file
    inside `models_root` as its absolute path (symlinks resolved, so a link cannot lead out), or a Hugging Face id
    or hub file address as it is (a LoRA: a hub id only; diffusers loads no LoRA from a file address). Anything
    else on the server's disk is refused, the working directory included (diffusers would load a local folder of a
    hub id's name), and so is any other web address: the Python API is not restricted."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    name = as_text(what, value)
    if len(name) > MAX_NAME:
        raise InputError(f"{what} name is {len(name):,} characters long: a model name is at most {MAX_NAME}.")
    if name in aliases:
        return name
    root = Path(models_root).resolve()
    outside = InputError(
        f"{what} folders and files must be inside the models folder ({root.name}/): give a Hugging Face id such as "
        "owner/model, or the name of a folder or .safetensors file inside it."
    )
    if "://" in name or name.lower().startswith(("http:", "https:")):
        address = hub_url(name) if what != "LoRA" else None
        if address is None or any(part in ("", ".", "..") for part in address[1].split("/")):
            accepted = "a Hugging Face id (owner/repo)" if what == "LoRA" else "a Hugging Face file address"
            raise InputError(
                f"{what} '{shorten(name)}' is a web address this app does not load from: give {accepted} or a "
                f"file in the models folder ({root.name}/)."
            )
        return name
    if "\0" in name or "\\" in name or name.startswith(("/", "~")) or ".." in name.split("/"):
        raise outside
    candidate = (root / name).resolve()
    if candidate.exists() or ".." in Path(name).parts:
        if candidate == root or not candidate.is_relative_to(root):
            raise outside
        return str(candidate)
    if Path(name).exists():  # a path of the server (relative to its working directory), not a hub id
        raise outside
    parts = name.split("/")
    try:
        if len(parts) > 2 and (what == "LoRA" or not is_single_file(name) or "" in parts or "." in parts):
            raise HFValidationError("a hub id has one slash")
        validate_repo_id("/".join(parts[:2]))
    except HFValidationError as error:
        raise InputError(
            f"{what} '{shorten(name)}' is neither a valid Hugging Face id (owner/model) nor a folder or file in the "
            f"models folder ({root.name}/)."
        ) from error
    return name


def check_ui_model_name(value, models_root: Path, aliases=(), what: str = "Model") -> str:
    """Check a model name from the web page or its API (see `resolve_web_model_name`); returns it unchanged."""
    resolve_web_model_name(value, models_root, aliases, what)
    return as_text(what, value)
