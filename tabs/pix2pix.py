"""Video Instruct-Pix2Pix tab: edit a video by an instruction."""

from __future__ import annotations

import gradio as gr

from model import Model
from tabs.common import connect_generation, seed_controls
from tabs.guided import example

EXAMPLES = [
    [example("cat_zoom.mp4"), "make it Van Gogh Starry Night style"],
    [example("coffee_pan.mp4"), "make it night"],
    [example("astronaut_pan.mp4"), "turn her into a marble statue"],
    [example("rocket_zoom.mp4"), "make it snow"],
]


def create_demo(model: Model) -> gr.Blocks:
    settings = model.settings
    d = settings.guided_defaults
    with gr.Blocks() as demo:
        gr.Markdown(
            '## Video Instruct-Pix2Pix\nTell the video what to become ("make it night"); every frame is edited the '
            "same way."
        )
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="Input video", sources=["upload"], value=EXAMPLES[0][0])
                prompt = gr.Textbox(label="Instruction", lines=2, placeholder="make it Van Gogh Starry Night style")
                run_button = gr.Button("Edit", variant="primary")
                with gr.Accordion("Advanced options", open=False):
                    model_name = gr.Dropdown(
                        label="Instruct-Pix2Pix model (a Hugging Face id or a local diffusers folder)",
                        choices=[settings.default_pix2pix_model],
                        value=settings.default_pix2pix_model,
                        allow_custom_value=True,
                    )
                    with gr.Row():
                        image_guidance = gr.Slider(
                            label="Image guidance (how closely to keep the input)",
                            minimum=0.0,
                            maximum=5.0,
                            value=1.0,
                            step=0.1,
                        )
                        guidance = gr.Slider(label="Instruction guidance", minimum=0, maximum=20, value=7.5, step=0.5)
                    with gr.Row():
                        resolution = gr.Slider(
                            label="Resolution (long side)",
                            minimum=64,
                            maximum=settings.max_resolution,
                            value=d.resolution,
                            step=8,
                        )
                        num_steps = gr.Slider(
                            label="Denoising steps",
                            minimum=1,
                            maximum=100,
                            value=50 if not settings.tiny_models else d.num_inference_steps,
                            step=1,
                        )
                    with gr.Row():
                        seed, randomize = seed_controls(0)
                    with gr.Row():
                        start_t = gr.Number(label="Start (s)", value=0, minimum=0)
                        end_t = gr.Number(label="End (s, -1 = to the end)", value=-1, minimum=-1)
                    with gr.Row():
                        out_fps = gr.Slider(
                            label="Output frame rate (-1 = the input's)", minimum=-1, maximum=30, value=-1, step=1
                        )
                        max_frames = gr.Slider(
                            label="Max frames", minimum=1, maximum=settings.max_frames, value=d.max_frames, step=1
                        )
                    with gr.Row():
                        chunk_size = gr.Slider(
                            label="Chunk size (frames per pass; lower uses less memory)",
                            minimum=2,
                            maximum=settings.max_frames,
                            value=d.chunk_size,
                            step=1,
                        )
                        merging_ratio = gr.Slider(
                            label="Token merging ratio", minimum=0.0, maximum=0.9, value=0.0, step=0.1
                        )
            with gr.Column():
                result = gr.Video(label="Edited video", format="mp4", autoplay=True, elem_id="pix2pix-result")
                seed_used = gr.Number(label="Seed used", precision=0, interactive=False)

        gr.Examples(examples=EXAMPLES, inputs=[video, prompt])
        controls = {
            "video": video,
            "prompt": prompt,
            "model_name": model_name,
            "image_guidance_scale": image_guidance,
            "guidance_scale": guidance,
            "resolution": resolution,
            "num_inference_steps": num_steps,
            "seed": seed,
            "start_t": start_t,
            "end_t": end_t,
            "out_fps": out_fps,
            "max_frames": max_frames,
            "chunk_size": chunk_size,
            "merging_ratio": merging_ratio,
        }
        connect_generation(
            run_button.click,
            model.pix2pix,
            controls,
            [result, seed_used],
            "pix2pix",
            randomize,
            models_root=settings.models_root,
        )
    return demo
