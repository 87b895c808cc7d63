"""The trained-video tab's video transformers (Wan, LTX-Video, CogVideoX, HunyuanVideo-1.5): a prompt and, where the
model takes one, a first frame; the family's own clip unless the controls say otherwise. Below the result, "Restyle
with my SD model" sends the clip to the depth or edge tab as their input video (`connect_restyle`, wired by the app
once every tab exists): the trained model's motion, the user's SD checkpoint's look."""

from __future__ import annotations

import gradio as gr

from model import Model
from modes import MAX_SHIFT
from registry import Mode
from tabs.common import connect_generation, tab_examples
from tabs.controls import (
    as_playable,
    generate_buttons,
    lora_controls,
    output_section,
    prompt_and_model,
    seed_controls,
)
from tabs.results import result_controls

EXAMPLES = [
    "A cat walks on the grass, realistic style, tracking shot",
    "Waves crashing on a rocky beach at sunset, drone shot",
    "A red fox trotting through fresh snow in a pine forest",
]
OWN = "0: the model's own."
# Where a clip can be restyled: (button label, the mode whose tab takes it as its input video).
RESTYLE_TARGETS = (("Restyle with my SD model (depth)", "depth"), ("Restyle with my SD model (edges)", "canny"))


def clip_controls(settings) -> dict[str, gr.components.Component]:
    """Frames, size, rate, steps and guidance: 0 (guidance empty) is the model family's own. Offline, the tiny
    models start at clips that finish in seconds on a CPU."""
    quick = settings.quick_defaults
    controls = {}
    with gr.Row():
        controls["num_frames"] = gr.Slider(
            label="Frames", info=OWN, minimum=0, maximum=settings.max_frames, value=9 if quick else 0, step=1
        )
        controls["fps"] = gr.Slider(label="Frames per second", info=OWN, minimum=0, maximum=30, value=0, step=1)
    with gr.Row():
        controls["width"], controls["height"] = (
            gr.Slider(
                label=side, info=OWN, minimum=0, maximum=settings.max_resolution, value=64 if quick else 0, step=8
            )
            for side in ("Width", "Height")
        )
    with gr.Row():
        controls["seed"], controls["randomize_seed"] = seed_controls(0)
    with gr.Row():
        controls["num_inference_steps"] = gr.Slider(
            label="Denoising steps", info=OWN, minimum=0, maximum=100, value=4 if quick else 0, step=1
        )
        controls["guidance_scale"] = gr.Slider(
            label="Guidance scale",
            info="-1: the model's own (distilled models: 1).",
            minimum=-1,
            maximum=20,
            value=-1,
            step=0.5,
        )
    return controls


def detail_section() -> dict[str, gr.components.Component]:
    with gr.Accordion("First frame, negative prompt, LoRA and shift", open=False):
        gr.Markdown("A first frame makes the clip from an image: LTX-Video, Wan 2.2 TI2V and the I2V checkpoints.")
        image = gr.Image(
            label="First frame (image-to-video)",
            type="filepath",
            sources=["upload"],
            height=200,
        )
        negative = gr.Textbox(label="Negative prompt", value="")
        lora, weight = lora_controls()
        shift = gr.Slider(
            label="Schedule shift",
            info="More: more steps at high noise (Wan: 3 at 480p, 5 at 720p). 0: the model's own.",
            minimum=0,
            maximum=MAX_SHIFT,
            value=0,
            step=0.5,
        )
    return {"image": image, "negative_prompt": negative, "lora": lora, "lora_weight": weight, "shift": shift}


def create_section(model: Model, mode: Mode) -> gr.Video:
    """The section's controls, wired to the mode's endpoint; returns the result video (the restyle's source)."""
    settings = model.settings
    gr.Markdown(
        "Trained video transformers: Wan 2.1/2.2, LTX-Video, CogVideoX, HunyuanVideo-1.5. The family is read from "
        "the model; each makes its own size and length unless you set them (frames become k x 4 + 1, or k x 8 + 1 "
        "for LTX-Video)."
    )
    with gr.Row():
        with gr.Column(elem_id=f"{mode.name}-controls"):
            prompt, model_name = prompt_and_model(mode.name, settings.video_models, settings.default_video_model)
            options = clip_controls(settings)
            run_button, stop_button = generate_buttons()
            options.update(detail_section())
            output = output_section()
        with gr.Column():
            result, seed_used = result_controls("Generated video", f"{mode.name}-result")
            with gr.Row():
                for label, target in RESTYLE_TARGETS:
                    gr.Button(label, size="sm", elem_id=f"{mode.name}-restyle-{target}")
    tab_examples(model, mode, [[e] for e in EXAMPLES], {"prompt": prompt}, [result, seed_used])
    randomize = options.pop("randomize_seed")
    controls = {"prompt": prompt, "model_name": model_name, **options, **output}
    connect_generation(run_button.click, model, mode, controls, [result, seed_used], randomize, stop=stop_button)
    return result


def connect_restyle(demo: gr.Blocks, tabs: gr.Tabs, source: str, tab_ids: dict[str, str]) -> None:
    """Each restyle button puts the clip of the `source` mode's result into its target tab's input video and
    opens that tab (`tab_ids`: mode -> the id of its tab). Only this browser's clip moves: the page's own value."""
    blocks = {getattr(block, "elem_id", None): block for block in demo.blocks.values()}
    result = blocks[f"{source}-result"]
    for _, target in RESTYLE_TARGETS:
        button, video = blocks.get(f"{source}-restyle-{target}"), blocks.get(f"{target}-video")
        if button is None or video is None or target not in tab_ids:
            continue

        def send(path, tab=tab_ids[target]):
            if not path:
                raise gr.Error("Generate a clip first: the restyle sends this tab's result to the SD tab.")
            return as_playable(path) if path.lower().endswith(".gif") else path, gr.Tabs(selected=tab)

        button.click(send, [result], [video, tabs], queue=False, api_visibility="private")
