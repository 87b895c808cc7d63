"""Input pictures (the first frame of image-to-video): read as RGB arrays, bounded before they are decoded.

A picture's size is read from its header first: one above `MAX_IMAGE_PIXELS` is refused before a byte of it is
decoded (a 20000x20000 PNG of a few kB would otherwise take gigabytes), as videos are bounded by their frame count
and size. Every failure names the file by its own name, never by the server's folder it was uploaded to.
"""

from __future__ import annotations

import warnings
from pathlib import Path, PurePath

import numpy as np

from errors import InputError
from utils.validation import shorten

MAX_IMAGE_PIXELS = 40_000_000  # 40 megapixels: an 8K photograph (7680x4320 = 33 MP) still loads
IMAGE_TYPES = "PNG, JPEG or WebP"


def read_image(value, name: str = "image") -> np.ndarray | None:
    """The picture as an RGB uint8 array: a file path (what the page and the command line send), an array or a PIL
    image (from Python); None or "" for none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (str, PurePath)):
        return _read_file(Path(value), name)
    if isinstance(value, bytes):
        raise InputError(f"The {name} must be a file path, a PIL image or an array, got bytes: save them to a file.")
    if hasattr(value, "convert"):  # a PIL image
        _check_pixels(value.width, value.height, f"The {name}")
        value = value.convert("RGB")
    try:
        array = np.asarray(value)
    except Exception:
        array = np.empty(0)
    if array.dtype == object or array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 8:
        raise InputError(f"The {name} must be an RGB array (height, width, 3), got {_describe(value, array)}.")
    _check_pixels(array.shape[1], array.shape[0], f"The {name}")
    return np.ascontiguousarray(array[..., :3])


def _describe(value, array: np.ndarray) -> str:
    return f"shape {array.shape}" if array.dtype != object and array.size else type(value).__name__


def _check_pixels(width: int, height: int, what: str) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{what} is {width}x{height} pixels ({width * height / 1e6:,.0f} megapixels), above the limit of "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels: use a smaller picture (the clip is made at most "
            "a few hundred pixels wide anyway)."
        )


def _read_file(path: Path, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    what = f"Could not read the {name} '{shorten(path.name)}': it"
    if path.suffix.lower() == ".svg":
        raise InputError(f"{what} is an SVG drawing; give a {IMAGE_TYPES} picture.")
    try:
        if path.stat().st_size == 0:
            raise InputError(f"{what} is empty (0 bytes); give a {IMAGE_TYPES} picture.")
    except OSError:
        raise InputError(f"{what} does not exist or cannot be opened; give a {IMAGE_TYPES} picture.") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # bounded here, below
            with Image.open(path) as image:  # reads the header only
                _check_pixels(image.width, image.height, what)
                return np.asarray(image.convert("RGB"))
    except InputError:
        raise
    except Image.DecompressionBombError:
        raise InputError(
            f"{what} claims a size above {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; use a smaller picture."
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{what} is not a picture this app can read; give a {IMAGE_TYPES} file.") from None
    except (OSError, ValueError, SyntaxError, EOFError):  # truncated or damaged data
        raise InputError(f"{what} is damaged (truncated or corrupt); give another {IMAGE_TYPES} file.") from None
