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


def build_tiny_wan(folder: str | Path, seed: int = 0) -> Path:
    """Wan 2.2 TI2V-5B's layout (a 48-channel VAE that packs 2x2 pixels, timesteps per latent token): text- and
    image-to-video in one model."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
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
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=48,
        out_channels=48,
        text_dim=T5_WIDTH,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0)
    pipe = WanPipeline(
        transformer=transformer, vae=vae, scheduler=scheduler, expand_timesteps=True, **text_parts(umt5=True)
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_tiny_ltx(folder: str | Path, seed: int = 0) -> Path:
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

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
    )
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True)
    pipe = LTXPipeline(transformer=transformer, vae=vae, scheduler=scheduler, **text_parts())
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_tiny_cogvideox(folder: str | Path, seed: int = 0, image: bool = False) -> Path:
    """CogVideoX's layout; with `image`, CogVideoX 5B I2V's: the first frame's latents beside the noise (twice the
    input channels), rotary and learned positions (so one size only), an image-to-video checkpoint."""
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    torch.manual_seed(seed)
    heads = (
        dict(num_attention_heads=2, attention_head_dim=16)
        if image
        else dict(num_attention_heads=4, attention_head_dim=8)
    )
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
        use_rotary_positional_embeddings=image,
        use_learned_positional_embeddings=image,
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
    scheduler = CogVideoXDDIMScheduler(
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
    parts = image_parts() if image else {}
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


def image_parts() -> dict:
    """A tiny SigLIP image encoder (its width is the transformer's image width) and its processor."""
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    config = SiglipVisionConfig(
        hidden_size=12, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, image_size=54, patch_size=2
    )
    return {
        "image_encoder": SiglipVisionModel(config).eval(),
        "feature_extractor": SiglipImageProcessor(size={"height": 54, "width": 54}),
    }
