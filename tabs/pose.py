"""Pose tab: a video of people (or a skeleton drawing) guides the video through an OpenPose ControlNet."""

from __future__ import annotations

import gradio as gr

from model import Model
from registry import Mode
from tabs.guided import example, guided_demo

# [video, prompt, is the video already a skeleton drawing]: the photo example has its pose detected.
EXAMPLES = [
    [example("skeleton_walk.mp4"), "an astronaut walking on the moon", True],
    [example("skeleton_wave.mp4"), "a robot waving, cartoon style", True],
    [example("astronaut_pan.mp4"), "a woman in a red dress, oil painting", False],
]


def create_demo(model: Model, mode: Mode) -> gr.Blocks:
    def controls(prompt: gr.Textbox) -> dict:
        return {
            "is_skeleton": gr.Checkbox(label="The video already is a skeleton drawing (use it as it is)", value=True),
            "pose_detector": gr.Radio(
                label="Pose detector for videos of people",
                choices=["openpose", "mediapipe"],
                value=model.settings.default_pose_detector,
            ),
        }

    return guided_demo(
        model,
        title="Pose-guided video",
        description="A pose video drives the motion: upload people moving (poses are detected) or an OpenPose "
        "skeleton drawing, and describe who should move.",
        mode=mode,
        examples=EXAMPLES,
        extra_controls=controls,
        example_controls=("is_skeleton",),
        default_video=example("skeleton_walk.mp4"),
    )
