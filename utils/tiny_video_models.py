"""Tiny randomly initialised video transformers (Wan, LTX-Video, CogVideoX, HunyuanVideo-1.5) in diffusers' layout.

Their shapes follow diffusers' own fast tests of each pipeline (a two-layer transformer, a VAE a few channels wide, a
two-layer T5 encoder whose width is the transformer's text width), with an in-memory tokenizer instead of the hub's,
so each family's loading and generation paths run offline on a CPU in seconds.
"""

from __future__ import annotations

from pathlib import Path

import torch

T5_WIDTH = 32  # the tiny T5 encoder's d_model: the transformers' text width
MAX_TEXT_TOKENS = 16  # the tiny transformers' text length (CogVideoX's is fixed in its config)


def build_t5_tokenizer():
    """A T5-style fast tokenizer (pad 0, end 1, unknown 2) over single bytes, made in memory: every prompt tokenizes,
    and different prompts differ."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {token: i for i, token in enumerate(specials + alphabet)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )


def build_t5(vocab_size: int, umt5: bool = False):
    """A two-layer T5 encoder (UMT5, Wan's kind, with `umt5`) of the transformers' text width."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config_class, model_class = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    config = config_class(
        vocab_size=vocab_size,
        d_model=T5_WIDTH,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        is_encoder_decoder=False,
    )
    return model_class(config)


def text_parts(umt5: bool = False) -> dict:
    tokenizer = build_t5_tokenizer()
    return {"tokenizer": tokenizer, "text_encoder": build_t5(len(tokenizer), umt5)}


# The Wan layouts a tiny Wan takes: the tiny profile's is Wan 2.2 TI2V-5B's; the others check the code on each
# published layout (tests/test_video_models.py).
WAN_LAYOUTS = ("ti2v", "t2v", "a14b", "i2v", "i2v-a14b")


def build_tiny_wan(folder: str | Path, seed: int = 0, layout: str = "ti2v") -> Path:
    """A tiny Wan in one of `WAN_LAYOUTS`: "ti2v", Wan 2.2 TI2V-5B's (a 48-channel VAE that packs 2x2 pixels,
    timesteps per latent token: text- and image-to-video in one model); "t2v", Wan 2.1 T2V's (a 16-channel VAE);
    "a14b", Wan 2.2 T2V-A14B's (two transformers, one for the high-noise steps, one for the low); "i2v", Wan 2.1
    I2V's (the first frame's latents and mask beside the noise, a CLIP image encoder); "i2v-a14b", Wan 2.2
    I2V-A14B's (two transformers, no image encoder)."""
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline, WanPipeline

    if layout not in WAN_LAYOUTS:
        raise ValueError(f"Unknown Wan layout {layout!r}: one of {', '.join(WAN_LAYOUTS)}")
    torch.manual_seed(seed)
    ti2v, image = layout == "ti2v", layout.startswith("i2v")
    vae = _wan_ti2v_vae() if ti2v else _wan_vae()
    channels = vae.config.z_dim
    parts: dict = {"transformer": _wan_transformer(channels, image, image_dim=4 if layout == "i2v" else None)}
    if layout.endswith("a14b"):
        parts.update(transformer_2=_wan_transformer(channels, image), boundary_ratio=0.875)
    if layout == "i2v":
        parts.update(_clip_image_parts())
    flow_shift = 5.0 if ti2v else 3.0
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=flow_shift)
    pipeline_class = WanImageToVideoPipeline if image else WanPipeline
    pipe = pipeline_class(vae=vae, scheduler=scheduler, expand_timesteps=ti2v, **parts, **text_parts(umt5=True))
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def _wan_ti2v_vae():
    """Wan 2.2 TI2V-5B's VAE layout (48 channels, 16x in space: it packs 2x2 pixels), a few channels wide."""
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(
        base_dim=3,
        z_dim=48,
        in_channels=12,
        out_channels=12,
        is_residual=True,
        patch_size=2,
        latents_mean=[0.0] * 48,
        latents_std=[1.0] * 48,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    )


def _wan_transformer(channels: int, image: bool = False, image_dim: int | None = None):
    """A two-layer Wan transformer for latents of `channels`; with `image`, it also reads the first frame's latents
    and mask (4 channels) beside the noise; `image_dim`: the width of the image encoder it reads (Wan 2.1 I2V)."""
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=2 * channels + 4 if image else channels,
        out_channels=channels,
        text_dim=T5_WIDTH,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        image_dim=image_dim,
    )


def _wan_vae():
    """Wan 2.1's VAE layout (16 channels, 8x in space, 4x in time), a few channels wide."""
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )


def _clip_image_parts() -> dict:
    """A tiny CLIP image encoder and its processor (Wan 2.1 I2V's kind)."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    config = CLIPVisionConfig(
        hidden_size=4,
        projection_dim=4,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        intermediate_size=16,
        patch_size=1,
    )
    return {
        "image_encoder": CLIPVisionModel(config).eval(),
        "image_processor": CLIPImageProcessor(crop_size=32, size=32),
    }


# The LTX-Video layouts a tiny LTX takes: "0.9", LTXPipeline's (the tiny profile's); "0.9.1", its VAE conditioned
# on the decode's timestep; "0.9.5", saved as LTXConditionPipeline with a schedule that does not shift by size.
LTX_LAYOUTS = ("0.9", "0.9.1", "0.9.5")


def build_tiny_ltx(folder: str | Path, seed: int = 0, layout: str = "0.9") -> Path:
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    if layout not in LTX_LAYOUTS:
        raise ValueError(f"Unknown LTX-Video layout {layout!r}: one of {', '.join(LTX_LAYOUTS)}")

    torch.manual_seed(seed)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=T5_WIDTH,
    )
    vae = AutoencoderKLLTXVideo(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        encoder_causal=True,
        decoder_causal=False,
        timestep_conditioning=layout != "0.9",
    )
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=layout != "0.9.5")
    pipeline_class = LTXConditionPipeline if layout == "0.9.5" else LTXPipeline
    pipe = pipeline_class(transformer=transformer, vae=vae, scheduler=scheduler, **text_parts())
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


COGVIDEOX_VERSIONS = ("1.0", "1.5")


def build_tiny_cogvideox(folder: str | Path, seed: int = 0, image: bool = False, version: str = "1.0") -> Path:
    """CogVideoX's layout; with `image`, CogVideoX 5B I2V's: the first frame's latents beside the noise (twice the
    input channels), rotary and learned positions (so one size only), an image-to-video checkpoint. `version`
    "1.5": CogVideoX 1.5's transformer (two latent frames a patch, rotary positions, any size) and DPM schedule."""
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXDPMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    if version not in COGVIDEOX_VERSIONS:
        raise ValueError(f"Unknown CogVideoX version {version!r}: one of {', '.join(COGVIDEOX_VERSIONS)}")
    torch.manual_seed(seed)
    rotary = image or version == "1.5"  # rotary positions split a head three ways, each even: 16 wide, not 8
    heads = (
        dict(num_attention_heads=2, attention_head_dim=16)
        if rotary
        else dict(num_attention_heads=4, attention_head_dim=8)
    )
    later = dict(patch_size_t=2, patch_bias=False) if version == "1.5" else {}
    transformer = CogVideoXTransformer3DModel(
        **heads,
        in_channels=8 if image else 4,
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=T5_WIDTH,
        num_layers=1,
        sample_width=8,  # latent: 64 px
        sample_height=8,
        sample_frames=9,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=MAX_TEXT_TOKENS,
        use_rotary_positional_embeddings=rotary,
        use_learned_positional_embeddings=image,
        **later,
    )
    vae = AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )
    scheduler_class = CogVideoXDPMScheduler if version == "1.5" else CogVideoXDDIMScheduler
    scheduler = scheduler_class(
        timestep_spacing="trailing",
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=0,
    )
    pipeline_class = CogVideoXImageToVideoPipeline if image else CogVideoXPipeline
    pipe = pipeline_class(transformer=transformer, vae=vae, scheduler=scheduler, **text_parts())
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_tiny_cogvideox_i2v(folder: str | Path, seed: int = 0) -> Path:
    return build_tiny_cogvideox(folder, seed, image=True)


def build_qwen_tokenizer():
    """A Qwen-style fast tokenizer over single bytes, with the chat template HunyuanVideo-1.5 formats prompts by."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokenizer = Tokenizer(models.BPE(vocab={token: i for i, token in enumerate(specials + alphabet)}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<|endoftext|>", eos_token="<|im_end|>", model_max_length=32768
    )
    fast.add_special_tokens({"additional_special_tokens": specials[1:]})
    fast.chat_template = QWEN_CHAT_TEMPLATE
    return fast


# Qwen's chat format: each message between <|im_start|>role and <|im_end|>, then the assistant's turn.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_hunyuan15(folder: str | Path, seed: int = 0, image: bool = False) -> Path:
    """HunyuanVideo-1.5's layout in diffusers' test shapes: a Qwen2.5-VL text model and a ByT5 encoder for the
    prompt, classifier-free guidance as a guider component; with `image`, its image-to-video checkpoint (a SigLIP
    image encoder whose 729 tokens are 27 x 27 patches, clips about 64 px at the image's aspect)."""
    from diffusers import (
        AutoencoderKLHunyuanVideo15,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideo15ImageToVideoPipeline,
        HunyuanVideo15Pipeline,
        HunyuanVideo15Transformer3DModel,
    )
    from diffusers.guiders import ClassifierFreeGuidance
    from transformers import ByT5Tokenizer, Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel

    torch.manual_seed(seed)
    transformer = HunyuanVideo15Transformer3DModel(
        in_channels=9,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=1,
        num_refiner_layers=1,
        mlp_ratio=2.0,
        patch_size=1,
        patch_size_t=1,
        text_embed_dim=16,
        text_embed_2_dim=T5_WIDTH,
        image_embed_dim=12,
        rope_axes_dim=(2, 2, 4),
        target_size=64 if image else 16,
        task_type="i2v" if image else "t2v",
    )
    vae = AutoencoderKLHunyuanVideo15(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(16, 16),
        layers_per_block=1,
        spatial_compression_ratio=4,
        temporal_compression_ratio=4,
        downsample_match_channel=False,
        upsample_match_channel=False,
    )
    tokenizer = build_qwen_tokenizer()
    qwen = Qwen2_5_VLTextConfig(
        hidden_size=16,
        intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
        rope_theta=1000000.0,
    )
    byt5 = ByT5Tokenizer()
    parts = _siglip_image_parts() if image else {}
    pipeline_class = HunyuanVideo15ImageToVideoPipeline if image else HunyuanVideo15Pipeline
    pipe = pipeline_class(
        **parts,
        transformer=transformer.eval(),
        vae=vae.eval(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder=Qwen2_5_VLTextModel(qwen).eval(),
        tokenizer=tokenizer,
        text_encoder_2=build_t5(len(byt5)).eval(),
        tokenizer_2=byt5,
        guider=ClassifierFreeGuidance(guidance_scale=6.0),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_tiny_hunyuan15_i2v(folder: str | Path, seed: int = 0) -> Path:
    return build_tiny_hunyuan15(folder, seed, image=True)


def _siglip_image_parts() -> dict:
    """A tiny SigLIP image encoder (its width is the transformer's image width) and its processor."""
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    config = SiglipVisionConfig(
        hidden_size=12, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, image_size=54, patch_size=2
    )
    return {
        "image_encoder": SiglipVisionModel(config).eval(),
        "feature_extractor": SiglipImageProcessor(size={"height": 54, "width": 54}),
    }
