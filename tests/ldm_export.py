"""Write a Stable Diffusion pipeline as one original-layout (LDM) `.safetensors` file, as model sites ship them.

This is the inverse of diffusers' single-file loader (`diffusers.loaders.single_file_utils`), and reuses its key
tables: tests write the tiny models as single files with it and load them back through `from_single_file`, so the
single-file route is tested end to end without any download. It covers what SD 1.x, SD 2.x and SDXL checkpoints
hold: the UNet (`model.diffusion_model.`), the VAE (`first_stage_model.`) and the text encoders (CLIP under
`cond_stage_model.transformer.` / `conditioner.embedders.0.transformer.`, OpenCLIP under `cond_stage_model.model.` /
`conditioner.embedders.1.model.`).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

# diffusers resnet parameter names -> LDM's (the UNet's `ResBlock`)
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_VAE_RESNET = {"conv_shortcut": "nin_shortcut"}
# diffusers VAE mid-block attention names -> LDM's (`AttnBlock`, 1x1 convolutions)
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
# diffusers CLIP encoder-layer names -> OpenCLIP's
_OPEN_CLIP_LAYER = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}


def _mapping(name: str) -> dict:
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    return DIFFUSERS_TO_LDM_MAPPING[name]


def _rename(rest: str, table: dict[str, str]) -> str:
    for old, new in table.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    return rest


def _ldm_name(key: str, fixed: dict[str, str], rules: list, what: str) -> str:
    """`key` renamed by the fixed table, else by the first rule (regex, match -> name) that matches it whole."""
    if key in fixed:
        return fixed[key]
    for pattern, name in rules:
        if match := re.fullmatch(pattern, key):
            return name(match)
    raise KeyError(f"no LDM name for the {what} weight {key!r}")


def unet_to_ldm(unet) -> dict[str, torch.Tensor]:
    """A UNet2DConditionModel's weights under LDM's `input_blocks`/`middle_block`/`output_blocks` names."""
    config = unet.config
    per_block = config.layers_per_block + 1  # resnets per down block plus its downsampler (and per up block)
    fixed = {**_mapping("unet")["layers"]}
    if config.addition_embed_type == "text_time":
        fixed.update(_mapping("unet")["addition_embed_type"])
    attention_up_blocks = {
        int(key.split(".")[1]) for key in unet.state_dict() if key.startswith("up_blocks.") and ".attentions." in key
    }

    def layer(match) -> str:
        # LDM numbers the layers of each side in one list; the input side starts after conv_in
        side, block, kind, index, rest = match[1], int(match[2]), match[3], int(match[4]), match[5]
        blocks, start = ("input_blocks", 1) if side == "down" else ("output_blocks", 0)
        position = f"0.{_rename(rest, _UNET_RESNET)}" if kind == "resnets" else f"1.{rest}"
        return f"{blocks}.{start + block * per_block + index}.{position}"

    def upsampler(match) -> str:
        # the upsampler follows the block's last resnet (and its attention, where the block has one)
        block = int(match[1])
        position = 2 if block in attention_up_blocks else 1
        return f"output_blocks.{block * per_block + per_block - 1}.{position}.conv.{match[2]}"

    rules = [
        (r"(down|up)_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", layer),
        (
            r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)",
            lambda m: f"input_blocks.{(int(m[1]) + 1) * per_block}.0.op.{m[2]}",
        ),
        (r"mid_block\.resnets\.(\d+)\.(.+)", lambda m: f"middle_block.{2 * int(m[1])}.{_rename(m[2], _UNET_RESNET)}"),
        (r"mid_block\.attentions\.0\.(.+)", lambda m: f"middle_block.1.{m[1]}"),
        (r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", upsampler),
    ]
    return {
        "model.diffusion_model." + _ldm_name(key, fixed, rules, "UNet"): value
        for key, value in unet.state_dict().items()
    }


def vae_to_ldm(vae) -> dict[str, torch.Tensor]:
    """An AutoencoderKL's weights under LDM's `encoder.down`/`decoder.up`/`mid` names (attention as 1x1 convs)."""
    last = len(vae.config.up_block_types) - 1  # LDM numbers the decoder's blocks from the bottom

    rules = [
        (
            r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)",
            lambda m: f"encoder.down.{m[1]}.block.{m[2]}.{_rename(m[3], _VAE_RESNET)}",
        ),
        (
            r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)",
            lambda m: f"encoder.down.{m[1]}.downsample.conv.{m[2]}",
        ),
        (
            r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)",
            lambda m: f"decoder.up.{last - int(m[1])}.block.{m[2]}.{_rename(m[3], _VAE_RESNET)}",
        ),
        (
            r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)",
            lambda m: f"decoder.up.{last - int(m[1])}.upsample.conv.{m[2]}",
        ),
        (
            r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)",
            lambda m: f"{m[1]}.mid.block_{int(m[2]) + 1}.{_rename(m[3], _VAE_RESNET)}",
        ),
        (
            r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)",
            lambda m: f"{m[1]}.mid.attn_1.{_rename(m[2], _VAE_ATTENTION)}",
        ),
    ]

    state = {}
    for key, value in vae.state_dict().items():
        name = _ldm_name(key, _mapping("vae"), rules, "VAE")
        if ".mid.attn_1." in name and value.ndim == 2:
            value = value[:, :, None, None]  # linear -> 1x1 convolution
        state["first_stage_model." + name] = value
    return state


def clip_to_ldm(text_encoder, prefix: str) -> dict[str, torch.Tensor]:
    """A CLIP text encoder as SD 1.x (`cond_stage_model.transformer.`) and SDXL's first encoder store it."""
    return {
        prefix + (key if key.startswith("text_model.") else "text_model." + key): value
        for key, value in text_encoder.state_dict().items()
        if not key.endswith("position_ids")
    }


def open_clip_to_ldm(text_encoder, prefix: str) -> dict[str, torch.Tensor]:
    """A CLIP text encoder in OpenCLIP's layout (SD 2.x, SDXL's second encoder): fused q/k/v, `resblocks`."""
    state = {key.removeprefix("text_model."): value for key, value in text_encoder.state_dict().items()}
    out = {}
    fixed = {
        "embeddings.token_embedding.weight": "token_embedding.weight",
        "embeddings.position_embedding.weight": "positional_embedding",
        "final_layer_norm.weight": "ln_final.weight",
        "final_layer_norm.bias": "ln_final.bias",
    }
    for key, value in state.items():
        if key in fixed:
            out[prefix + fixed[key]] = value
        elif key == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()  # OpenCLIP multiplies from the right
        elif match := re.fullmatch(r"encoder\.layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)", key):
            layer, kind = match[1], match[2]
            fused = [state[f"encoder.layers.{layer}.self_attn.{p}_proj.{kind}"] for p in "qkv"]
            out[f"{prefix}transformer.resblocks.{layer}.attn.in_proj_{kind}"] = torch.cat(fused)
        elif re.fullmatch(r"encoder\.layers\.\d+\.self_attn\.[kv]_proj\..+", key) or key.endswith("position_ids"):
            continue  # fused with q above
        elif match := re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", key):
            rest = _rename(match[2], {**_OPEN_CLIP_LAYER, "self_attn.out_proj": "attn.out_proj"})
            out[f"{prefix}transformer.resblocks.{match[1]}.{rest}"] = value
        else:
            raise KeyError(f"no OpenCLIP name for the text-encoder weight {key!r}")
    return out


def pipeline_to_ldm(components: dict) -> dict[str, torch.Tensor]:
    """The whole checkpoint of an SD 1.x, SD 2.x or SDXL pipeline's components (`pipe.components`).

    SD 2.x is told from SD 1.x by its text encoder's GELU activation (OpenCLIP) as diffusers' SD 2 folders have it."""
    state = {**unet_to_ldm(components["unet"]), **vae_to_ldm(components["vae"])}
    text_encoder = components["text_encoder"]
    if components.get("text_encoder_2") is not None:
        state.update(clip_to_ldm(text_encoder, "conditioner.embedders.0.transformer."))
        state.update(open_clip_to_ldm(components["text_encoder_2"], "conditioner.embedders.1.model."))
    elif text_encoder.config.hidden_act == "gelu":
        state.update(open_clip_to_ldm(text_encoder, "cond_stage_model.model."))
    else:
        state.update(clip_to_ldm(text_encoder, "cond_stage_model.transformer."))
    return state


def save_single_file(components: dict, path: str | Path) -> Path:
    """Write `pipe.components` as one LDM-layout `.safetensors` checkpoint at `path`."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().contiguous().cpu() for key, value in pipeline_to_ldm(components).items()}
    save_file(state, str(path), metadata={"format": "pt"})
    return path
