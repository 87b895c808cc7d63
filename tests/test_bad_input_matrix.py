"""Every input of every tab, at and beyond its bounds, sent through the API (which bypasses slider limits).

The app runs on tiny models with T2VZ_MAX_FRAMES=6 and T2VZ_MAX_RESOLUTION=128, so the upper bounds are cheap to
reach. "ok" rows must produce a video; the others must fail with the message shown (a regular expression), after
which the app keeps serving. Gradio checks slider and number bounds itself ("greater than maximum value N"); the
Model checks everything else with a message that names the parameter.

| tab | input | accepted | bad values get |
|---|---|---|---|
| all | prompt / instruction | any text, 10,000 characters (CLIP reads 77 tokens), non-ASCII | "" -> "is empty" |
| all | model name | hub id, alias, folder in the models root; "" = default | "../x" -> "inside the models folder" |
| SD tabs | model: one file | .safetensors in models root, of the tab's kind | .ckpt: "pickle"; LoRA: "LoRA field" |
| all | model name (unknown) | | "nobody/x" -> "Could not load the model ... HF_HUB_OFFLINE ... --tiny-models" |
| all | seed | -1 (random, reported) .. 2**63-1 | -2 -> "less than minimum value -1"; 2**63 -> "seed must be between" |
| SD tabs | LoRA, weight | hub id or .safetensors in models root; -2..2 | "../x" refused; unknown: "not be applied" |
| text2video | resolution | 64..max, multiples of 8 | 100 -> "multiple of 8"; 136 -> "greater than maximum" |
| text2video | video_length | 1..T2VZ_MAX_FRAMES | 0 / 7 -> slider bound message |
| text2video | chunk_size | 2..; above video_length is clamped with a note | 1 -> "less than minimum value 2" |
| text2video | t0, t1 | 0 <= t0 < t1 <= steps - 1 | t1 >= steps -> "must satisfy ... try t0=.., t1=.." |
| text2video | num_inference_steps | 2..100 | 1 / 101 -> bound message |
| text2video | motion x/y | -20..20 | 21 -> bound message |
| text2video | merging_ratio | 0..0.9 | 0.95 -> bound message |
| text2video | guidance_scale, fps | 0..20, 1..30 | 21, 31 -> bound message |
| guided | video | mp4/mov/webm/gif/mkv/avi; a still image = 1 frame; 4K: resized | text, truncated -> "not a video" |
| guided | start_t, end_t | 0 <= start < end, or end = -1 | past the end -> "beyond the end"; end <= start -> "after" |
| guided | input_fps, max_frames | 1..30, 1..max | 0 / 31, 0 -> bound message |
| canny | low/high threshold | 1..255, low < high | low >= high -> "must be below"; 0 / 256 -> bound message |
| guided | controlnet_conditioning_scale | 0..2 | 2.5 -> bound message |
| pose | pose_detector | openpose, mediapipe | other -> "not in the list of choices" |
| pix2pix | image_guidance_scale | 0..5 | 5.5 -> bound message |
| pix2pix | out_fps | -1 (the input's) or 1..30 | 0 -> "Frame rate"; 31 -> bound message |
| modelscope | num_frames | 1..max | 0 / 7 -> bound message |
| modelscope | width, height | 64..max, multiples of 8 | 100 -> "multiple of 8" |
| modelscope | scheduler | dpm++, ddim, euler, unipc | other -> "not in the list of choices" |
| upscale | strength | (0, 1] | 0 / 1.5 -> bound message |
"""

import dataclasses
import subprocess

import imageio_ffmpeg
import pytest

from settings import Settings
from tabs.guided import example
from utils.video import read_video

pytestmark = pytest.mark.app

LONG = "a cat walking on grass, " * 420  # about 10,000 characters
NON_ASCII = "日本の猫が草の上を歩く 🐱, café à Paris"
BOUND = "(greater than maximum|less than minimum)"

TEXT2VIDEO = dict(
    prompt="a cat",
    model_name="tiny-sd",
    resolution=64,
    num_inference_steps=4,
    t0=1,
    t1=2,
    video_length=2,
    chunk_size=2,
)
CANNY = dict(
    video_path=example("coffee_pan.mp4"),
    prompt="a cup",
    resolution=64,
    num_inference_steps=2,
    max_frames=2,
    input_fps=4,
)
POSE = dict(CANNY, video_path=example("skeleton_walk.mp4"), is_skeleton=True)
PIX2PIX = dict(
    video=example("coffee_pan.mp4"), prompt="make it night", resolution=64, num_inference_steps=2, max_frames=2
)
MODELSCOPE = dict(prompt="a panda", num_frames=2, num_inference_steps=2, width=64, height=64)
UPSCALE = dict(prompt="a panda", num_inference_steps=2, width=64, height=64)

ROWS = [
    # text2video: text
    ("/text2video", TEXT2VIDEO, dict(prompt=""), "Prompt is empty"),
    ("/text2video", TEXT2VIDEO, dict(prompt="   "), "Prompt is empty"),
    ("/text2video", TEXT2VIDEO, dict(prompt=LONG), "ok"),
    ("/text2video", TEXT2VIDEO, dict(prompt=NON_ASCII, n_prompt=NON_ASCII, watermark=NON_ASCII), "ok"),
    ("/text2video", TEXT2VIDEO, dict(n_prompt=LONG), "ok"),
    ("/text2video", TEXT2VIDEO, dict(model_name=""), "ok"),  # empty: the default model
    ("/text2video", TEXT2VIDEO, dict(model_name="../../etc"), "inside the models folder"),
    ("/text2video", TEXT2VIDEO, dict(model_name="nobody/no-such-model"), "Could not load the model"),
    ("/text2video", TEXT2VIDEO, dict(lora="../../etc/style.safetensors"), "inside the models folder"),
    ("/text2video", TEXT2VIDEO, dict(lora="nobody/no-such-lora"), "could not be applied"),
    ("/text2video", TEXT2VIDEO, dict(lora_weight=2.5), BOUND),
    # single-file checkpoints in the models root (written by the `models_root` fixture)
    ("/text2video", TEXT2VIDEO, dict(model_name="sd-file.safetensors"), "ok"),
    ("/text2video", TEXT2VIDEO, dict(model_name="sdxl-file.safetensors"), "ok"),
    ("/text2video", TEXT2VIDEO, dict(model_name="sdxl-file.safetensors", resolution=100), "multiple of 8"),
    ("/text2video", TEXT2VIDEO, dict(model_name="x.ckpt"), "pickle checkpoint"),
    ("/text2video", TEXT2VIDEO, dict(model_name="notes.safetensors"), "is not a checkpoint"),
    ("/text2video", TEXT2VIDEO, dict(model_name="style-lora.safetensors"), "LoRA field"),
    ("/text2video", TEXT2VIDEO, dict(model_name="../outside.safetensors"), "inside the models folder"),
    ("/text2video", TEXT2VIDEO, dict(model_name="pix2pix-file.safetensors"), "Instruct-Pix2Pix checkpoint"),
    ("/canny", CANNY, dict(model_name="sd-file.safetensors"), "ok"),
    ("/canny", CANNY, dict(model_name="sdxl-file.safetensors"), "SDXL"),
    ("/pix2pix", PIX2PIX, dict(model_name="pix2pix-file.safetensors"), "ok"),
    ("/pix2pix", PIX2PIX, dict(model_name="sd-file.safetensors"), "this mode takes Instruct-Pix2Pix"),
    ("/pix2pix", PIX2PIX, dict(lora="../../etc/style.safetensors"), "inside the models folder"),
    ("/pix2pix", PIX2PIX, dict(lora="style-lora.safetensors"), "could not be applied"),
    ("/pix2pix", PIX2PIX, dict(lora_weight=2.5), BOUND),
    # text2video: numbers at and beyond their bounds
    ("/text2video", TEXT2VIDEO, dict(resolution=64), "ok"),
    ("/text2video", TEXT2VIDEO, dict(resolution=128), "ok"),
    ("/text2video", TEXT2VIDEO, dict(resolution=100), "multiple of 8"),
    ("/text2video", TEXT2VIDEO, dict(resolution=136), BOUND),
    ("/text2video", TEXT2VIDEO, dict(resolution=56), BOUND),
    ("/text2video", TEXT2VIDEO, dict(video_length=1), "ok"),
    ("/text2video", TEXT2VIDEO, dict(video_length=6, chunk_size=6), "ok"),
    ("/text2video", TEXT2VIDEO, dict(video_length=0), BOUND),
    ("/text2video", TEXT2VIDEO, dict(video_length=7), BOUND),
    ("/text2video", TEXT2VIDEO, dict(chunk_size=6), "ok"),  # above the video length: clamped, with a note
    ("/text2video", TEXT2VIDEO, dict(chunk_size=1), BOUND),
    ("/text2video", TEXT2VIDEO, dict(t0=0, t1=3), "ok"),
    ("/text2video", TEXT2VIDEO, dict(t0=2, t1=2), "must satisfy"),
    ("/text2video", TEXT2VIDEO, dict(t0=1, t1=4), r"try t0=\d+, t1=\d+"),
    ("/text2video", TEXT2VIDEO, dict(num_inference_steps=2, t0=0, t1=1), "ok"),
    ("/text2video", TEXT2VIDEO, dict(num_inference_steps=100), "ok"),
    ("/text2video", TEXT2VIDEO, dict(num_inference_steps=1, t0=0, t1=0), BOUND),
    ("/text2video", TEXT2VIDEO, dict(num_inference_steps=101), BOUND),
    ("/text2video", TEXT2VIDEO, dict(motion_field_strength_x=-20, motion_field_strength_y=20), "ok"),
    ("/text2video", TEXT2VIDEO, dict(motion_field_strength_x=21), BOUND),
    ("/text2video", TEXT2VIDEO, dict(merging_ratio=0.9), "ok"),
    ("/text2video", TEXT2VIDEO, dict(merging_ratio=0.95), BOUND),
    ("/text2video", TEXT2VIDEO, dict(guidance_scale=0), "ok"),
    ("/text2video", TEXT2VIDEO, dict(guidance_scale=20), "ok"),
    ("/text2video", TEXT2VIDEO, dict(guidance_scale=21), BOUND),
    ("/text2video", TEXT2VIDEO, dict(fps=1), "ok"),
    ("/text2video", TEXT2VIDEO, dict(fps=30), "ok"),
    ("/text2video", TEXT2VIDEO, dict(fps=31), BOUND),
    ("/text2video", TEXT2VIDEO, dict(seed=-1), "ok"),
    ("/text2video", TEXT2VIDEO, dict(seed=2**63 - 1), "ok"),
    ("/text2video", TEXT2VIDEO, dict(seed=-2), BOUND),
    ("/text2video", TEXT2VIDEO, dict(seed=2**63), "seed must be between"),
    # guided: files, times, rates, thresholds, scales
    ("/canny", CANNY, dict(prompt=""), "Prompt is empty"),
    ("/canny", CANNY, dict(prompt=NON_ASCII), "ok"),
    ("/canny", CANNY, dict(video_path="TEXT_FILE"), "not a video"),
    ("/canny", CANNY, dict(video_path="TRUNCATED"), "not a video|could not be decoded"),
    ("/canny", CANNY, dict(video_path="IMAGE"), "ok"),
    ("/canny", CANNY, dict(video_path="HUGE"), "ok"),
    ("/canny", CANNY, dict(start_t=30), "beyond the end"),
    ("/canny", CANNY, dict(start_t=1, end_t=0.5), "after the start"),
    ("/canny", CANNY, dict(start_t=-1), BOUND),
    ("/canny", CANNY, dict(start_t=1, end_t=2), "ok"),
    ("/canny", CANNY, dict(input_fps=1), "ok"),
    ("/canny", CANNY, dict(input_fps=0), BOUND),
    ("/canny", CANNY, dict(input_fps=31), BOUND),
    ("/canny", CANNY, dict(max_frames=6), "ok"),
    ("/canny", CANNY, dict(max_frames=0), BOUND),
    ("/canny", CANNY, dict(max_frames=7), BOUND),
    ("/canny", CANNY, dict(low_threshold=1, high_threshold=255), "ok"),
    ("/canny", CANNY, dict(low_threshold=200, high_threshold=100), "must be below"),
    ("/canny", CANNY, dict(low_threshold=0), BOUND),
    ("/canny", CANNY, dict(high_threshold=256), BOUND),
    ("/canny", CANNY, dict(controlnet_conditioning_scale=2), "ok"),
    ("/canny", CANNY, dict(controlnet_conditioning_scale=2.5), BOUND),
    ("/canny", CANNY, dict(resolution=100), "multiple of 8"),
    ("/canny_db", dict(CANNY, db_path="tiny-sd-dreambooth"), dict(db_path="../secrets"), "inside the models folder"),
    ("/canny_db", dict(CANNY, db_path="tiny-sd-dreambooth"), dict(db_path="nobody/no-such-db"), "Could not load"),
    ("/depth", CANNY, dict(video_path="TEXT_FILE"), "not a video"),
    ("/pose", POSE, dict(pose_detector="kinect"), "not in the list of choices|Pose detector"),
    ("/pose", POSE, dict(is_skeleton=False, pose_detector="mediapipe"), "ok"),
    # pix2pix
    ("/pix2pix", PIX2PIX, dict(prompt=""), "Instruction is empty"),
    ("/pix2pix", PIX2PIX, dict(image_guidance_scale=5), "ok"),
    ("/pix2pix", PIX2PIX, dict(image_guidance_scale=5.5), BOUND),
    ("/pix2pix", PIX2PIX, dict(out_fps=30), "ok"),
    ("/pix2pix", PIX2PIX, dict(out_fps=0), "Frame rate"),
    ("/pix2pix", PIX2PIX, dict(out_fps=31), BOUND),
    ("/pix2pix", PIX2PIX, dict(video="CORRUPT_NAME"), "not a video"),
    # modelscope and upscale
    ("/modelscope", MODELSCOPE, dict(prompt=""), "Prompt is empty"),
    ("/modelscope", MODELSCOPE, dict(prompt=LONG), "ok"),
    ("/modelscope", MODELSCOPE, dict(num_frames=6), "ok"),
    ("/modelscope", MODELSCOPE, dict(num_frames=0), BOUND),
    ("/modelscope", MODELSCOPE, dict(num_frames=7), BOUND),
    ("/modelscope", MODELSCOPE, dict(width=128, height=64), "ok"),
    ("/modelscope", MODELSCOPE, dict(width=100), "multiple of 8"),
    ("/modelscope", MODELSCOPE, dict(height=136), BOUND),
    ("/modelscope", MODELSCOPE, dict(scheduler="plms"), "not in the list of choices|Scheduler"),
    ("/modelscope", MODELSCOPE, dict(model_name="tiny-sd"), "not a ModelScope"),
    ("/modelscope_upscale", UPSCALE, dict(strength=1.0), "ok"),
    ("/modelscope_upscale", UPSCALE, dict(strength=0), BOUND),
    ("/modelscope_upscale", UPSCALE, dict(strength=1.5), BOUND),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    text = folder / "notes.mp4"
    text.write_text("not a video at all")
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(open(example("coffee_pan.mp4"), "rb").read()[:1500])
    corrupt = folder / "clip.mov"
    corrupt.write_bytes(b"\x00" * 4096)
    image = folder / "still.png"
    from PIL import Image

    Image.new("RGB", (96, 64), (200, 100, 50)).save(image)
    huge = folder / "4k.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=3840x2160:rate=4",
            "-t",
            "1",
            "-pix_fmt",
            "yuv420p",
            str(huge),
        ],
        check=True,
    )
    return {"TEXT_FILE": text, "TRUNCATED": truncated, "CORRUPT_NAME": corrupt, "IMAGE": image, "HUGE": huge}


@pytest.fixture(scope="module")
def models_root(tiny_models, tmp_path_factory):
    """Single-file checkpoints of the tiny models, and files that are not checkpoints."""
    import torch
    from diffusers import DiffusionPipeline
    from safetensors.torch import save_file

    from utils.ldm_export import save_single_file

    root = tmp_path_factory.mktemp("models")
    for name, family in [("sd-file", "sd"), ("sdxl-file", "sdxl"), ("pix2pix-file", "pix2pix")]:
        save_single_file(
            DiffusionPipeline.from_pretrained(tiny_models[family]).components, root / f"{name}.safetensors"
        )
    (root / "notes.safetensors").write_text("not a checkpoint")
    torch.save({"weights": torch.zeros(1)}, root / "x.ckpt")
    save_file(
        {"lora_unet_down_blocks_0_attn.lora_down.weight": torch.zeros(4, 32)}, str(root / "style-lora.safetensors")
    )
    return root


@pytest.fixture(scope="module")
def client(tiny_models, models_root):
    from gradio_client import Client

    from app import build_demo
    from model import Model

    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models(), max_frames=6, max_resolution=128, models_root=models_root
    )
    model = Model(settings=settings)
    demo = build_demo(model)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        client.predict(**MODELSCOPE, api_name="/modelscope")  # a clip for the upscale rows
        yield client
    finally:
        demo.close()


@pytest.mark.parametrize(
    "endpoint, base, change, expect",
    ROWS,
    ids=[f"{row[0][1:]}-{'-'.join(f'{k}={str(v)[:12]}' for k, v in row[2].items())}" for row in ROWS],
)
def test_row(client, files, endpoint, base, change, expect):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    args = {**base, **change}
    for key in ("video_path", "video"):
        if key in args:
            args[key] = handle_file(str(files.get(args[key], args[key])))
    if expect == "ok":
        result = client.predict(**args, api_name=endpoint)
        video = result[0] if isinstance(result, tuple | list) else result
        frames, _ = read_video(video["video"] if isinstance(video, dict) else video)
        assert len(frames) >= 1
        return
    with pytest.raises(AppError, match=expect) as error:
        client.predict(**args, api_name=endpoint)
    message = str(error.value)
    assert "Traceback" not in message and "/tmp/" not in message and "site-packages" not in message
