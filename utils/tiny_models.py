"""Small randomly initialised models in diffusers' on-disk layout, built offline.

Tests, benchmarks and the app's offline mode (`--tiny-models`) load these folders through the very same
`from_pretrained` code as real hub checkpoints, so every loading and generation path runs on a CPU in seconds.
The networks have the shape of their real counterparts (an SD 1.x UNet with attention at full resolution, a VAE
that downsamples by 8, a CLIP text encoder with a byte-level BPE tokenizer) but are tiny and untrained.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import torch

from utils.tiny_video_models import (
    build_tiny_cogvideox,
    build_tiny_cogvideox_i2v,
    build_tiny_hunyuan15,
    build_tiny_hunyuan15_i2v,
    build_tiny_ltx,
    build_tiny_wan,
)

logger = logging.getLogger(__name__)

# Bumped whenever the architecture below changes, so stale folders get rebuilt.
TINY_MODELS_VERSION = 11
_MARKER = "tiny_model.json"

# Stable Diffusion 1.x's scheduler configuration; PNDM is what the SD 1.5 hub folder ships.
SD_SCHEDULER_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
}
CROSS_ATTENTION_DIM = 32
SDXL_ENCODER_2_WIDTH = 48
SD2_ENCODER_WIDTH = 40


def build_tokenizer():
    """A CLIP tokenizer with a byte-level vocabulary (every byte, alone and word-final) and no merges."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    alphabet = sorted(ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + alphabet + [c + "</w>" for c in alphabet]
    vocab = {token: i for i, token in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def scheduler_config(*drop: str) -> dict:
    """SD's scheduler configuration without the keys a scheduler class does not take."""
    return {k: v for k, v in SD_SCHEDULER_CONFIG.items() if k not in drop}


def build_text_encoder(
    vocab_size: int, projection_dim: int | None = None, hidden_size: int = CROSS_ATTENTION_DIM, **overrides
):
    """A tiny CLIP text encoder; with `projection_dim`, the projecting kind SDXL's second encoder is."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=hidden_size,
        intermediate_size=64,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=vocab_size,
        max_position_embeddings=77,
        **({"projection_dim": projection_dim} if projection_dim else {}),
        **overrides,
    )
    return CLIPTextModelWithProjection(config) if projection_dim else CLIPTextModel(config)


def build_vae():
    from diffusers import AutoencoderKL

    # Four blocks: a downsampling factor of 8, as in Stable Diffusion.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=128,
    )


# What every tiny UNet (2-D and 3-D) shares; attention sits at full latent resolution, as in SD's first block,
# so token merging has work to do.
UNET_SHAPE = dict(
    out_channels=4, block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=16, attention_head_dim=8
)


def gentle(unet):
    """Scale the output layer down by 10. A raw random UNet is a rough function of its input: over 50 guided DDIM
    steps it turns float32 rounding differences (1e-6, e.g. from another batch size) into visible ones. A gentle
    denoiser, as trained ones are, makes float32 comparisons test the method rather than the network's chaos."""
    with torch.no_grad():
        unet.conv_out.weight.mul_(0.1)
        unet.conv_out.bias.mul_(0.1)
    return unet


def build_unet(in_channels: int = 4, **overrides):
    from diffusers import UNet2DConditionModel

    return gentle(
        UNet2DConditionModel(
            **{
                **UNET_SHAPE,
                "sample_size": 16,
                "in_channels": in_channels,
                "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
                "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
                "cross_attention_dim": CROSS_ATTENTION_DIM,
                **overrides,
            }
        )
    )


def _is_current(folder: Path) -> bool:
    try:
        return json.loads((folder / _MARKER).read_text())["version"] == TINY_MODELS_VERSION
    except (OSError, ValueError, KeyError):
        return False


def _write_marker(folder: Path, family: str) -> None:
    (folder / _MARKER).write_text(json.dumps({"version": TINY_MODELS_VERSION, "family": family}))


def build_tiny_sd(folder: str | Path, seed: int = 0, pix2pix: bool = False) -> Path:
    """Build a tiny SD 1.x folder: model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/.

    `pix2pix`: an Instruct-Pix2Pix folder instead (8-channel UNet, Euler ancestral, as timbrooks/instruct-pix2pix).
    """
    from diffusers import (
        EulerAncestralDiscreteScheduler,
        PNDMScheduler,
        StableDiffusionInstructPix2PixPipeline,
        StableDiffusionPipeline,
    )

    folder = Path(folder)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    pipeline_class = StableDiffusionInstructPix2PixPipeline if pix2pix else StableDiffusionPipeline
    pipe = pipeline_class(
        vae=build_vae(),
        text_encoder=build_text_encoder(len(tokenizer)),
        tokenizer=tokenizer,
        unet=build_unet(in_channels=8 if pix2pix else 4),
        scheduler=EulerAncestralDiscreteScheduler(**scheduler_config("skip_prk_steps", "set_alpha_to_one"))
        if pix2pix
        else PNDMScheduler(**SD_SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _write_marker(folder, "pix2pix" if pix2pix else "sd")
    return folder


def build_tiny_sd2(folder: str | Path, seed: int = 0) -> Path:
    """A tiny SD 2.x-shaped folder, as stabilityai/stable-diffusion-2-1: an OpenCLIP-style text encoder (GELU) wider
    than SD 1.x's (as ViT-H's 1024 is wider than ViT-L's 768, so SD 1.x ControlNets do not fit it), linear attention
    projections and a v-prediction DDIM scheduler."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    folder = Path(folder)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    pipe = StableDiffusionPipeline(
        vae=build_vae(),
        text_encoder=build_text_encoder(len(tokenizer), hidden_size=SD2_ENCODER_WIDTH, hidden_act="gelu"),
        tokenizer=tokenizer,
        unet=build_unet(use_linear_projection=True, cross_attention_dim=SD2_ENCODER_WIDTH),
        scheduler=DDIMScheduler(
            **scheduler_config("skip_prk_steps"), clip_sample=False, prediction_type="v_prediction"
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _write_marker(folder, "sd2")
    return folder


def build_tiny_pix2pix(folder: str | Path, seed: int = 0) -> Path:
    return build_tiny_sd(folder, seed=seed, pix2pix=True)


def awake(controlnet) -> None:
    """Small random weights in a fresh ControlNet's zero convolutions (else it is a no-op), and variance-preserving
    ones in its condition embedding: by default that embedding is a near-constant (its biases dominate), so frames
    would not follow their own condition."""
    with torch.no_grad():
        for conv in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
            torch.nn.init.normal_(conv.weight, std=0.05)
            torch.nn.init.zeros_(conv.bias)
        for module in controlnet.controlnet_cond_embedding.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                torch.nn.init.zeros_(module.bias)


def build_tiny_controlnet(folder: str | Path, seed: int = 0) -> Path:
    """Build a tiny ControlNet (conditioning downsampled by 8, as the real ones) that really changes the output.

    A fresh ControlNet's zero convolutions make it a no-op; here they get small random weights instead, so tests
    can see the condition act and the ControlNet's own cross-frame attention matter.
    """
    from diffusers import ControlNetModel

    folder = Path(folder)
    torch.manual_seed(seed)
    controlnet = ControlNetModel.from_unet(build_unet(), conditioning_embedding_out_channels=(8, 8, 16, 16))
    awake(controlnet)
    controlnet.save_pretrained(folder, safe_serialization=True)
    _write_marker(folder, "controlnet")
    return folder


def build_unet3d():
    from diffusers import UNet3DConditionModel

    return gentle(
        UNet3DConditionModel(
            **UNET_SHAPE,
            sample_size=8,
            in_channels=4,
            down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
            up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
            cross_attention_dim=CROSS_ATTENTION_DIM,
        )
    )


def build_tiny_modelscope(folder: str | Path, seed: int = 0) -> Path:
    """A tiny ModelScope-shaped text-to-video folder (UNet3DConditionModel), as ali-vilab/text-to-video-ms-1.7b."""
    from diffusers import DDIMScheduler
    from diffusers.pipelines.deprecated.text_to_video_synthesis import TextToVideoSDPipeline

    folder = Path(folder)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    pipe = TextToVideoSDPipeline(
        vae=build_vae(),
        text_encoder=build_text_encoder(len(tokenizer)),
        tokenizer=tokenizer,
        unet=build_unet3d(),
        scheduler=DDIMScheduler(**scheduler_config("skip_prk_steps"), clip_sample=False),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _write_marker(folder, "modelscope")
    return folder


SDXL_BLOCKS = (32, 64, 64)


def build_tiny_sdxl(folder: str | Path, seed: int = 0) -> Path:
    """A tiny SDXL-shaped folder: two text encoders (the second wider and with a projection, as OpenCLIP bigG is
    wider than CLIP-L: single-file loading tells them apart by width), `text_time` added conditioning."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    folder = Path(folder)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    unet = build_unet(
        # Three blocks, as SDXL's UNet has (SD 1.x's has four): wider at the bottom than the tiny SD's two, so an SD
        # 1.x motion adapter is told apart from an SDXL one by its widths, as with the real models.
        block_out_channels=SDXL_BLOCKS,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CROSS_ATTENTION_DIM + SDXL_ENCODER_2_WIDTH,  # both encoders' hidden states, concatenated
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=32 + 6 * 8,  # pooled text (projection_dim) + six size/crop ids
    )
    pipe = StableDiffusionXLPipeline(
        vae=build_vae(),
        text_encoder=build_text_encoder(len(tokenizer)),
        text_encoder_2=build_text_encoder(len(tokenizer), projection_dim=32, hidden_size=SDXL_ENCODER_2_WIDTH),
        tokenizer=tokenizer,
        tokenizer_2=build_tokenizer(),
        unet=unet,
        scheduler=EulerDiscreteScheduler(**scheduler_config("skip_prk_steps", "set_alpha_to_one")),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _write_marker(folder, "sdxl")
    return folder


def tiny_motion_adapter(sdxl: bool = False):
    """The tiny motion adapter's network (random weights, from the current torch seed): for the tiny SD, or, with
    `sdxl`, for the tiny SDXL (its three blocks, as AnimateDiff's SDXL adapter fits SDXL's)."""
    from diffusers import MotionAdapter

    return MotionAdapter(
        block_out_channels=SDXL_BLOCKS if sdxl else UNET_SHAPE["block_out_channels"],
        motion_layers_per_block=UNET_SHAPE["layers_per_block"],
        motion_num_attention_heads=2,
        motion_norm_num_groups=UNET_SHAPE["norm_num_groups"],
        motion_max_seq_length=32,
        use_motion_mid_block=False,
    )


def build_tiny_motion_adapter(folder: str | Path, seed: int = 0) -> Path:
    """A tiny AnimateDiff motion adapter (diffusers' `MotionAdapter`) that fits the tiny SD UNet: temporal attention
    after each of its blocks, with random (not zero) output layers, so frames really read each other."""
    folder = Path(folder)
    torch.manual_seed(seed)
    tiny_motion_adapter().save_pretrained(folder, safe_serialization=True)
    _write_marker(folder, "motion-adapter")
    return folder


def build_tiny_sdxl_motion_adapter(folder: str | Path, seed: int = 0) -> Path:
    """A tiny motion adapter for the tiny SDXL (as AnimateDiff's SDXL beta adapter is for SDXL)."""
    folder = Path(folder)
    torch.manual_seed(seed)
    tiny_motion_adapter(sdxl=True).save_pretrained(folder, safe_serialization=True)
    _write_marker(folder, "motion-adapter-sdxl")
    return folder


def build_tiny_motion_lora(folder: str | Path, seed: int = 0) -> Path:
    """A tiny AnimateDiff motion LoRA (as the published camera-move LoRAs: low-rank weights on the temporal
    attention of the motion modules only), random and non-zero, saved as diffusers saves LoRAs."""
    from diffusers import AnimateDiffPipeline, UNetMotionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNetMotionModel.from_unet2d(build_unet(), tiny_motion_adapter())
    targets = r".*motion_modules.*\.(to_q|to_k|to_v|to_out\.0)"
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=targets, init_lora_weights=False))
    AnimateDiffPipeline.save_lora_weights(
        folder, unet_lora_layers=get_peft_model_state_dict(unet), safe_serialization=True
    )
    _write_marker(folder, "motion-lora")
    return folder


def build_tiny_sparsectrl(folder: str | Path, seed: int = 0) -> Path:
    """A tiny SparseCtrl model (diffusers' `SparseControlNetModel`) for the tiny SD and motion adapter: the RGB kind
    (its keyframes VAE-encoded, `use_simplified_condition_embedding`) for even seeds, the scribble kind (drawings
    embedded as a ControlNet does) for odd ones; random, non-zero output layers, so keyframes act."""
    from diffusers import SparseControlNetModel

    folder = Path(folder)
    torch.manual_seed(seed)
    rgb = seed % 2 == 0
    sparsectrl = SparseControlNetModel(
        in_channels=4,
        conditioning_channels=4 if rgb else 3,
        use_simplified_condition_embedding=rgb,
        down_block_types=("CrossAttnDownBlockMotion", "DownBlockMotion"),
        block_out_channels=UNET_SHAPE["block_out_channels"],
        layers_per_block=UNET_SHAPE["layers_per_block"],
        norm_num_groups=UNET_SHAPE["norm_num_groups"],
        attention_head_dim=UNET_SHAPE["attention_head_dim"],
        cross_attention_dim=CROSS_ATTENTION_DIM,
        conditioning_embedding_out_channels=(8, 8, 16, 16),
        motion_num_attention_heads=2,
        motion_max_seq_length=32,
    )
    awake(sparsectrl)
    sparsectrl.save_pretrained(folder, safe_serialization=True)
    _write_marker(folder, "sparsectrl")
    return folder


def marked(build: Callable[[Path, int], Path], family: str) -> Callable[..., Path]:
    """A builder of `tiny_video_models` that also writes the current-build marker."""

    def build_marked(folder: str | Path, seed: int = 0) -> Path:
        folder = build(Path(folder), seed)
        _write_marker(folder, family)
        return folder

    return build_marked


# family -> (builder, seed). The DreamBooth stand-in is a second SD base, so base swaps can be tested.
TINY_FAMILIES = {
    "sd": (build_tiny_sd, 0),
    "sd-dreambooth": (build_tiny_sd, 1),
    "controlnet-canny": (build_tiny_controlnet, 2),
    "controlnet-pose": (build_tiny_controlnet, 3),
    "controlnet-depth": (build_tiny_controlnet, 4),
    "pix2pix": (build_tiny_pix2pix, 5),
    "modelscope": (build_tiny_modelscope, 6),
    "modelscope-xl": (build_tiny_modelscope, 7),  # stands in for Zeroscope XL, the upscaler
    "sdxl": (build_tiny_sdxl, 8),
    "sd2": (build_tiny_sd2, 9),
    "motion-adapter": (build_tiny_motion_adapter, 10),  # AnimateDiff's, for the tiny SD (issue 25 builds on it)
    "motion-lora-zoom-in": (build_tiny_motion_lora, 11),  # camera moves for the tiny adapter
    "motion-lora-pan-left": (build_tiny_motion_lora, 12),
    "sparsectrl-rgb": (build_tiny_sparsectrl, 14),  # even seed: RGB keyframes
    "sparsectrl-scribble": (build_tiny_sparsectrl, 15),  # odd seed: scribbles
    "motion-adapter-sdxl": (build_tiny_sdxl_motion_adapter, 16),
    # Trained video transformers (issue 26), in diffusers' test shapes.
    "wan": (marked(build_tiny_wan, "wan"), 17),
    "ltx": (marked(build_tiny_ltx, "ltx"), 18),
    "cogvideox": (marked(build_tiny_cogvideox, "cogvideox"), 19),
    "hunyuan15": (marked(build_tiny_hunyuan15, "hunyuan15"), 20),
    "cogvideox-i2v": (marked(build_tiny_cogvideox_i2v, "cogvideox-i2v"), 21),  # image-to-video checkpoints
    "hunyuan15-i2v": (marked(build_tiny_hunyuan15_i2v, "hunyuan15-i2v"), 22),
}


def ensure_tiny_models(root: str | Path) -> dict[str, Path]:
    """Build every tiny model family under `root` unless a current build is already there; return their folders."""
    root = Path(root)
    folders = {}
    for family, (build, seed) in TINY_FAMILIES.items():
        folder = root / f"tiny-{family}"
        if not _is_current(folder):
            logger.info("Building the offline tiny %s model in %s", family, folder)
            build(folder, seed=seed)
        folders[family] = folder
    return folders
