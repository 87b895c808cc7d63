"""Every input of every tab, at and beyond its bounds, sent through the API (which bypasses slider limits).

The app runs on tiny models with T2VZ_MAX_FRAMES=6 and T2VZ_MAX_RESOLUTION=128, so the upper bounds are cheap to
reach. "ok" rows must produce a video; the others must fail with the message shown (a regular expression), after
which the app keeps serving. Values reach the Model as sent: its checks decide, and every message names the field
(Gradio's own bound checks, "Value 17 is greater than maximum value 9", named none).

| tab | input | accepted | bad values get |
|---|---|---|---|
| all | prompt / instruction | any text, 10,000 characters (CLIP reads 77 tokens), non-ASCII | "" -> "is empty" |
| all | model name | hub id, alias, folder in the models root; "" = default | "../x" -> "inside the models folder" |
| SD tabs | model: one file | .safetensors in models root, of the tab's kind | .ckpt: "pickle"; LoRA: "LoRA field" |
| all | model name (unknown) | | "nobody/x" -> "Could not load the model ... HF_HUB_OFFLINE ... --tiny-models" |
| all | seed | -1 (random, reported) .. 2**63-1 | -2, 2**63 -> "seed must be between" |
| SD tabs | LoRA, weight | hub id or .safetensors in models root; -2..2 | "../x" refused; unknown: "not be applied" |
| text2video | resolution | 64..max, multiples of 8 | 100 -> "multiple of 8"; 136 -> "Resolution must be between" |
| text2video | video_length | 1..T2VZ_MAX_FRAMES | 0 / 7 -> "Video length must be between" |
| text2video | chunk_size | 2..; above video_length is clamped with a note | 1 -> "Chunk size must be at least 2" |
| text2video | t0, t1 | 0 <= t0 < t1 <= steps - 1 | t1 >= steps -> "must satisfy ... try t0=.., t1=.." |
| text2video | num_inference_steps | 2..500 | 1 / 501 -> "Steps must be between" |
| text2video | motion x/y | -100..100 | 101 -> "Motion strength x must be between" |
| text2video | merging_ratio | 0..0.9 | 0.95 -> "Merging ratio must be between" |
| text2video | guidance_scale, fps | 0..50, 1..60 | 51, 61 -> "must be between" |
| guided | video | mp4/mov/webm/gif/mkv/avi; a still image = 1 frame; 4K: resized | text, truncated -> "not a video" |
| guided | start_t, end_t | 0 <= start < end, or end = -1 | past the end -> "beyond the end"; end <= start -> "after" |
| guided | input_fps, max_frames | 0.1..120, 1..max | 0 / 121 -> "Frame rate"; 0 / 7 -> "Max frames" |
| canny | low/high threshold | 1..255, low < high | low >= high -> "must be below"; 0 / 256 -> "must be between" |
| guided | controlnet_conditioning_scale | 0..5 | 5.5 -> "must be between" |
| pose | pose_detector | openpose, mediapipe | other -> "Pose detector must be" |
| pix2pix | image_guidance_scale | 0..10 | 10.5 -> "must be between" |
| pix2pix | out_fps | -1 (the input's) or 0.1..120 | 0 / 121 -> "Frame rate" |
| modelscope | num_frames | 1..max | 0 / 7 -> "Frames must be between" |
| modelscope | width, height | 8..max, multiples of 8 | 100 -> "multiple of 8"; 136 -> "Height must be between" |
| modelscope | scheduler | dpm++, ddim, euler, unipc | other -> "Scheduler must be one of" |
| upscale | strength | (0, 1] | 0 -> "above 0"; 1.5 -> "must be between" |
| trained_video | num_frames, size | 1..max (rounded to the family's k x 4 + 1 with a note) | 7 -> "Frames must be" |
| trained_video | model | a Wan, LTX-Video or CogVideoX folder or id | an SD or ModelScope model -> "is a ... model" |
"""

import dataclasses

import pytest

from settings import Settings
from tabs.guided import example
from utils.video import read_video

pytestmark = [pytest.mark.app, pytest.mark.slow]

LONG = "a cat walking on grass, " * 420  # about 10,000 characters
NON_ASCII = "日本の猫が草の上を歩く 🐱, café à Paris"

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
TRAINED = dict(prompt="a panda", model_name="tiny-wan", num_frames=5, num_inference_steps=2, width=64, height=64)
UPSCALE = dict(video_path=example("coffee_pan.mp4"), prompt="a panda", num_inference_steps=2, width=64, height=64)

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
    ("/text2video", TEXT2VIDEO, dict(lora_weight=2.5), "LoRA weight must be between -2.0 and 2.0"),
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
    ("/pix2pix", PIX2PIX, dict(lora_weight=2.5), "LoRA weight must be between -2.0 and 2.0"),
    # text2video: numbers at and beyond their bounds
    ("/text2video", TEXT2VIDEO, dict(resolution=64), "ok"),
    ("/text2video", TEXT2VIDEO, dict(resolution=128), "ok"),
    ("/text2video", TEXT2VIDEO, dict(resolution=100), "multiple of 8"),
    ("/text2video", TEXT2VIDEO, dict(resolution=136), "Resolution must be between 64 and 128"),
    ("/text2video", TEXT2VIDEO, dict(resolution=56), "Resolution must be between 64 and 128"),
    ("/text2video", TEXT2VIDEO, dict(video_length=1), "ok"),
    ("/text2video", TEXT2VIDEO, dict(video_length=6, chunk_size=6), "ok"),
    ("/text2video", TEXT2VIDEO, dict(video_length=0), "Video length must be between 1 and 6"),
    ("/text2video", TEXT2VIDEO, dict(video_length=7), "Video length must be between 1 and 6"),
    ("/text2video", TEXT2VIDEO, dict(chunk_size=6), "ok"),  # above the video length: clamped, with a note
    ("/text2video", TEXT2VIDEO, dict(chunk_size=1), "Chunk size must be at least 2"),
    ("/text2video", TEXT2VIDEO, dict(t0=0, t1=3), "ok"),
    ("/text2video", TEXT2VIDEO, dict(t0=2, t1=2), "must satisfy"),
    ("/text2video", TEXT2VIDEO, dict(t0=1, t1=4), r"try t0=\d+, t1=\d+"),
    ("/text2video", TEXT2VIDEO, dict(num_inference_steps=2, t0=0, t1=1), "ok"),
    ("/text2video", TEXT2VIDEO, dict(num_inference_steps=100), "ok"),
    ("/text2video", TEXT2VIDEO, dict(num_inference_steps=1, t0=0, t1=0), "Steps must be between 2 and"),
    ("/text2video", TEXT2VIDEO, dict(num_inference_steps=20, t0=17, t1=18), "ok"),  # as the t0/t1 hint says
    ("/text2video", TEXT2VIDEO, dict(num_inference_steps=501), "Steps must be between 2 and 500"),
    ("/text2video", TEXT2VIDEO, dict(motion_field_strength_x=-20, motion_field_strength_y=20), "ok"),
    ("/text2video", TEXT2VIDEO, dict(motion_field_strength_x=101), "Motion strength x must be between"),
    ("/text2video", TEXT2VIDEO, dict(merging_ratio=0.9), "ok"),
    ("/text2video", TEXT2VIDEO, dict(merging_ratio=0.95), "Merging ratio must be between 0.0 and 0.9"),
    ("/text2video", TEXT2VIDEO, dict(guidance_scale=0), "ok"),
    ("/text2video", TEXT2VIDEO, dict(guidance_scale=20), "ok"),
    ("/text2video", TEXT2VIDEO, dict(guidance_scale=51), "Guidance scale must be between 0.0 and 50"),
    ("/text2video", TEXT2VIDEO, dict(fps=1), "ok"),
    ("/text2video", TEXT2VIDEO, dict(fps=30), "ok"),
    ("/text2video", TEXT2VIDEO, dict(fps=61), "fps must be between 1 and 60"),
    ("/text2video", TEXT2VIDEO, dict(seed=-1), "ok"),
    ("/text2video", TEXT2VIDEO, dict(seed=2**63 - 1), "ok"),
    ("/text2video", TEXT2VIDEO, dict(seed=-2), "seed must be between -1 and"),
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
    ("/canny", CANNY, dict(start_t=-1), "Start time must be at least 0"),
    ("/canny", CANNY, dict(start_t=1, end_t=2), "ok"),
    ("/canny", CANNY, dict(input_fps=1), "ok"),
    ("/canny", CANNY, dict(input_fps=0), "Frame rate must be between 0.1 and 120"),
    ("/canny", CANNY, dict(input_fps=121), "Frame rate must be between 0.1 and 120"),
    ("/canny", CANNY, dict(max_frames=6), "ok"),
    ("/canny", CANNY, dict(max_frames=0), "Max frames must be between 1 and 6"),
    ("/canny", CANNY, dict(max_frames=7), "Max frames must be between 1 and 6"),
    ("/canny", CANNY, dict(low_threshold=1, high_threshold=255), "ok"),
    ("/canny", CANNY, dict(low_threshold=200, high_threshold=100), "must be below"),
    ("/canny", CANNY, dict(low_threshold=0), "Canny low threshold must be between 1 and 255"),
    ("/canny", CANNY, dict(high_threshold=256), "Canny high threshold must be between 1 and 255"),
    ("/canny", CANNY, dict(controlnet_conditioning_scale=2), "ok"),
    ("/canny", CANNY, dict(controlnet_conditioning_scale=5.5), "ControlNet conditioning scale must be between"),
    ("/canny", CANNY, dict(resolution=100), "multiple of 8"),
    ("/canny_db", dict(CANNY, db_path="tiny-sd-dreambooth"), dict(db_path="../secrets"), "inside the models folder"),
    ("/canny_db", dict(CANNY, db_path="tiny-sd-dreambooth"), dict(db_path="nobody/no-such-db"), "Could not load"),
    ("/depth", CANNY, dict(video_path="TEXT_FILE"), "not a video"),
    ("/pose", POSE, dict(pose_detector="kinect"), "Pose detector must be 'openpose' or 'mediapipe'"),
    ("/pose", POSE, dict(is_skeleton=False, pose_detector="mediapipe"), "ok"),
    # pix2pix
    ("/pix2pix", PIX2PIX, dict(prompt=""), "Instruction is empty"),
    ("/pix2pix", PIX2PIX, dict(image_guidance_scale=5), "ok"),
    ("/pix2pix", PIX2PIX, dict(image_guidance_scale=10.5), "Image guidance scale must be between 0.0 and 10"),
    ("/pix2pix", PIX2PIX, dict(out_fps=30), "ok"),
    ("/pix2pix", PIX2PIX, dict(out_fps=0), "Frame rate"),
    ("/pix2pix", PIX2PIX, dict(out_fps=121), "Frame rate must be between"),
    ("/pix2pix", PIX2PIX, dict(video="CORRUPT_NAME"), "not a video"),
    # modelscope and upscale
    ("/modelscope", MODELSCOPE, dict(prompt=""), "Prompt is empty"),
    ("/modelscope", MODELSCOPE, dict(prompt=LONG), "ok"),
    ("/modelscope", MODELSCOPE, dict(num_frames=6), "ok"),
    ("/modelscope", MODELSCOPE, dict(num_frames=0), "Frames must be between 1 and 6"),
    ("/modelscope", MODELSCOPE, dict(num_frames=7), "Frames must be between 1 and 6"),
    ("/modelscope", MODELSCOPE, dict(width=128, height=64), "ok"),
    ("/modelscope", MODELSCOPE, dict(width=100), "multiple of 8"),
    ("/modelscope", MODELSCOPE, dict(height=136), "Height must be between 8 and 128"),
    ("/modelscope", MODELSCOPE, dict(scheduler="plms"), r"Scheduler must be one of dpm\+\+, ddim, euler, unipc"),
    ("/modelscope", MODELSCOPE, dict(model_name="tiny-sd"), "not a ModelScope"),
    ("/trained_video", TRAINED, dict(prompt=""), "Prompt is empty"),
    ("/trained_video", TRAINED, dict(num_frames=6), "ok"),  # 6 frames became 5 (k x 4 + 1), with a note
    ("/trained_video", TRAINED, dict(num_frames=7), "Frames must be between 1 and 6"),
    ("/trained_video", TRAINED, dict(width=100), "multiple of 8"),
    ("/trained_video", TRAINED, dict(model_name="tiny-ltx", num_frames=1), "ok"),
    ("/trained_video", TRAINED, dict(model_name="tiny-sd"), "is a StableDiffusionPipeline model, not a trained video"),
    ("/trained_video", TRAINED, dict(model_name="tiny-modelscope"), "is a TextToVideoSDPipeline model"),
    ("/trained_video", TRAINED, dict(guidance_scale=51), "Guidance scale must be between"),
    ("/trained_video", TRAINED, dict(shift=25), "Shift must be between 0.1 and 20"),
    ("/trained_video", TRAINED, dict(model_name="tiny-cogvideox", shift=3), "CogVideoX's scheduler has no shift"),
    ("/trained_video", TRAINED, dict(lora="../x"), "inside the models folder"),
    ("/modelscope_upscale", UPSCALE, dict(strength=1.0), "ok"),
    ("/modelscope_upscale", UPSCALE, dict(strength=0), "Strength must be above 0"),
    ("/modelscope_upscale", UPSCALE, dict(strength=1.5), "Strength must be between 0.0 and 1.0"),
]


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
