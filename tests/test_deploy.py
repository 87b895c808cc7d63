"""Deployment: the Dockerfile and the Space front matter checked by reading them; launch flags; login; cleanup."""

import dataclasses
import os
import re
import shlex
import time
from pathlib import Path

import pytest

from app import launch_options, parse_args
from settings import Settings
from utils.video import prune_outputs

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        tuple(line.strip().split(None, 1)) for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]


def test_dockerfile_follows_the_space_conventions():
    instructions = dockerfile()
    by_kind = {}
    for kind, rest in instructions:
        by_kind.setdefault(kind, []).append(rest)
    assert by_kind["FROM"][0].startswith("python:3.11")
    assert any("useradd -m -u 1000 user" in run for run in by_kind["RUN"])
    assert by_kind["USER"] == ["user"]
    env = " ".join(by_kind["ENV"])
    assert "HOME=/home/user" in env and "HF_HOME=/data/huggingface" in env
    assert by_kind["WORKDIR"] == ["$HOME/app"]
    assert by_kind["EXPOSE"] == ["7860"]
    command = eval(by_kind["CMD"][0])  # the JSON-array form
    assert command[:2] == ["python", "app.py"] and "0.0.0.0" in command and "7860" in command
    assert parse_args(command[2:]).server_name == "0.0.0.0"


def test_every_file_the_dockerfile_copies_exists():
    for kind, rest in dockerfile():
        if kind == "COPY":
            sources = [part for part in shlex.split(rest) if not part.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text()
    assert ".venv/" in ignored and ".git/" in ignored


def front_matter() -> dict:
    import yaml

    text = (ROOT / "README.md").read_text()
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with the Space's front matter"
    return yaml.safe_load(match.group(1))


def test_space_front_matter_matches_the_project():
    meta = front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and (ROOT / meta["app_file"]).exists()
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    assert str(meta["sdk_version"]) == pins["gradio"]
    assert meta["suggested_hardware"]
    settings = Settings.from_env({})
    for model in (
        settings.sd_model,
        *dict(settings.controlnets).values(),
        settings.pix2pix_model,
        settings.modelscope_model,
        settings.upscale_model,
        *(s.model for s in settings.dreambooth_styles),
    ):
        assert model in meta["models"], model


def test_share_flags_and_login():
    assert parse_args(["--share"]).share and parse_args(["--public_access"]).share
    assert not parse_args([]).share
    settings = Settings.from_env({"T2VZ_AUTH": "ann:secret, bob:pa:ss", "T2VZ_MAX_UPLOAD_MB": "50"})
    options = launch_options(settings, parse_args(["--public_access"]))
    assert options["share"] and options["auth"].__self__.pairs == [("ann", "secret"), ("bob", "pa:ss")]
    assert options["max_file_size"] == 50 * 1024 * 1024
    assert launch_options(Settings.from_env({}), parse_args([]))["auth"] is None
    for bad in ("nopassword", ":secret", "ann:"):
        with pytest.raises(ValueError, match="user:password"):
            launch_options(Settings.from_env({}).with_auth(bad), parse_args([]))


def test_login_is_required_when_set(tiny_models):
    from gradio_client import Client

    from app import build_demo
    from model import Model

    settings = Settings.from_env().with_tiny_models().with_auth("ann:secret")
    demo = build_demo(Model(settings=settings))
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, auth=settings.auth_pairs)
    try:
        with pytest.raises(Exception):  # noqa: B017 (the client's own error type for a refused login varies)
            Client(demo.local_url, auth=("ann", "wrong"), verbose=False)
        client = Client(demo.local_url, auth=("ann", "secret"), verbose=False)
        assert "/text2video" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    finally:
        demo.close()


def test_old_outputs_are_pruned(tmp_path):
    old, new, other = tmp_path / "20200101-000000-aaaa.mp4", tmp_path / "20991231-000000-bbbb.mp4", tmp_path / "a.mp4"
    for path in (old, new, other):
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    os.utime(other, (time.time() - 7200, time.time() - 7200))
    assert prune_outputs(tmp_path, 3600) == 1
    assert not old.exists() and new.exists() and other.exists()  # only this app's own files go


def test_uploads_over_the_size_limit_are_refused(tiny_models, tmp_path):
    from gradio_client import Client, handle_file

    from app import build_demo, launch_options
    from model import Model

    settings = dataclasses.replace(Settings.from_env().with_tiny_models(), max_upload_mb=1)
    demo = build_demo(Model(settings=settings))
    options = launch_options(settings, parse_args([]))
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, max_file_size=options["max_file_size"])
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (2 * 1024 * 1024))
    try:
        client = Client(demo.local_url, verbose=False)
        with pytest.raises(Exception, match="(?i)size|large|413"):  # noqa: B017 (raised by the upload itself)
            client.predict(video_path=handle_file(str(big)), prompt="a cup", api_name="/canny")
    finally:
        demo.close()
