"""Zero-shot text-to-video on Stable Diffusion XL: the same method and engine as `TextToVideoZeroPipeline`, with
SDXL's conditioning (two text encoders, pooled text embeddings, size and crop ids)."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders import StableDiffusionXLLoraLoaderMixin
from diffusers.schedulers import KarrasDiffusionSchedulers
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from .base import Conditioning
from .text_to_video_zero import TextToVideoZeroPipeline


class TextToVideoZeroSDXLPipeline(StableDiffusionXLLoraLoaderMixin, TextToVideoZeroPipeline):
    """`TextToVideoZeroSDXLPipeline.from_pretrained("stabilityai/stable-diffusion-xl-base-1.0")`; default 1024 px."""

    model_cpu_offload_seq = "text_encoder->text_encoder_2->unet->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        text_encoder_2: CLIPTextModelWithProjection,
        tokenizer: CLIPTokenizer,
        tokenizer_2: CLIPTokenizer,
        unet: UNet2DConditionModel,
        scheduler: KarrasDiffusionSchedulers,
    ):
        super(TextToVideoZeroPipeline, self).__init__()
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            text_encoder_2=text_encoder_2,
            tokenizer=tokenizer,
            tokenizer_2=tokenizer_2,
            unet=unet,
            scheduler=scheduler,
        )
        self._use_vp_scheduler()

    @torch.no_grad()
    def _encode_sdxl(self, text: str, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate hidden states of both encoders, concatenated, and the second encoder's pooled embedding."""
        states, pooled = [], None
        for tokenizer, encoder in ((self.tokenizer, self.text_encoder), (self.tokenizer_2, self.text_encoder_2)):
            ids = tokenizer(
                text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
            ).input_ids.to(device)
            output = encoder(ids, output_hidden_states=True)
            states.append(output.hidden_states[-2])
            pooled = output[0]  # the projection of the last encoder
        dtype = self.unet.dtype
        return torch.cat(states, dim=-1).to(device=device, dtype=dtype), pooled.to(device=device, dtype=dtype)  # type: ignore[union-attr]

    def conditioning(
        self, prompt: str, negative_prompt: str | None, guidance_scale: float, device, height=None, width=None
    ) -> Conditioning:
        positive, positive_pooled = self._encode_sdxl(prompt, device)
        # Micro-conditioning: original size, crop top-left, target size, as SDXL was trained.
        time_ids = torch.tensor([[height, width, 0, 0, height, width]], device=device, dtype=positive.dtype)
        if guidance_scale <= 1.0:
            return Conditioning([positive], [positive_pooled], time_ids)
        if not negative_prompt:  # SDXL's convention: no negative prompt means zero embeddings
            negative, negative_pooled = torch.zeros_like(positive), torch.zeros_like(positive_pooled)
        else:
            negative, negative_pooled = self._encode_sdxl(negative_prompt, device)
        return Conditioning([negative, positive], [negative_pooled, positive_pooled], time_ids)
