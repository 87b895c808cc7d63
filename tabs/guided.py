"""What the four guided tabs (pose, canny, canny + DreamBooth, depth) share: video input, the common controls and
their wiring. Each tab module adds its own controls and picks its Model method."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from catalogue import EXAMPLES_DIR
from model import Model
from modes import GuidedCall
from registry import Mode
from tabs.common import connect_generation, tab_examples
from tabs.controls import (
    COHERENCE_OPTIONS,
    MOTION_WINDOWS,
    connect_consistency,
    connect_speed_preset,
    consistency_control,
    consistency_section,
    generate_buttons,
    model_info,
    motion_source_control,
    motion_strength_control,
    output_section,
    preset_control,
    prompt_detail_section,
    quality_values,
    seed_controls,
    video_input,
    video_part_section,
    video_sampling_controls,
)
from tabs.defaults import guided_defaults, guided_model_choices
from tabs.results import result_controls


def example(name: str) -> str:
    return str(EXAMPLES_DIR / name)


def base_model_control(settings) -> dict[str, gr.components.Component]:
    """The base model, among those the guided modes' SD 1.x ControlNets fit."""
    return {
        "model_name": gr.Dropdown(
            label="Base model",
            info=model_info(settings.models_root),
            choices=guided_model_choices(settings),
            value=settings.default_sd_model,
            allow_custom_value=True,
        )
    }


def guidance_controls(steps: int) -> dict[str, gr.components.Component]:
    """The denoising steps, and how strongly the prompt and the condition guide the frames."""
    with gr.Row():
        return {
            "num_inference_steps": gr.Slider(label="Denoising steps", minimum=1, maximum=100, value=steps, step=1),
            "guidance_scale": gr.Slider(
                label="Guidance scale", minimum=0, maximum=20, value=GuidedCall.default("guidance_scale"), step=0.5
            ),
            "controlnet_conditioning_scale": gr.Slider(
                label="ControlNet conditioning scale",
                minimum=0,
                maximum=2,
                value=GuidedCall.default("controlnet_conditioning_scale"),
                step=0.05,
            ),
        }


def guided_demo(
    model: Model,
    title: str,
    description: str,
    mode: Mode,
    examples: list[list],
    extra_controls: Callable[[gr.Textbox], dict[str, gr.components.Component]] = lambda prompt: {},
    default_video: str | None = None,
    base_model: bool = True,
    example_controls: tuple[str, ...] = (),
    page_only: tuple[str, ...] = (),
    prompt_value: str = "",
) -> gr.Blocks:
    """A guided tab: video + prompt (+ the tab's own controls) -> the `model`'s method of `mode`.

    `examples` rows are [video, prompt, *values of `example_controls`] (an example sets every control it needs);
    `extra_controls(prompt)` builds the tab's own controls inside the main column (and may wire them to the
    prompt), named as the mode's parameters, except the `page_only` ones (e.g. a picker that fills other
    controls), which examples may set but the generation never gets. With `base_model=False` the tab's own controls
    name the base model, and the shared base-model field is left out. `prompt_value`: what the prompt starts with.
    """
    settings = model.settings
    d = guided_defaults(settings)
    with gr.Blocks() as demo:
        gr.Markdown(f"## {title}\n{description}")
        with gr.Row():
            with gr.Column(elem_id=f"{mode.name}-controls"):
                # In view: what a person sets for every clip. Below, closed: the rest, by what it is for.
                video = video_input("Input video", f"{mode.name}-video", default_video)
                prompt = gr.Textbox(label="Prompt", lines=2, value=prompt_value)
                extras = extra_controls(prompt)
                base = base_model_control(settings) if base_model else {}
                with gr.Row():
                    motion_source = motion_source_control(settings, f"{mode.name}-motion-source")
                    strength = motion_strength_control(f"{mode.name}-strength")
                preset = preset_control()
                level = consistency_control()
                rate = ("input_fps", "Frames per second to sample", 1, d.input_fps, None)
                sampling = video_sampling_controls(
                    settings.max_frames, d.max_frames, rate, (settings.max_resolution, d.resolution)
                )
                with gr.Row():
                    seed, randomize = seed_controls(GuidedCall.default("seed"))
                guidance = guidance_controls(d.num_inference_steps)
                run_button, stop_button = generate_buttons()
                part = video_part_section()
                detail = prompt_detail_section()
                consistency = consistency_section(settings.max_frames, d.chunk_size, motion=True)
                output = output_section(
                    lambda: {
                        "show_condition": gr.Checkbox(label="Show the condition video beside the result", value=True)
                    }
                )
            with gr.Column():
                result, seed_used = result_controls("Generated video", f"{mode.name}-result")

        example_inputs = {"video_path": video, "prompt": prompt, **{name: extras[name] for name in example_controls}}
        tab_examples(model, mode, examples, example_inputs, [result, seed_used], page_only)
        # The endpoint's positional order, as published (new parameters go last: `tabs.common.ADDED_LATER`).
        controls = {
            "video_path": video,
            "prompt": prompt,
            **{name: control for name, control in extras.items() if name not in page_only},
            **base,
            "n_prompt": detail["n_prompt"],
            "resolution": sampling["resolution"],
            "num_inference_steps": guidance["num_inference_steps"],
            "seed": seed,
            "guidance_scale": guidance["guidance_scale"],
            "controlnet_conditioning_scale": guidance["controlnet_conditioning_scale"],
            "chunk_size": consistency["chunk_size"],
            "merging_ratio": consistency["merging_ratio"],
            "start_t": part["start_t"],
            "end_t": part["end_t"],
            "input_fps": sampling["input_fps"],
            "max_frames": sampling["max_frames"],
            "show_condition": output["show_condition"],
            "lora": detail["lora"],
            "lora_weight": detail["lora_weight"],
            "output_format": output["output_format"],
            "smooth_fps": output["smooth_fps"],
            "scheduler": detail["scheduler"],
            "feature_reuse": consistency["feature_reuse"],
            "cross_frame": consistency["cross_frame"],
            "consistency": level,
            **{name: consistency[name] for name in COHERENCE_OPTIONS},
            "motion_adapter": motion_source,
            "strength": strength,
            **{name: consistency[name] for name in MOTION_WINDOWS},
        }
        connect_consistency(level, consistency)
        quality = quality_values(d.num_inference_steps, GuidedCall.default("guidance_scale"))
        base_name = base.get("model_name") or extras.get("db_path")
        connect_speed_preset(preset, settings, {name: controls[name] for name in quality}, quality, base_name)
        connect_generation(run_button.click, model, mode, controls, [result, seed_used], randomize, stop=stop_button)
    return demo
