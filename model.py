"""The central `Model`: picks device and dtype, loads and swaps checkpoints, and serves one `process_*` per mode.

Nothing loads at import or construction. Checkpoints load on first use into slots that are swapped separately:
"base" holds a Stable Diffusion model's components (UNet, VAE, text encoder, tokenizer, scheduler), "controlnet"
a ControlNet. Pipelines are cheap views over the slots, so the text-to-video and guided tabs share one base and
switching guided tabs swaps only the ControlNet. A new checkpoint loads on the CPU first: one that fails to load
leaves the previous one usable; only then is the old one freed (GPU memory included) and the new one moved over.
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import secrets
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pipelines import (
    ControlNetVideoPipeline,
    InstructPix2PixVideoPipeline,
    TextToVideoZeroPipeline,
    TextToVideoZeroSDXLPipeline,
)
from pipelines.modelscope import SCHEDULERS, ModelScopePipeline
from pipelines.text_to_video_zero import suggest_t0_t1
from settings import Settings
from utils import single_file
from utils.jobs import check_cancelled, from_web, on_step
from utils.tiny_models import TINY_FAMILIES, ensure_tiny_models
from utils.validation import (
    InputError,
    as_flag,
    as_float,
    as_int,
    as_resolution,
    as_text,
    resolve_web_model_name,
)
from utils.video import VIDEO_FORMATS, VideoClip, VideoWriter, load_video, new_output_path, prune_outputs

logger = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1
MAX_STEPS = 500
MAX_FPS = 60
MAX_MOTION = 100.0
MAX_GUIDANCE = 50.0
DECODE_CHUNK_SIZE = 2
# Slots that cannot share the GPU: Instruct-Pix2Pix has its own UNet, so it and the SD base + ControlNet take turns.
EXCLUSIVE_SLOTS = {
    "pix2pix": ("base", "controlnet", "modelscope"),
    "modelscope": ("base", "controlnet", "pix2pix"),
    "base": ("pix2pix", "modelscope"),
    "controlnet": ("pix2pix", "modelscope"),
}
TINY_ALIASES = {f"tiny-{family}": family for family in TINY_FAMILIES}


class ModelLoadError(RuntimeError):
    """A checkpoint could not be loaded; the message names it and the ways to fix it."""


class OutOfMemory(RuntimeError):
    """A generation ran out of (GPU or CPU) memory; memory was freed and the message says what to lower."""


class WrongModelError(ModelLoadError):
    """A checkpoint loaded but is not the kind a mode needs (e.g. an SD base where Instruct-Pix2Pix is asked)."""


@dataclass
class GenerationResult:
    """A written video, the seed that made it and notes for the user (e.g. a clamped parameter)."""

    path: str
    seed: int
    notes: list[str] = field(default_factory=list)


def pick_device(device: str | torch.device | None = None, dtype: torch.dtype | None = None):
    """CUDA with float16 when present, else CPU with float32; explicit choices win."""
    device = (
        torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    if dtype is None:
        dtype = torch.float16 if device.type == "cuda" else torch.float32
    return device, dtype


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextmanager
def memory_guard(mode: str) -> Iterator[None]:
    """Turn running out of memory into `OutOfMemory` with what to lower, after freeing what the attempt held."""
    try:
        yield
    except (torch.OutOfMemoryError, MemoryError) as error:
        logger.warning("Out of memory during %s: %s", mode, error)
        del error  # its traceback holds the failed step's tensors
        free_memory()
        raise OutOfMemory(
            f"Out of memory during {mode}. Try a smaller chunk size, a lower resolution or fewer frames "
            "(or token merging), then generate again."
        ) from None


def pipeline_modules(pipeline_class, components: dict) -> dict:
    """The components `pipeline_class` takes, out of another pipeline's (diffusers' single-file pipelines carry
    safety checkers and image encoders this project's pipelines do not use)."""
    wanted = inspect.signature(pipeline_class.__init__).parameters
    return {name: module for name, module in components.items() if name in wanted}


# The libraries whose classes a diffusers folder may name; anything else is custom code that would have to run.
KNOWN_LIBRARIES = {"diffusers", "transformers", None}


def folder_problem(folder: Path, label: str) -> str:
    """What keeps a local model folder from loading, for the message: custom code, pickle weights, a damaged
    weights file, or missing parts."""
    from safetensors import safe_open

    index = next((folder / f for f in ("model_index.json", "config.json") if (folder / f).is_file()), None)
    try:
        config = json.loads(index.read_text()) if index else {}
    except (OSError, ValueError):
        return f"'{label}' has a damaged {index.name} (not valid JSON): replace the folder with a fresh download."
    config = config if isinstance(config, dict) else {}
    specs = [v for k, v in config.items() if not k.startswith("_") and isinstance(v, list) and len(v) == 2]
    custom = not isinstance(config.get("_class_name", ""), str) or any(lib not in KNOWN_LIBRARIES for lib, _ in specs)
    if custom or any(folder.rglob("*.py")):
        return (
            f"'{label}' needs custom Python code (a custom pipeline or component, run only where remote code is "
            "allowed), which this app never runs: use a standard diffusers folder of the model."
        )
    pickled = {p.parent for p in folder.rglob("*") if p.suffix in {".bin", ".ckpt", ".pt", ".pth"}}
    if any(not list(part.glob("*.safetensors")) for part in pickled):
        return (
            f"'{label}' holds pickle weights (.bin/.ckpt), which are not loaded for safety: only .safetensors "
            "weights are. Convert it with diffusers' save_pretrained(safe_serialization=True)."
        )
    for weights in sorted(folder.rglob("*.safetensors")):
        try:
            with safe_open(weights, "pt"):
                pass
        except Exception:  # safetensors raises its own error type for every kind of damage
            return (
                f"The weights file '{weights.relative_to(folder)}' of '{label}' is damaged (truncated or not a "
                "safetensors file): download the model again."
            )
    return (
        f"Could not load the local model folder '{label}': it is not a complete diffusers folder "
        "(model_index.json with unet/, vae/, text_encoder/, tokenizer/, scheduler/)."
    )


def folder_only(name: str, label: str, what: str) -> None:
    """Refuse a checkpoint file where only diffusers folders and hub ids load (ControlNets, ModelScope)."""
    if single_file.is_single_file(name):
        single_file.refuse_pickle(name, f"'{label}'")
        raise InputError(
            f"'{label}' is a single checkpoint file; {what} load from a diffusers folder or a Hugging Face id "
            "(owner/model)."
        )


def watermark_text(watermark) -> str:
    """The watermark to draw; None, "" and "None" (the original demo's choice) mean none."""
    return "" if watermark in (None, "None") else as_text("Watermark", watermark, required=False)


def draw_seed(seed) -> int:
    """-1 draws a random seed; anything else must be a valid seed."""
    seed = as_int("seed", seed, -1, MAX_SEED)
    return secrets.randbelow(2**31) if seed == -1 else seed


class Model:
    def __init__(
        self,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        settings: Settings | None = None,
    ):
        self.device, self.dtype = pick_device(device, dtype)
        self.settings = settings or Settings.from_env()
        self.slots: dict[str, tuple[str, object]] = {}  # slot -> (resolved name, loaded object)
        self.annotators: dict[str, object] = {}
        self.loras: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # UNet -> name of the LoRA in it
        self._lock = threading.RLock()

    # ------------------------------------------------------------------------------------------------ loading
    def resolve_model_name(self, model_name) -> str:
        """A hub id, a local diffusers folder or single-file checkpoint (also relative to the models root); the
        tiny-model aliases become their folders, built on demand. From the web, a name the operator did not
        configure loads only from the Hub or from inside the models root (`resolve_web_model_name`)."""
        name = as_text("model_name", model_name)
        if name in TINY_ALIASES:
            return str(ensure_tiny_models(self.settings.tiny_models_dir)[TINY_ALIASES[name]])
        if from_web() and name not in self.settings.configured_models:
            return resolve_web_model_name(name, self.settings.models_root)
        in_root = self.settings.models_root / name
        if not Path(name).expanduser().exists() and in_root.exists():
            return str(in_root)
        return name

    def _load_error(self, label: str, name: str, error: Exception) -> ModelLoadError:
        """A message naming the model as the user gave it (`label`, never a resolved server path) and what is
        actually wrong with it: pickle or damaged weights, remote code, a file where a folder belongs, or a name the
        Hub does not know."""
        logger.warning("Could not load %s (%s): %s", label, name, error)
        path = Path(name).expanduser()
        if path.is_dir():
            return ModelLoadError(folder_problem(path, label))
        if path.is_file():
            return ModelLoadError(
                f"'{label}' is a single file; this model loads from a diffusers folder (model_index.json or "
                "config.json with its weights) or a Hugging Face id."
            )
        return ModelLoadError(
            f"Could not load the model '{label}': it does not exist on the Hugging Face Hub or cannot be "
            "downloaded from here. Fixes: check the id; download it once with network access (then set "
            "HF_HUB_OFFLINE=1 to use the cache); give a local diffusers folder instead; or run the app with "
            "--tiny-models to try the interface with small offline models."
        )

    def loaded_name(self, slot: str) -> str | None:
        """The resolved name of what a slot holds ("base", "controlnet"), or None."""
        return self.slots[slot][0] if slot in self.slots else None

    def _load(self, slot: str, name: str, load, place=None, label: str | None = None):
        """Return what `slot` holds if it is `name`, else load it (on CPU), free the old one and move it over
        (with `place(value)` instead of `.to(device)` where given). `label`: the name as the user gave it."""
        if self.loaded_name(slot) == name:
            return self.slots[slot][1]
        others = [other for other in EXCLUSIVE_SLOTS.get(slot, ()) if other in self.slots]
        if others and self.device.type == "cuda":
            # On a GPU the other pipeline's memory goes first; on a CPU it stays until the new one has loaded.
            logger.info("Freeing %s to make room for %s", ", ".join(others), slot)
            self._free(*others)
        logger.info("Loading %s: %s", slot, name)
        try:
            value = load()
        except (ModelLoadError, InputError):  # already a message for the user
            raise
        except Exception as error:  # any failure to load is reported the same way; the old model stays
            raise self._load_error(label or name, name, error) from error
        self._free(slot, *others)
        if place is not None:
            value = place(value)
        elif isinstance(value, dict):
            value = {k: v.to(self.device) if isinstance(v, torch.nn.Module) else v for k, v in value.items()}
        else:
            value = value.to(self.device)
        self.slots[slot] = (name, value)
        return value

    def _free(self, *slots: str) -> None:
        for slot in slots:
            self.slots.pop(slot, None)
        free_memory()

    def single_file_components(self, name: str, label: str, families: tuple[str, ...], use: str) -> dict:
        """The components of a single-file checkpoint whose family (read from its keys) is one of `families`;
        `use` says where the other families belong, for the message."""
        try:
            family = single_file.detect_family(single_file.shapes_of(name, label), label)
            kind = single_file.FAMILY_LABELS[family]
            if family not in families:
                raise WrongModelError(
                    f"'{label}' is an {kind} checkpoint; this mode takes "
                    f"{' / '.join(single_file.FAMILY_LABELS[f] for f in families)} models{use}."
                )
            path = single_file.fetch(name, label)  # a hub file downloads only now that it is known to fit
        except (InputError, ModelLoadError):
            raise
        except Exception as error:  # the hub's many download errors all mean the same to the user
            logger.warning("Could not download %s: %s", label, error)
            raise ModelLoadError(
                f"Could not download the checkpoint file '{label}' from the Hugging Face Hub: check the address "
                "(owner/repo/file.safetensors), or download it once with network access."
            ) from error
        logger.info("%s is a single-file %s checkpoint", label, kind)
        config = self.settings.single_file_config(family)
        try:
            return single_file.load_components(path, family, self.resolve_model_name(config), self.dtype)
        except Exception as error:
            logger.warning("Could not load %s with the configs of %s: %s", label, config, error)
            knob = "T2VZ_PIX2PIX_MODEL" if family == "pix2pix" else f"T2VZ_{family.upper()}_CONFIG"
            raise ModelLoadError(
                f"Could not load '{label}' as an {kind} checkpoint with the diffusers configs of '{config}' (a "
                "single file lacks them): they could not be fetched, or the checkpoint does not fit them. Run once "
                f"with network access, or set {knob} to a local diffusers folder of the checkpoint's kind."
            ) from error

    def base_components(self, model_name: str) -> dict:
        """UNet, VAE, text encoder(s), tokenizer(s) and scheduler of a Stable Diffusion hub id, local folder or
        single-file checkpoint.

        SD 1.x/2.x or SDXL is read from the model itself: a folder's model_index.json (a second text encoder means
        SDXL) or a single file's keys."""
        name = self.resolve_model_name(model_name)

        def load() -> dict:
            from diffusers import DiffusionPipeline

            if single_file.is_single_file(name):
                use = " (Instruct-Pix2Pix checkpoints belong in the Video Instruct-Pix2Pix tab)"
                components = self.single_file_components(name, model_name, ("sd1", "sd2", "sdxl"), use)
                pipeline_class = (
                    TextToVideoZeroSDXLPipeline if "text_encoder_2" in components else TextToVideoZeroPipeline
                )
                return pipeline_class(**pipeline_modules(pipeline_class, components)).components
            index = DiffusionPipeline.load_config(name)
            pipeline_class = TextToVideoZeroSDXLPipeline if "text_encoder_2" in index else TextToVideoZeroPipeline
            return pipeline_class.from_pretrained(name, dtype=self.dtype, use_safetensors=True).components

        return self._load("base", name, load, label=model_name)

    def native_resolution(self, model_name: str) -> int | None:
        """The frame size an SD base model was made for (512 SD 1.x, 768 SD 2.x-v, 1024 SDXL), from its configs
        alone: no weights load, and the hub is asked only for small config files, briefly. None when unknown."""
        from utils.model_list import model_config

        try:
            name = self.resolve_model_name(model_name)
            if single_file.is_single_file(name):
                path = Path(name).expanduser()
                if not path.is_file():
                    return None  # a hub file: its kind is known once it is read
                family = single_file.detect_family(single_file.read_shapes(path, model_name), model_name)
                name = self.resolve_model_name(self.settings.single_file_config(family))
        except ValueError:
            return None
        unet, vae = model_config(name, "unet/config.json"), model_config(name, "vae/config.json")
        try:
            size = unet["sample_size"] * 2 ** (len(vae["block_out_channels"]) - 1)  # latents times the VAE's scale
        except (KeyError, TypeError):  # a config missing, or not an SD model's
            return None
        return min(size, self.settings.max_resolution)

    def controlnet(self, controlnet_name: str):
        from diffusers import ControlNetModel

        name = self.resolve_model_name(controlnet_name)
        folder_only(name, controlnet_name, "ControlNets")
        return self._load(
            "controlnet",
            name,
            lambda: ControlNetModel.from_pretrained(name, dtype=self.dtype, use_safetensors=True),
            label=controlnet_name,
        )

    def pix2pix_pipeline(self, model_name: str) -> InstructPix2PixVideoPipeline:
        from diffusers import EulerAncestralDiscreteScheduler

        name = self.resolve_model_name(model_name)

        def load():
            if single_file.is_single_file(name):
                use = " (other Stable Diffusion checkpoints belong in the other tabs)"
                components = self.single_file_components(name, model_name, ("pix2pix",), use)
                pipe = InstructPix2PixVideoPipeline(**pipeline_modules(InstructPix2PixVideoPipeline, components))
            else:
                pipe = InstructPix2PixVideoPipeline.from_pretrained(name, dtype=self.dtype, use_safetensors=True)
            if pipe.unet.config.in_channels != 8:
                raise WrongModelError(
                    f"'{model_name}' is not an Instruct-Pix2Pix model (its UNet reads {pipe.unet.config.in_channels} "
                    "channels, not 8): choose one such as timbrooks/instruct-pix2pix."
                )
            # As the original demo: Euler ancestral, whatever the checkpoint ships.
            pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
            return pipe

        return self._ready(self._load("pix2pix", name, load, label=model_name), "pix2pix")

    def modelscope_pipeline(self, model_name: str) -> ModelScopePipeline:
        name = self.resolve_model_name(model_name)
        folder_only(name, model_name, "ModelScope/Zeroscope models")

        def load():
            pipe = ModelScopePipeline.from_pretrained(name, dtype=self.dtype, use_safetensors=True)
            if pipe.unet.__class__.__name__ != "UNet3DConditionModel":
                raise WrongModelError(
                    f"'{model_name}' is not a ModelScope/Zeroscope text-to-video model (it has no 3-D UNet): "
                    "choose one such as ali-vilab/text-to-video-ms-1.7b or cerspense/zeroscope_v2_576w."
                )
            # Feed-forward chunking over frames: the same output, much less activation memory for long clips.
            pipe.unet.enable_forward_chunking(chunk_size=1, dim=1)
            return pipe

        def place(pipe):
            if self.settings.cpu_offload and self.device.type == "cuda":
                pipe.enable_model_cpu_offload(device=self.device)
                return pipe
            return pipe.to(self.device)

        return self._ready(self._load("modelscope", name, load, place, label=model_name), "modelscope")

    def apply_lora(self, pipe, lora: str | None, weight: float = 1.0) -> None:
        """Load `lora` (hub id, folder or .safetensors file) into the pipeline's UNet and text encoder at `weight`,
        swapping out another; no `lora` removes it. Pipelines are views over shared models, so the LoRA is tracked
        per UNet: it stays with the SD base across tabs, the pix2pix model keeps its own, and a swapped-out base
        takes its LoRA with it."""
        unet = pipe.unet
        name = as_text("LoRA", lora, required=False)
        current = self.loras.get(unet)
        if current is not None and current != name:
            pipe.unload_lora_weights()
            del self.loras[unet]
            current = None
        if not name:
            return
        if current is None:
            path = self.resolve_model_name(name)
            single_file.refuse_pickle(path, f"LoRA '{name}'")
            try:
                pipe.load_lora_weights(path, adapter_name="lora")
                fitted = any("lora" in adapters for adapters in pipe.get_list_adapters().values())
            except Exception as error:
                logger.warning("Could not load LoRA %s: %s", name, error)
                fitted = False
            if not fitted:
                pipe.unload_lora_weights()
                raise ModelLoadError(
                    f"LoRA '{name}' could not be applied to this base model: it may be made for another family "
                    "(SD 1.x / SD 2.x / SDXL), not be a LoRA, or not exist."
                )
            self.loras[unet] = name
        pipe.set_adapters(["lora"], adapter_weights=[weight])

    def _ready(self, pipe, mode: str):
        pipe.set_progress_bar_config(desc=f"Generating ({mode})")
        return pipe

    def text2video_pipeline(self, model_name: str) -> TextToVideoZeroPipeline:
        components = self.base_components(model_name)
        sdxl = "text_encoder_2" in components
        pipeline_class = TextToVideoZeroSDXLPipeline if sdxl else TextToVideoZeroPipeline
        return self._ready(pipeline_class(**components), "text2video")

    def controlnet_pipeline(self, model_name: str, controlnet_name: str) -> ControlNetVideoPipeline:
        # The ControlNet first: a base swap then keeps it, and a ControlNet swap keeps the base.
        controlnet = self.controlnet(controlnet_name)
        components = self.base_components(model_name)
        if "text_encoder_2" in components:
            raise WrongModelError(
                f"'{model_name}' is an SDXL model; the guided modes use SD 1.x ControlNets: choose an SD 1.x base."
            )
        if components["unet"].config.cross_attention_dim != controlnet.config.cross_attention_dim:
            raise WrongModelError(
                f"The ControlNet '{controlnet_name}' was made for another Stable Diffusion family than '{model_name}' "
                "(their text-embedding widths differ): the guided modes' ControlNets need an SD 1.x base."
            )
        pipe = ControlNetVideoPipeline(**components, controlnet=controlnet)
        return self._ready(pipe, "guided")

    # -------------------------------------------------------------------------------------------- text2video
    def text2video(
        self,
        prompt: str,
        model_name: str | None = None,
        motion_field_strength_x: float = 12,
        motion_field_strength_y: float = 12,
        t0: int = 44,
        t1: int = 47,
        n_prompt: str = "",
        chunk_size: int = 8,
        video_length: int = 8,
        merging_ratio: float = 0.0,
        seed: int = 0,
        resolution: int | None = None,
        fps: float = 4,
        use_cf_attn: bool = True,
        use_motion_field: bool = True,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        watermark: str | None = None,
        path: str | None = None,
        lora: str | None = None,
        lora_weight: float = 1.0,
    ) -> GenerationResult:
        """Zero-shot text-to-video; validates everything before loading anything, then writes the video.

        `lora`: an optional LoRA (hub id, folder or .safetensors file) applied at `lora_weight`."""
        notes: list[str] = []
        prompt = as_text("Prompt", prompt)
        n_prompt = as_text("Negative prompt", n_prompt, required=False)
        model_name = model_name or self.settings.default_sd_model
        video_length = as_int("Video length", video_length, 1, self.settings.max_frames)
        chunk_size = as_int("Chunk size", chunk_size, 2)
        if chunk_size > video_length:
            notes.append(f"Chunk size {chunk_size} exceeds the video length: using {video_length}.")
            chunk_size = video_length
        num_inference_steps = as_int("Steps", num_inference_steps, 2, MAX_STEPS)
        t0, t1 = as_int("t0", t0, 0), as_int("t1", t1, 0)
        if not t0 < t1 <= num_inference_steps - 1:
            s0, s1 = suggest_t0_t1(num_inference_steps)
            raise InputError(
                f"t0 ({t0}) and t1 ({t1}) must satisfy 0 <= t0 < t1 <= steps - 1 = {num_inference_steps - 1}. "
                f"For {num_inference_steps} steps try t0={s0}, t1={s1}."
            )
        merging_ratio = as_float("Merging ratio", merging_ratio, 0.0, 0.9)
        motion_x = as_float("Motion strength x", motion_field_strength_x, -MAX_MOTION, MAX_MOTION)
        motion_y = as_float("Motion strength y", motion_field_strength_y, -MAX_MOTION, MAX_MOTION)
        if resolution is not None:
            resolution = as_resolution("Resolution", resolution, self.settings.max_resolution)
        fps = as_float("fps", fps, 1, MAX_FPS)
        guidance_scale = as_float("Guidance scale", guidance_scale, 0.0, MAX_GUIDANCE)
        watermark = watermark_text(watermark)
        path = self._output_path(path)
        seed = draw_seed(seed)
        lora_weight = as_float("LoRA weight", lora_weight, -2.0, 2.0)
        use_cf_attn = as_flag("use_cf_attn", use_cf_attn)
        use_motion_field = as_flag("use_motion_field", use_motion_field)

        with self._generating("text-to-video"):
            pipe = self.text2video_pipeline(model_name)
            self.apply_lora(pipe, lora, lora_weight)
            # The model's own size when none is asked: 512 for SD 1.x, 768 for SD 2.x-v, 1024 for SDXL.
            resolution = resolution or min(
                pipe.unet.config.sample_size * pipe.vae_scale_factor, self.settings.max_resolution
            )
            self._check_work(video_length, resolution, resolution, num_inference_steps)
            generator = torch.Generator("cpu").manual_seed(seed)
            latents = pipe(
                prompt,
                video_length=video_length,
                height=resolution,
                width=resolution,
                num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale,
                negative_prompt=n_prompt,
                generator=generator,
                motion_field_strength_x=motion_x,
                motion_field_strength_y=motion_y,
                t0=t0,
                t1=t1,
                chunk_size=chunk_size,
                merging_ratio=merging_ratio,
                use_cf_attn=use_cf_attn,
                use_motion_field=use_motion_field,
                output_type="latent",
                callback_on_step_end=on_step,
            ).frames
            self._write(pipe, latents, path, fps, watermark)
        logger.info("Wrote %s (seed %d)", path, seed)
        return GenerationResult(path=str(path), seed=seed, notes=notes)

    def process_text2video(self, prompt: str, model_name: str | None = None, **kwargs) -> str:
        """Generate a video from a prompt and return the path of the written file (see `text2video`)."""
        return self.text2video(prompt, model_name, **kwargs).path

    # ----------------------------------------------------------------------------------------------- guided
    def annotator(self, name: str):
        """A cached annotator: "depth", "openpose" or "mediapipe". Tiny mode uses random weights (no hub)."""
        if name not in self.annotators:
            from annotators import DepthEstimator, MediaPipePoseEstimator, OpenPoseEstimator

            networks = {"depth": DepthEstimator, "openpose": OpenPoseEstimator}
            logger.info("Loading the %s annotator", name)
            if name == "mediapipe":
                try:
                    import mediapipe  # noqa: F401
                except ImportError as error:
                    raise ModelLoadError(
                        "MediaPipe is not installed: pip install --no-deps -r requirements-mediapipe.txt, or choose "
                        "the openpose detector."
                    ) from error
                self.annotators[name] = MediaPipePoseEstimator()
            elif self.settings.tiny_models:
                self.annotators[name] = networks[name].random(self.device)
            else:
                repo = self.settings.annotators_repo
                try:
                    self.annotators[name] = networks[name].from_pretrained(repo, self.device)
                except Exception as error:
                    hint = " For pose, T2VZ_POSE_DETECTOR=mediapipe works offline." if name == "openpose" else ""
                    raise ModelLoadError(
                        f"Could not load the {name} annotator weights from '{repo}'. Download them once with network "
                        f"access, or set T2VZ_ANNOTATORS_REPO to a local folder holding them.{hint}"
                    ) from error
        return self.annotators[name]

    def _guided(
        self,
        mode: str,
        video_path,
        prompt: str,
        annotate,
        model_name: str | None = None,
        controlnet_name: str | None = None,
        chunk_size: int = 8,
        merging_ratio: float = 0.0,
        num_inference_steps: int = 20,
        controlnet_conditioning_scale: float = 1.0,
        guidance_scale: float = 9.0,
        seed: int = 42,
        eta: float = 0.0,
        resolution: int = 512,
        use_cf_attn: bool = True,
        save_path: str | None = None,
        n_prompt: str = "",
        start_t: float = 0.0,
        end_t: float = -1,
        input_fps: float = 4,
        max_frames: int | None = None,
        show_condition: bool = False,
        watermark: str | None = None,
        lora: str | None = None,
        lora_weight: float = 1.0,
    ) -> GenerationResult:
        """Video in -> condition frames (`annotate`) -> guided zero-shot video; checks everything before loading."""
        prompt = as_text("Prompt", prompt)
        n_prompt = as_text("Negative prompt", n_prompt, required=False)
        model_name = model_name or self.settings.default_sd_model
        controlnet_name = controlnet_name or self.settings.controlnet_model(mode)
        chunk_size = as_int("Chunk size", chunk_size, 2)
        merging_ratio = as_float("Merging ratio", merging_ratio, 0.0, 0.9)
        num_inference_steps = as_int("Steps", num_inference_steps, 1, MAX_STEPS)
        scale = as_float("ControlNet conditioning scale", controlnet_conditioning_scale, 0.0, 5.0)
        guidance_scale = as_float("Guidance scale", guidance_scale, 0.0, MAX_GUIDANCE)
        eta = as_float("eta", eta, 0.0, 1.0)
        watermark = watermark_text(watermark)
        path = self._output_path(save_path)
        seed = draw_seed(seed)
        lora_weight = as_float("LoRA weight", lora_weight, -2.0, 2.0)
        use_cf_attn = as_flag("use_cf_attn", use_cf_attn)
        show_condition = as_flag("show_condition", show_condition)
        clip = self._video_input(video_path, resolution, start_t, end_t, input_fps, max_frames)
        self._check_work(*clip.frames.shape[:3], num_inference_steps)
        notes = list(clip.notes)
        if chunk_size > len(clip.frames):
            chunk_size = len(clip.frames)

        with self._generating(f"{mode}-guided generation"):
            condition = annotate(clip.frames)
            pipe = self.controlnet_pipeline(model_name, controlnet_name)
            self.apply_lora(pipe, lora, lora_weight)
            latents = pipe(
                prompt,
                condition,
                num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale,
                negative_prompt=n_prompt,
                eta=eta,
                generator=torch.Generator("cpu").manual_seed(seed),
                controlnet_conditioning_scale=scale,
                chunk_size=chunk_size,
                merging_ratio=merging_ratio,
                use_cf_attn=use_cf_attn,
                output_type="latent",
                callback_on_step_end=on_step,
            ).frames
            self._write(pipe, latents, path, clip.fps, watermark, beside=condition if show_condition else None)
        logger.info("Wrote %s (%s, seed %d)", path, mode, seed)
        return GenerationResult(path=str(path), seed=seed, notes=notes)

    def controlnet_pose(
        self, video_path, prompt: str, is_skeleton: bool = False, pose_detector: str | None = None, **kwargs
    ) -> GenerationResult:
        """Pose-guided video. `is_skeleton`: the video already is an OpenPose skeleton drawing, used as it is."""
        detector = pose_detector or self.settings.default_pose_detector
        if detector not in ("openpose", "mediapipe"):
            raise InputError(f"Pose detector must be 'openpose' or 'mediapipe', got {detector!r}.")
        is_skeleton = as_flag("is_skeleton", is_skeleton)
        annotate = (lambda frames: frames) if is_skeleton else (lambda frames: self.annotator(detector)(frames))
        return self._guided("pose", video_path, prompt, annotate, **kwargs)

    def controlnet_canny(
        self, video_path, prompt: str, low_threshold: int = 100, high_threshold: int = 200, **kwargs
    ) -> GenerationResult:
        """Edge-guided video (Canny edges of the input)."""
        from annotators.canny import canny, check_thresholds

        low, high = check_thresholds(low_threshold, high_threshold)
        return self._guided("canny", video_path, prompt, lambda frames: canny(frames, low, high), **kwargs)

    def controlnet_canny_db(self, db_path: str, video_path, prompt: str, **kwargs) -> GenerationResult:
        """Edge-guided video on a DreamBooth base (`db_path`: hub id or local folder)."""
        return self.controlnet_canny(video_path, prompt, model_name=as_text("DreamBooth model", db_path), **kwargs)

    def controlnet_depth(self, video_path, prompt: str, **kwargs) -> GenerationResult:
        """Depth-guided video (MiDaS depth of the input)."""
        return self._guided("depth", video_path, prompt, lambda frames: self.annotator("depth")(frames), **kwargs)

    def process_controlnet_pose(self, video_path, prompt: str, **kwargs) -> str:
        return self.controlnet_pose(video_path, prompt, **kwargs).path

    def process_controlnet_canny(self, video_path, prompt: str, **kwargs) -> str:
        return self.controlnet_canny(video_path, prompt, **kwargs).path

    def process_controlnet_canny_db(self, db_path: str, video_path, prompt: str, **kwargs) -> str:
        return self.controlnet_canny_db(db_path, video_path, prompt, **kwargs).path

    def process_controlnet_depth(self, video_path, prompt: str, **kwargs) -> str:
        return self.controlnet_depth(video_path, prompt, **kwargs).path

    # ------------------------------------------------------------------------------------------------- pix2pix
    def pix2pix(
        self,
        video,
        prompt: str,
        resolution: int = 512,
        seed: int = 0,
        image_guidance_scale: float = 1.0,
        guidance_scale: float = 7.5,
        num_inference_steps: int = 50,
        start_t: float = 0,
        end_t: float = -1,
        out_fps: float = -1,
        chunk_size: int = 8,
        merging_ratio: float = 0.0,
        use_cf_attn: bool = True,
        save_path: str | None = None,
        model_name: str | None = None,
        max_frames: int | None = None,
        n_prompt: str = "",
        watermark: str | None = None,
        lora: str | None = None,
        lora_weight: float = 1.0,
    ) -> GenerationResult:
        """Edit a video by an instruction ("make it night"); `out_fps=-1` keeps the input's frame rate.

        `model_name`: an Instruct-Pix2Pix hub id, local folder or .safetensors file (default
        timbrooks/instruct-pix2pix, see settings). `lora`: an optional SD 1.x LoRA applied at `lora_weight`.
        """
        from pipelines.instruct_pix2pix_video import MAX_IMAGE_GUIDANCE

        prompt = as_text("Instruction", prompt)
        n_prompt = as_text("Negative prompt", n_prompt, required=False)
        model_name = model_name or self.settings.default_pix2pix_model
        image_guidance_scale = as_float("Image guidance scale", image_guidance_scale, 0.0, MAX_IMAGE_GUIDANCE)
        guidance_scale = as_float("Guidance scale", guidance_scale, 0.0, MAX_GUIDANCE)
        num_inference_steps = as_int("Steps", num_inference_steps, 1, MAX_STEPS)
        chunk_size = as_int("Chunk size", chunk_size, 2)
        merging_ratio = as_float("Merging ratio", merging_ratio, 0.0, 0.9)
        lora_weight = as_float("LoRA weight", lora_weight, -2.0, 2.0)
        watermark = watermark_text(watermark)
        path = self._output_path(save_path)
        seed = draw_seed(seed)
        use_cf_attn = as_flag("use_cf_attn", use_cf_attn)
        clip = self._video_input(video, resolution, start_t, end_t, out_fps, max_frames)
        self._check_work(*clip.frames.shape[:3], num_inference_steps)

        with self._generating("video editing"):
            pipe = self.pix2pix_pipeline(model_name)
            self.apply_lora(pipe, lora, lora_weight)
            latents = pipe(
                prompt,
                clip.frames,
                num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale,
                image_guidance_scale=image_guidance_scale,
                negative_prompt=n_prompt,
                generator=torch.Generator("cpu").manual_seed(seed),
                chunk_size=min(chunk_size, len(clip.frames)),
                merging_ratio=merging_ratio,
                use_cf_attn=use_cf_attn,
                output_type="latent",
                callback_on_step_end=on_step,
            ).frames
            self._write(pipe, latents, path, clip.fps, watermark)
        logger.info("Wrote %s (pix2pix, seed %d)", path, seed)
        return GenerationResult(path=str(path), seed=seed, notes=list(clip.notes))

    def process_pix2pix(self, video, prompt: str, **kwargs) -> str:
        """Edit a video by an instruction and return the path of the edited video (see `pix2pix`)."""
        return self.pix2pix(video, prompt, **kwargs).path

    # ---------------------------------------------------------------------------------------------- modelscope
    def modelscope(
        self,
        prompt: str,
        model_name: str | None = None,
        negative_prompt: str = "",
        num_frames: int = 16,
        num_inference_steps: int = 25,
        guidance_scale: float = 9.0,
        height: int | None = None,
        width: int | None = None,
        fps: float = 8,
        seed: int = 0,
        scheduler: str = "dpm++",
        path: str | None = None,
    ) -> GenerationResult:
        """ModelScope/Zeroscope text-to-video; `height`/`width` None: the model's native size."""
        from settings import MODELSCOPE_SIZES

        prompt = as_text("Prompt", prompt)
        negative_prompt = as_text("Negative prompt", negative_prompt, required=False)
        model_name = as_text("Model", model_name or self.settings.default_modelscope_model)
        num_frames = as_int("Frames", num_frames, 1, self.settings.max_frames)
        num_inference_steps = as_int("Steps", num_inference_steps, 1, MAX_STEPS)
        guidance_scale = as_float("Guidance scale", guidance_scale, 0.0, MAX_GUIDANCE)
        native = MODELSCOPE_SIZES.get(model_name)
        width = self._size("Width", width, native[0] if native else None)
        height = self._size("Height", height, native[1] if native else None)
        fps = as_float("fps", fps, 1, MAX_FPS)
        scheduler = self._scheduler_name(scheduler)
        path = self._output_path(path)
        seed = draw_seed(seed)
        self._run_modelscope(
            "ModelScope generation",
            model_name,
            scheduler,
            path,
            fps,
            prompt,
            num_frames=num_frames,
            height=height,
            width=width,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            negative_prompt=negative_prompt,
            generator=torch.Generator("cpu").manual_seed(seed),
        )
        logger.info("Wrote %s (modelscope, seed %d)", path, seed)
        return GenerationResult(path=str(path), seed=seed)

    def modelscope_upscale(
        self,
        video_path=None,
        prompt: str = "",
        model_name: str | None = None,
        strength: float = 0.6,
        width: int = 1024,
        height: int = 576,
        num_inference_steps: int = 25,
        guidance_scale: float = 9.0,
        negative_prompt: str = "",
        seed: int = 0,
        fps: float = -1,
        scheduler: str = "dpm++",
        path: str | None = None,
    ) -> GenerationResult:
        """Zeroscope XL video-to-video on a clip (e.g. a ModelScope result) at width x height; keeps `1 - strength`
        of the clip. `fps=-1`: the clip's own rate. The Model remembers no clip between requests: one visitor's clip
        never reaches another."""
        prompt = as_text("Prompt", prompt)
        negative_prompt = as_text("Negative prompt", negative_prompt, required=False)
        model_name = as_text("Upscale model", model_name or self.settings.default_upscale_model)
        strength = as_float("Strength", strength, 0.0, 1.0)
        if strength == 0:
            raise InputError("Strength must be above 0 (and at most 1): 0 would return the clip unchanged.")
        width = self._size("Width", width, None)
        height = self._size("Height", height, None)
        num_inference_steps = as_int("Steps", num_inference_steps, 1, MAX_STEPS)
        guidance_scale = as_float("Guidance scale", guidance_scale, 0.0, MAX_GUIDANCE)
        scheduler = self._scheduler_name(scheduler)
        path = self._output_path(path)
        seed = draw_seed(seed)
        if video_path in (None, ""):
            raise InputError(
                "No clip to upscale: generate a clip first (it fills the 'Clip to upscale' box) or upload one."
            )
        clip = load_video(video_path, max(width, height), fps=fps, max_frames=self.settings.max_frames)
        frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0
        frames = torch.nn.functional.interpolate(frames, size=(height, width), mode="bicubic").clamp(0, 1)
        self._run_modelscope(
            "upscaling",
            model_name,
            scheduler,
            path,
            clip.fps,
            prompt,
            video=frames,
            strength=strength,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            negative_prompt=negative_prompt,
            generator=torch.Generator("cpu").manual_seed(seed),
        )
        logger.info("Wrote %s (upscale, seed %d)", path, seed)
        return GenerationResult(path=str(path), seed=seed, notes=list(clip.notes))

    def _run_modelscope(
        self, mode: str, model_name: str, scheduler: str, path: Path, fps: float, prompt: str, **call
    ) -> None:
        """Load the ModelScope/Zeroscope model, run it with `call` and write the clip."""
        with self._generating(mode):
            pipe = self.modelscope_pipeline(model_name)
            pipe.set_scheduler(scheduler)
            video = call.get("video")
            native = pipe.unet.config.sample_size * pipe.vae_scale_factor
            frames, height, width = (
                video.shape[0:1] + video.shape[2:] if video is not None else (call["num_frames"], 0, 0)
            )
            steps = call["num_inference_steps"] * call.get("strength", 1.0)
            self._check_work(frames, height or call["height"] or native, width or call["width"] or native, steps)
            latents = pipe(prompt, output_type="latent", callback_on_step_end=on_step, **call).frames
            self._write(pipe, latents, path, fps, "")

    def process_modelscope(self, prompt: str, **kwargs) -> str:
        """ModelScope/Zeroscope text-to-video; returns the path of the written video (see `modelscope`)."""
        return self.modelscope(prompt, **kwargs).path

    def process_modelscope_upscale(self, video_path=None, prompt: str = "", **kwargs) -> str:
        """Upscale a clip (e.g. a ModelScope result) with Zeroscope XL; returns the new video's path."""
        return self.modelscope_upscale(video_path, prompt, **kwargs).path

    def _size(self, name: str, value, default: int | None) -> int | None:
        if value in (None, 0, ""):
            return default
        return as_resolution(name, value, self.settings.max_resolution, minimum=8)

    @staticmethod
    def _scheduler_name(name) -> str:
        if name not in SCHEDULERS:
            raise InputError(f"Scheduler must be one of {', '.join(SCHEDULERS)}, got {name!r}.")
        return name

    # -------------------------------------------------------------------------------------------------- output
    def _video_input(self, video, resolution, start_t, end_t, fps, max_frames) -> VideoClip:
        """Check the video options, then read the frames (at most `max_frames`, default: the configured limit)."""
        resolution = as_resolution("Resolution", resolution, self.settings.max_resolution)
        limit = self.settings.max_frames
        max_frames = as_int("Max frames", limit if max_frames is None else max_frames, 1, limit)
        return load_video(video, resolution, start_t, end_t, fps, max_frames)

    def _output_path(self, path) -> Path:
        """A fresh file in the output folder, or the caller's `path`, checked before any work: it must name a
        video file (.mp4/.gif) in a folder that can be written."""
        if path in (None, ""):
            prune_outputs(self.settings.output_dir, self.settings.output_ttl_hours * 3600)
            return new_output_path(self.settings.output_dir)
        path = Path(as_text("path", path)).expanduser()
        if path.suffix.lower().lstrip(".") not in VIDEO_FORMATS:
            allowed = ", ".join("." + f for f in VIDEO_FORMATS)
            raise InputError(f"path must end in one of {allowed}, got '{path.name}'.")
        if path.is_dir():
            raise InputError(f"path '{path}' is a folder: name a video file inside it, e.g. '{path / 'clip.mp4'}'.")
        probe = path.parent / f".{path.name}.{secrets.token_hex(4)}.probe"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise InputError(
                f"Cannot write to the folder of path '{path}' ({error.strerror or error}): choose another path."
            ) from None
        return path

    @contextmanager
    def _generating(self, mode: str) -> Iterator[None]:
        """One generation at a time on the device, running out of memory as a message. A request stopped while it
        waits for its turn never starts."""
        while not self._lock.acquire(timeout=0.1):
            check_cancelled()
        try:
            check_cancelled()
            with memory_guard(mode):
                yield
        finally:
            self._lock.release()

    def _check_work(self, frames: int, height: int, width: int, steps: float) -> None:
        """Refuse a web request that asks for more than T2VZ_MAX_WORK megapixel-steps (frames x pixels x steps)."""
        limit = self.settings.work_limit
        work = frames * height * width * steps / 1e6
        if from_web() and limit and work > limit:
            raise InputError(
                f"This request is too large for this server: {frames} frames x {width}x{height} px x {steps:g} steps "
                f"= {work:,.0f} megapixel-steps, above its limit of {limit:,} (T2VZ_MAX_WORK). Use fewer frames, a "
                "lower resolution or fewer steps."
            )

    @staticmethod
    def _write(pipe, latents: torch.Tensor, path: Path, fps: float, watermark: str, beside=None) -> None:
        """Decode a few frames at a time and write them as they come: memory stays flat in the clip's length.

        `beside`: uint8 frames (e.g. the condition) shown to the left of the result, at the result's size. The
        file appears under `path` only once it is whole (see `VideoWriter`).
        """
        import numpy as np

        with VideoWriter(path, fps, watermark) as writer:
            start = 0
            for frames in pipe.decode_latents_iter(latents, DECODE_CHUNK_SIZE):
                check_cancelled()  # a stopped request writes nothing: the writer drops its partial file
                if beside is not None:
                    left = beside[start : start + len(frames)].astype(np.float32) / 255.0
                    frames = np.concatenate([left, frames], axis=2)
                    start += len(frames)
                writer.write(frames)
