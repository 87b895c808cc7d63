"""The offline profile's tiny AnimateDiff motion adapter: a diffusers `MotionAdapter` folder, loaded through
`from_pretrained`, that fits the tiny SD UNet and makes frames read each other in diffusers' AnimateDiff pipeline."""

import numpy as np
import torch
from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter

from pipelines import TextToVideoZeroPipeline


def test_the_tiny_adapter_plugs_into_the_tiny_sd_and_couples_its_frames(tiny_models):
    adapter = MotionAdapter.from_pretrained(tiny_models["motion-adapter"])
    parts = TextToVideoZeroPipeline.from_pretrained(tiny_models["sd"]).components
    pipe = AnimateDiffPipeline(
        vae=parts["vae"],
        text_encoder=parts["text_encoder"],
        tokenizer=parts["tokenizer"],
        unet=parts["unet"],
        motion_adapter=adapter,
        scheduler=DDIMScheduler.from_config(parts["scheduler"].config),
    )
    pipe.set_progress_bar_config(disable=True)

    def clip(frames: int, seed: int = 0) -> np.ndarray:
        generator = torch.Generator().manual_seed(seed)
        run = dict(num_frames=frames, height=64, width=64, num_inference_steps=3, generator=generator)
        return pipe("a cat", output_type="np", **run).frames[0]

    eight = clip(8)
    assert eight.shape == (8, 64, 64, 3) and np.isfinite(eight).all()
    assert np.abs(np.diff(eight, axis=0)).mean() > 1e-4  # frames differ
    # Temporal attention: the first frames depend on how many frames there are (an image model's would not).
    generator = torch.Generator().manual_seed(0)
    four_noise = torch.randn((1, 4, 4, 8, 8), generator=generator)
    eight_noise = torch.cat([four_noise, torch.randn((1, 4, 4, 8, 8), generator=generator)], dim=2)
    common = dict(height=64, width=64, num_inference_steps=3, output_type="np")
    four = pipe("a cat", num_frames=4, latents=four_noise, **common).frames[0]
    longer = pipe("a cat", num_frames=8, latents=eight_noise, **common).frames[0]
    assert np.abs(four - longer[:4]).max() > 1e-3
