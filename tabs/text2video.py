"""Text2Video tab: zero-shot text-to-video on a Stable Diffusion base."""

from __future__ import annotations

from functools import partial

import gradio as gr

from errors import InputError
from loading import TINY_ALIASES
from model import Model
from modes import CONSISTENCY, ZERO_SHOT, Text2VideoCall
from pipelines.free_init import MAX_FREE_INIT
from pipelines.options import suggest_t0_t1
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
    live_model_search,
    model_info,
    motion_source_control,
    output_section,
    page_helper,
    preset_control,
    prompt_detail_section,
    quality_values,
    seed_controls,
)
from tabs.defaults import sd_model_choices, text2video_defaults
from tabs.results import result_controls
from utils.jobs import RequestRules
from utils.model_names import check_ui_model_name

EXAMPLES = [
    "an astronaut waving the arm on the moon",
    "a sloth surfing on a wakeboard",
    "an astronaut walking on a street",
    "a cute cat walking on grass",
    "a horse is galloping on a street",
    "an astronaut is skiing down the hill",
    "a gorilla walking alone down the street",
    "a gorilla dancing on times square",
    "A panda dancing like crazy on Times Square",
]


MAX_UI_STEPS = 100


def rescale_timesteps(num_inference_steps: float, t0: float, t1: float):
    """Keep t0/t1 valid when the step count changes: out of range, they move to the defaults' fraction; -1 (the
    method's T and T' on any schedule) stays. Their sliders' bounds stay fixed (any t0/t1 of any step count the
    slider offers): the Model's check decides."""
    steps = max(2, int(num_inference_steps))
    if t0 == -1 and t1 == -1:
        return gr.Slider(), gr.Slider()
    if not 0 <= t0 < t1 <= steps - 1:
        t0, t1 = suggest_t0_t1(steps)
    return gr.Slider(value=t0), gr.Slider(value=t1)


# Camera presets: (dx, dy, zoom, rotation) per unit of strength; the paper's diagonal pan (12, 12) is strength 5.
CAMERA_PRESETS = {
    "Diagonal pan (the paper's)": (2.4, 2.4, 0.0, 0.0),
    "Pan right": (2.4, 0.0, 0.0, 0.0),
    "Pan left": (-2.4, 0.0, 0.0, 0.0),
    "Pan up": (0.0, -2.4, 0.0, 0.0),
    "Pan down": (0.0, 2.4, 0.0, 0.0),
    "Zoom in": (0.0, 0.0, 0.01, 0.0),
    "Zoom out": (0.0, 0.0, -0.01, 0.0),
    "Rotate left": (0.0, 0.0, 0.0, 1.0),
    "Rotate right": (0.0, 0.0, 0.0, -1.0),
    "Still": (0.0, 0.0, 0.0, 0.0),
}
DEFAULT_CAMERA, DEFAULT_STRENGTH = "Diagonal pan (the paper's)", 5.0
CAMERA_NUMBERS = ("motion_field_strength_x", "motion_field_strength_y", "motion_zoom", "motion_rotation")
MAX_UI_MOTION = 40


CUSTOM_CAMERA = "Custom"  # the numbers were set by hand (or by a card): no preset's


def camera_motion(preset: str, strength: float):
    """The translation, zoom and rotation sliders for a camera preset at a strength (page only: the sliders are
    what the generation reads, and they can be set by hand). "Custom" leaves them as they are."""
    if preset not in CAMERA_PRESETS:
        return [gr.skip()] * 4
    return [gr.update(value=value) for value in preset_motion(preset, strength)]


def preset_motion(preset: str, strength: float) -> tuple[float, float, float, float]:
    dx, dy, zoom, rotation = CAMERA_PRESETS[preset]
    strength = float(strength or 0)
    return (
        max(-MAX_UI_MOTION, min(MAX_UI_MOTION, round(dx * strength))),
        max(-MAX_UI_MOTION, min(MAX_UI_MOTION, round(dy * strength))),
        round(zoom * strength, 3),
        rotation * strength,
    )


def camera_shown(preset: str, strength: float, *numbers: float):
    """The camera preset as the numbers say: "Custom" once they differ from the preset's at its strength."""
    if preset not in CAMERA_PRESETS:
        return gr.skip()
    wanted = preset_motion(preset, strength)
    same = all(abs(float(a or 0) - float(b)) < 1e-6 for a, b in zip(numbers, wanted, strict=True))
    return gr.skip() if same else gr.update(value=CUSTOM_CAMERA)


def strength_steps(num_inference_steps: float, t0: float | None, t1: float | None) -> int:
    """How many image strengths make a difference, less one: the steps before T' on the default schedule (SD's
    DDIM; another scheduler may differ by a step, which the generation's note then says)."""
    from diffusers import DDIMScheduler

    from pipelines.text_to_video_zero import TextToVideoZeroPipeline

    steps = max(2, int(num_inference_steps))
    if t0 not in (-1, None) or t1 not in (-1, None):
        return max(0, steps - 1 - int(t0 or 0))
    scheduler = DDIMScheduler(steps_offset=1)  # SD's timesteps ("leading", offset 1); the betas do not move them
    scheduler.set_timesteps(steps)
    return TextToVideoZeroPipeline.motion_steps(scheduler.timesteps, None, None)[1]


def snapped_strength(strength: float, before_t_prime: int) -> float:
    """The strength a generation uses for `strength` (`image_start_index`), with `before_t_prime` steps."""
    from pipelines.text_to_video_zero import image_start_index

    if before_t_prime <= 0:
        return 0.0
    return round((before_t_prime - image_start_index(before_t_prime, float(strength))) / before_t_prime, 4)


def image_strength_steps(num_inference_steps: float, t0: float, t1: float, strength: float):
    """The image strength slider in the steps that make a difference (page only: a generation takes any strength
    and says which it used)."""
    before_t_prime = strength_steps(num_inference_steps, t0, t1)
    return gr.update(step=1 / max(1, before_t_prime), value=snapped_strength(strength, before_t_prime))


def own_resolution(model: Model, model_name: str) -> dict:
    """The resolution slider at the chosen model's own size (1024 for SDXL), when that can be told quickly."""
    try:
        name = check_ui_model_name(model_name, model.settings.models_root, TINY_ALIASES)
    except InputError:
        return gr.update()  # the generation will say what is wrong with the name
    size = model.native_resolution(name, RequestRules.web(model.settings))  # the models root only, as a generation
    return gr.update(value=model.settings.own_resolution(size)) if size else gr.update()


def image_controls(d, settings) -> dict[str, gr.components.Component]:
    """Image-to-video: the first frame and how far the model may move from it, in the steps that differ at the
    tab's defaults (`image_strength_steps` keeps them so); with a motion module, the SparseCtrl model that brings
    the image in, and how strongly."""
    before_t_prime = strength_steps(d.num_inference_steps, d.t0, d.t1)
    with gr.Accordion("Start from an image (image-to-video)", open=False):
        return {
            "image": gr.Image(label="First frame", type="filepath", sources=["upload"], height=200),
            "image_strength": gr.Slider(
                label="Image strength",
                info="0: the first frame stays closest to the image; 1: free. It moves in the steps that make a "
                "difference (the schedule's steps before T'); a note says when a value takes effect as its nearest.",
                minimum=0.0,
                maximum=1.0,
                value=snapped_strength(Text2VideoCall.default("image_strength"), before_t_prime),
                step=1 / max(1, before_t_prime),
            ),
            **sparse_control_controls(settings),
        }


def sparse_control_controls(settings) -> dict[str, gr.components.Component]:
    with gr.Row():
        return {
            "sparse_control": gr.Dropdown(
                label="SparseCtrl model (motion module)",
                info="How a motion module takes the image: an RGB SparseCtrl for a picture, a scribble one for a "
                "drawing; an id or a folder.",
                choices=[("the first (RGB)", ""), *settings.sparse_controls],
                value="",
                allow_custom_value=True,
            ),
            "sparse_control_scale": gr.Slider(
                label="SparseCtrl scale", minimum=0.0, maximum=2.0, value=1.0, step=0.05
            ),
        }


def camera_controls() -> tuple[gr.Dropdown, gr.Slider]:
    """The camera preset and its strength (page only: they set the numbers of `camera_detail`)."""
    with gr.Row():
        camera = gr.Dropdown(
            label="Camera", choices=[*CAMERA_PRESETS, CUSTOM_CAMERA], value=DEFAULT_CAMERA, elem_id="camera-preset"
        )
        strength = gr.Slider(label="Camera strength", minimum=0, maximum=10, value=DEFAULT_STRENGTH, step=0.5)
    return camera, strength


def camera_detail(settings) -> dict[str, gr.components.Component]:
    """The numbers the generation reads: translation, zoom and rotation per frame, and a path of its own; for a
    motion module, the camera move's motion LoRA and its strength."""
    with gr.Accordion("Camera detail", open=False):
        with gr.Row():
            motion = {
                "motion_lora": gr.Dropdown(
                    label="Camera LoRA (motion module)",
                    info="AnimateDiff's camera move, for a motion adapter (the camera preset picks it); an id or a "
                    "folder.",
                    choices=[("none", ""), *((f"{preset}: {lora}", lora) for preset, lora in settings.camera_loras)],
                    value="",
                    allow_custom_value=True,
                    elem_id="camera-lora",
                ),
                "motion_lora_weight": gr.Slider(
                    label="Camera LoRA strength", minimum=0, maximum=2, value=1.0, step=0.05
                ),
            }
        with gr.Row():
            motion |= {
                f"motion_field_strength_{axis}": gr.Slider(
                    label=f"Global translation δ{axis}",
                    info="Pixels per frame, of a 512-px frame.",
                    minimum=-MAX_UI_MOTION,
                    maximum=MAX_UI_MOTION,
                    value=Text2VideoCall.default(f"motion_field_strength_{axis}"),
                    step=1,
                )
                for axis in "xy"
            }
        with gr.Row():
            motion["motion_zoom"] = gr.Slider(
                label="Zoom per frame",
                info="0.02: 2 % closer each frame; negative: away.",
                minimum=-0.2,
                maximum=0.2,
                value=0.0,
                step=0.005,
            )
            motion["motion_rotation"] = gr.Slider(
                label="Rotation per frame",
                info="Degrees, counter-clockwise.",
                minimum=-20,
                maximum=20,
                value=0.0,
                step=0.5,
            )
        motion["motion_path"] = gr.Textbox(
            label="Camera path",
            info="Optional, in place of the translation: dx,dy per frame in px of a 512-px frame (0,0; 8,0; 16,4).",
            value="",
        )
    return motion


def paper_section(d) -> dict[str, gr.components.Component]:
    """The paper's knobs: T' and T as step indices (-1: the method's timesteps on any schedule) and its
    ablations (cross-frame attention and the motion field switched off)."""
    with gr.Accordion("Paper ablations and timesteps", open=False):
        controls = {}
        with gr.Row():
            for name, what, timestep, value in (("t0", "T'", 881, d.t0), ("t1", "T", 941, d.t1)):
                controls[name] = gr.Slider(
                    label=f"Timestep {name}",
                    info=f"The step index of {what}; -1: auto ({what} = {timestep} on any schedule).",
                    minimum=-1,
                    maximum=MAX_UI_STEPS - 1,
                    value=-1 if value is None else value,
                    step=1,
                )
        with gr.Row():
            controls["use_cf_attn"] = gr.Checkbox(
                label="Use cross-frame attention", info="Off: the paper's ablation.", value=True
            )
            controls["use_motion_field"] = gr.Checkbox(
                label="Use the motion field", info="Off: the paper's ablation, each frame its own noise.", value=True
            )
    return controls


def free_init_and_background() -> dict[str, gr.components.Component]:
    """FreeInit, then background smoothing toward the first frame's and where its foreground mask comes from."""
    controls = {
        "free_init_iterations": gr.Slider(
            label="FreeInit iterations",
            info="Each runs the frames again from T, keeping the last clip's low frequencies: steadier, one more "
            "pass of the frames each; 0: off.",
            minimum=0,
            maximum=MAX_FREE_INIT,
            value=CONSISTENCY["off"]["free_init_iterations"],
            step=1,
        )
    }
    return controls | background_controls()


def background_controls() -> dict[str, gr.components.Component]:
    """Background smoothing toward the first frame's, and where its foreground mask comes from."""
    with gr.Row():
        return {
            "smooth_bg": gr.Checkbox(label="Smooth the background toward the first frame's", value=False),
            "smooth_bg_strength": gr.Slider(
                label="Background smoothing strength", minimum=0.0, maximum=1.0, value=0.4, step=0.05
            ),
            "smooth_bg_mask": gr.Radio(
                label="Foreground from",
                choices=[("the prompt's attention", "attention"), ("person segmentation", "person")],
                value="attention",
            ),
        }


def clip_controls(settings, d) -> dict[str, gr.components.Component]:
    """What every clip sets: its length, rate and size."""
    with gr.Row():
        return {
            "video_length": gr.Slider(
                label="Video length (frames)", minimum=1, maximum=settings.max_frames, value=d.video_length, step=1
            ),
            "fps": gr.Slider(label="Frames per second", minimum=1, maximum=30, value=d.fps, step=1),
            "resolution": gr.Slider(
                label="Resolution", minimum=64, maximum=settings.max_resolution, value=d.resolution, step=8
            ),
        }


def sampling_controls(d) -> dict[str, gr.components.Component]:
    """Steps and guidance."""
    with gr.Row():
        return {
            "num_inference_steps": gr.Slider(
                label="Denoising steps", minimum=2, maximum=MAX_UI_STEPS, value=d.num_inference_steps, step=1
            ),
            "guidance_scale": gr.Slider(
                label="Guidance scale", minimum=0, maximum=20, value=Text2VideoCall.default("guidance_scale"), step=0.5
            ),
        }


def create_demo(model: Model, mode: Mode) -> gr.Blocks:
    settings = model.settings
    d = text2video_defaults(settings)
    with gr.Blocks() as demo:
        gr.Markdown(
            "## Text2Video-Zero: video from a prompt\n"
            "A Stable Diffusion model turned into a video generator, with no training: frames share the first "
            "frame's attention and drift along a global motion."
        )
        with gr.Row():
            with gr.Column(elem_id=f"{mode.name}-controls"):
                # In view: what a person sets for every clip. Below, closed: the rest, by what it is for.
                prompt = gr.Textbox(label="Prompt", placeholder="a horse galloping on a street", lines=2)
                model_name = gr.Dropdown(
                    label="Model",
                    info=model_info(settings.models_root),
                    choices=sd_model_choices(settings),
                    value=settings.default_sd_model,
                    allow_custom_value=True,
                    elem_id=f"{mode.name}-model",
                )
                motion_source = motion_source_control(settings, f"{mode.name}-motion-source", "the camera and the ")
                preset = preset_control()
                level = consistency_control()
                clip = clip_controls(settings, d)
                with gr.Row():
                    seed, randomize = seed_controls(Text2VideoCall.default("seed"))
                camera, camera_strength = camera_controls()
                sampling = sampling_controls(d)
                run_button, stop_button = generate_buttons()
                image = image_controls(d, settings)
                motion = camera_detail(settings)
                detail = prompt_detail_section()
                consistency = consistency_section(
                    settings.max_frames, d.chunk_size, free_init_and_background, motion=True
                )
                output = output_section(lambda: {"watermark": gr.Textbox(label="Watermark text", value="")})
                paper = paper_section(d)
            with gr.Column():
                result, seed_used = result_controls("Generated video", f"{mode.name}-result")

        tab_examples(model, mode, [[e] for e in EXAMPLES], {"prompt": prompt}, [result, seed_used])
        live_model_search(model_name, sd_model_choices(settings), settings.models_root, settings.hub_search)
        private = {"queue": False, "api_visibility": "private"}
        resolution = clip["resolution"]
        model_name.change(page_helper(partial(own_resolution, model)), [model_name], [resolution], **private)
        steps, t0, t1 = sampling["num_inference_steps"], paper["t0"], paper["t1"]
        steps.change(page_helper(rescale_timesteps), inputs=[steps, t0, t1], outputs=[t0, t1], **private)
        strength = image["image_strength"]
        for trigger in (steps.change, t0.change, t1.change):
            trigger(page_helper(image_strength_steps), [steps, t0, t1, strength], [strength], **private)
        # The endpoint's positional order, as published (new parameters go last: `tabs.common.ADDED_LATER`).
        controls = {
            "prompt": prompt,
            "model_name": model_name,
            **{name: motion[name] for name in ("motion_field_strength_x", "motion_field_strength_y")},
            "t0": t0,
            "t1": t1,
            "n_prompt": detail["n_prompt"],
            "chunk_size": consistency["chunk_size"],
            "video_length": clip["video_length"],
            "merging_ratio": consistency["merging_ratio"],
            "seed": seed,
            "resolution": resolution,
            "fps": clip["fps"],
            "num_inference_steps": steps,
            "guidance_scale": sampling["guidance_scale"],
            "watermark": output["watermark"],
            "lora": detail["lora"],
            "lora_weight": detail["lora_weight"],
            "output_format": output["output_format"],
            "smooth_fps": output["smooth_fps"],
            "scheduler": detail["scheduler"],
            "feature_reuse": consistency["feature_reuse"],
            "cross_frame": consistency["cross_frame"],
            "motion_zoom": motion["motion_zoom"],
            "motion_rotation": motion["motion_rotation"],
            "motion_path": motion["motion_path"],
            **image,
            **{name: consistency[name] for name in ("smooth_bg", "smooth_bg_strength", "smooth_bg_mask")},
            "use_cf_attn": paper["use_cf_attn"],
            "use_motion_field": paper["use_motion_field"],
            "free_init_iterations": consistency["free_init_iterations"],
            "consistency": level,
            "motion_adapter": motion_source,
            **{name: consistency[name] for name in COHERENCE_OPTIONS},
            **{name: consistency[name] for name in MOTION_WINDOWS},
            **{name: motion[name] for name in ("motion_lora", "motion_lora_weight")},
        }
        quality = quality_values(d.num_inference_steps, Text2VideoCall.default("guidance_scale"), d.t0, d.t1)
        connect_speed_preset(preset, settings, {name: controls[name] for name in quality}, quality, model_name)
        connect_camera(camera, camera_strength, motion, motion_source, dict(settings.camera_loras))
        connect_consistency(level, consistency)
        connect_generation(run_button.click, model, mode, controls, [result, seed_used], randomize, stop=stop_button)
    return demo


def connect_camera(camera: gr.Dropdown, strength: gr.Slider, motion: dict, source: gr.Dropdown, loras: dict) -> None:
    """The preset and its strength set the numbers; numbers that differ from the preset's (set by hand, or by a
    card) show the preset as "Custom", whose strength then changes nothing. With a motion adapter as the source,
    the preset also picks its motion LoRA (`loras`: preset -> LoRA; none for a preset without one)."""
    private = {"queue": False, "api_visibility": "private"}

    def camera_lora(preset: str, motion_source: str):
        return loras.get(preset, "") if motion_source not in (ZERO_SHOT, "", None) else ""

    for trigger in (camera.input, source.input):
        trigger(page_helper(camera_lora), [camera, source], [motion["motion_lora"]], **private)
    numbers = [motion[name] for name in CAMERA_NUMBERS]
    for trigger in (camera.input, strength.input):
        trigger(page_helper(camera_motion), [camera, strength], numbers, **private)
    for number in numbers:
        number.change(page_helper(camera_shown), [camera, strength, *numbers], [camera], **private)
