"""Uploads and files: a picture that is not one, or is a decompression bomb, gets a message naming the picture and
the problem (bounded by its pixel count before it is decoded), never a server path; a request naming a server file
instead of an upload gets a message; the API description shows no server path."""

from __future__ import annotations

import json
import struct
import tempfile
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest

from errors import InputError
from tests.helpers import call_raw
from utils.images import MAX_IMAGE_PIXELS, read_image

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(model_name="tiny-sd", resolution=64, num_inference_steps=3, t0=0, t1=1, video_length=2)


def png(width: int, height: int, rows: bytes | None = None, bit_depth: int = 1, colour: int = 0) -> bytes:
    """A PNG of `width` x `height`; without `rows`, all black, compressed row by row (so a huge one is small)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    if rows is None:
        compressor, row = zlib.compressobj(9), b"\x00" * (1 + (width * bit_depth + 7) // 8)
        rows = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bad_pictures(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Each bad picture and words its message must have."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("pictures")
    good = folder / "good.png"
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(good)
    files = {
        "text named .png": ("notes.png", b"just some text, not a picture", "not a picture"),
        "empty": ("empty.png", b"", "empty"),
        "an mp4": ("clip.png", (ROOT / "assets/examples/cat_zoom.mp4").read_bytes(), "not a picture"),
        "a header claiming 65535x65535": ("huge-header.png", png(65535, 65535, rows=b"\x00" * 10), "megapixels"),
        "a real 20000x20000 png": ("bomb.png", png(20000, 20000), "megapixels"),
        "truncated": ("cut.png", good.read_bytes()[:-40], "damaged"),
        "an svg": ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
    }
    made = {}
    for kind, (name, data, words) in files.items():
        (folder / name).write_bytes(data)
        made[kind] = (folder / name, words)
    return made


@pytest.mark.parametrize(
    "kind",
    [
        "text named .png",
        "empty",
        "an mp4",
        "a header claiming 65535x65535",
        "a real 20000x20000 png",
        "truncated",
        "an svg",
    ],
)
def test_bad_pictures_are_refused_by_name_with_their_problem(bad_pictures, kind):
    path, words = bad_pictures[kind]
    with pytest.raises(InputError) as refused:
        read_image(str(path))
    message = str(refused.value)
    assert words in message and f"'{path.name}'" in message and str(path.parent) not in message


def test_a_bomb_is_refused_before_it_is_decoded(bad_pictures):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InputError, match="above 40 megapixels"):
        read_image(str(bad_pictures["a real 20000x20000 png"][0]))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200  # decoded, it would take 400 MB (1 bit) to 1.2 GB (RGB)
    with pytest.raises(InputError, match="above the limit"):
        read_image(np.zeros((1, 1, 3), np.uint8).repeat(MAX_IMAGE_PIXELS // 1000 + 1, 0).repeat(1001, 1))


@pytest.fixture
def upload_app(shared_app):
    return shared_app


@pytest.mark.parametrize(
    "kind", ["text named .png", "empty", "an mp4", "a real 20000x20000 png", "truncated", "an svg"]
)
def test_bad_pictures_uploaded_for_image_to_video_get_a_message_without_a_server_path(upload_app, bad_pictures, kind):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    path, words = bad_pictures[kind]
    client = Client(upload_app, verbose=False)
    with pytest.raises(AppError) as refused:
        client.predict(prompt="a cat", image=handle_file(str(path)), **FAST, api_name="/text2video")
    message = str(refused.value)
    assert words in message and path.name in message, message
    assert tempfile.gettempdir() not in message and "/gradio/" not in message, message


@pytest.mark.parametrize("endpoint", ["canny", "pix2pix", "modelscope_upscale", "text2video"])
def test_a_server_file_named_instead_of_an_upload_gets_a_message(upload_app, endpoint):
    secret = {"path": str(ROOT / "settings.py"), "meta": {"_type": "gradio.FileData"}}
    info = httpx.get(f"{upload_app.rstrip('/')}/gradio_api/info").json()["named_endpoints"][f"/{endpoint}"]
    names = [p["parameter_name"] for p in info["parameters"]]
    file_name = {"text2video": "image", "pix2pix": "video"}.get(endpoint, "video_path")
    defaults = {"prompt": "a cat", file_name: secret}
    values = [
        defaults.get(name, p.get("parameter_default")) for name, p in zip(names, info["parameters"], strict=True)
    ]
    answer = call_raw(upload_app, endpoint, values)
    assert "event: error" in answer
    error = json.loads(answer.split("data: ", 1)[1].splitlines()[0])["error"]
    assert error and "was not uploaded to this app" in error, answer


def test_the_api_description_shows_no_server_path(upload_app):
    text = httpx.get(f"{upload_app.rstrip('/')}/gradio_api/info").text
    assert str(ROOT) not in text and "assets/examples" not in text


@pytest.mark.parametrize(
    "content",
    [
        "ffconcat version 1.0\nfile 'neighbour.mp4'\n",  # a concat list naming another file beside it
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\nneighbour.mp4\n#EXT-X-ENDLIST\n",  # a playlist
    ],
)
def test_a_list_or_playlist_disguised_as_a_video_is_not_followed(tmp_path, content):
    """ffmpeg opens only real video containers for an input: a list would make it read other files of the server
    (or fetch addresses) and hand them back as frames."""
    from utils.video import load_video

    (tmp_path / "neighbour.mp4").write_bytes((ROOT / "assets/examples/cat_zoom.mp4").read_bytes())
    disguised = tmp_path / "holiday.mp4"
    disguised.write_text(content)
    with pytest.raises(InputError, match="'holiday.mp4' is not a video that can be read"):
        load_video(disguised, 64)
