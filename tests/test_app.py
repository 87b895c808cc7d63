"""The app end to end: launched with offline tiny models, driven through gradio_client like any API user."""

import pytest

from utils.video import read_video

pytestmark = pytest.mark.app

ARGS = dict(
    prompt="a horse galloping on a street",
    model_name="tiny-sd",
    motion_field_strength_x=12,
    motion_field_strength_y=12,
    t0=3,
    t1=5,
    n_prompt="",
    chunk_size=2,
    video_length=4,
    merging_ratio=0.0,
    seed=3,
    randomize_seed=False,
    resolution=64,
    fps=4,
    num_inference_steps=6,
    guidance_scale=7.5,
    watermark="",
)


@pytest.fixture(scope="module")
def client(shared_app):
    from gradio_client import Client

    return Client(shared_app, verbose=False)


def test_text2video_through_the_api(client):
    video, seed = client.predict(**ARGS, api_name="/text2video")
    frames, fps = read_video(video["video"] if isinstance(video, dict) else video)
    assert frames.shape == (4, 64, 64, 3) and fps == 4
    assert seed == 3


def test_randomized_seed_is_reported(client):
    _, seed = client.predict(**{**ARGS, "randomize_seed": True}, api_name="/text2video")
    assert isinstance(seed, int) and seed >= 0


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(prompt=""), "Prompt is empty"),
        (dict(t0=5, t1=3), "t0"),
        (dict(resolution=100), "multiple of 8"),
        # Sliders check their own bounds before the handler runs; Gradio's message says which bound.
        (dict(video_length=100_000), "Video length must be between 1 and 128, got 100000"),
        (dict(merging_ratio=2.0), "Merging ratio must be between 0.0 and 0.9, got 2.0"),
        (dict(seed=-5), "seed must be between -1 and"),
        (dict(model_name="nobody/no-such-model-xyz"), "offline tiny models in the list"),
    ],
)
def test_bad_input_gets_a_message_and_the_app_keeps_serving(client, bad, words):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=words) as error:
        client.predict(**{**ARGS, **bad}, api_name="/text2video")
    assert "Traceback" not in str(error.value)
    video, _ = client.predict(**ARGS, api_name="/text2video")
    assert read_video(video["video"] if isinstance(video, dict) else video)[0].shape[0] == 4


GUIDED = dict(resolution=128, num_inference_steps=3, max_frames=4, input_fps=4, seed=5)


@pytest.mark.parametrize(
    "api_name, video, extra",
    [
        ("/canny", "coffee_pan.mp4", dict(low_threshold=50, high_threshold=150)),
        pytest.param("/depth", "cat_zoom.mp4", {}, marks=pytest.mark.slow),
        pytest.param("/pose", "skeleton_walk.mp4", dict(is_skeleton=True), marks=pytest.mark.slow),
        ("/pose", "astronaut_pan.mp4", dict(is_skeleton=False, pose_detector="mediapipe")),
        pytest.param("/canny_db", "rocket_zoom.mp4", dict(db_path="tiny-sd-dreambooth"), marks=pytest.mark.slow),
    ],
)
def test_guided_tabs_with_an_uploaded_video(client, api_name, video, extra):
    from gradio_client import handle_file

    from tabs.guided import example

    result, seed = client.predict(
        video_path=handle_file(example(video)),
        prompt="a scene",
        **GUIDED,
        **extra,
        show_condition=False,
        api_name=api_name,
    )
    frames, fps = read_video(result["video"] if isinstance(result, dict) else result)
    assert len(frames) == 4 and fps == 4 and seed == 5
    assert max(frames.shape[1:3]) == 128


def test_a_file_that_is_not_a_video_gets_a_message(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(AppError, match="not a video"):
        client.predict(video_path=handle_file(str(fake)), prompt="a scene", **GUIDED, api_name="/canny")


def test_pix2pix_tab_with_an_uploaded_video(client):
    from gradio_client import handle_file

    from tabs.guided import example

    result, seed = client.predict(
        video=handle_file(example("coffee_pan.mp4")),
        prompt="make it night",
        resolution=128,
        num_inference_steps=3,
        max_frames=4,
        seed=9,
        api_name="/pix2pix",
    )
    frames, fps = read_video(result["video"] if isinstance(result, dict) else result)
    assert frames.shape == (4, 96, 128, 3) and fps == 8 and seed == 9


def test_modelscope_tab_and_upscale(client):
    from gradio_client import handle_file

    result, seed = client.predict(
        prompt="a panda", num_frames=4, num_inference_steps=3, seed=2, api_name="/modelscope"
    )
    frames, _ = read_video(result["video"] if isinstance(result, dict) else result)
    assert frames.shape == (4, 64, 64, 3) and seed == 2
    upscaled = client.predict(
        video_path=handle_file(result["video"] if isinstance(result, dict) else result),
        prompt="a panda",
        num_inference_steps=2,
        width=128,
        height=72,
        api_name="/modelscope_upscale",
    )
    assert read_video(upscaled["video"] if isinstance(upscaled, dict) else upscaled)[0].shape == (4, 72, 128, 3)


def test_no_two_controls_of_a_tab_share_a_label_and_help_is_not_in_labels(shared_demo):
    import gradio as gr

    demo, _ = shared_demo

    def controls(block):
        for child in getattr(block, "children", None) or []:
            if isinstance(child, gr.Tab):
                continue  # a tab inside a tab is checked on its own
            if isinstance(child, gr.components.Component) and getattr(child, "label", None):
                yield child
            yield from controls(child)

    tabs = [block for block in demo.blocks.values() if isinstance(block, gr.Tab)]
    assert len(tabs) >= 7
    for tab in tabs:
        labels = [control.label for control in controls(tab) if control.visible is not False]
        if not labels:  # a tab of tabs (the trained-video tab): its own tabs hold the controls
            continue
        assert len(labels) == len(set(labels)), (
            tab.label,
            sorted(label for label in labels if labels.count(label) > 1),
        )
        long = [label for label in labels if len(label) > 60]
        assert long == ["Make a clip again: drop its generation card (.json) or the video itself here"], long
