"""Loading and swapping checkpoints: what the `Model` holds and how it gets it.

Nothing loads at import or construction. Checkpoints load on first use into slots that are swapped separately:
"base" holds a Stable Diffusion model's components (UNet, VAE, text encoder, tokenizer, scheduler), "controlnet"
a ControlNet, "pix2pix" and "modelscope" their own pipelines. Pipelines are cheap views over the slots, so the
text-to-video and guided tabs share one base and switching guided tabs swaps only the ControlNet. A new checkpoint
loads on the CPU first: one that fails to load leaves the previous one usable; only then is the old one freed (GPU
memory included) and the new one moved over. LoRAs are tracked per UNet, annotators cached by name.
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import os
import threading
import weakref
from pathlib import Path
from typing import Any

import torch

from catalogue import MOTION_ADAPTERS, SPARSE_CONTROLS
from errors import InputError, ModelLoadError, WrongModelError
from pipelines import (
    ControlNetVideoPipeline,
    InstructPix2PixVideoPipeline,
    TextToVideoZeroPipeline,
    TextToVideoZeroSDXLPipeline,
)
from pipelines.modelscope import ModelScopePipeline
from pipelines.motion_module import (
    MotionControlNetPipeline,
    MotionModulePipeline,
    MotionSDXLPipeline,
    MotionSparseCtrlPipeline,
    adapter_problem,
    animatediff_scheduler,
    motion_unet,
)
from pipelines.video_families import VIDEO_TRANSFORMERS, Family, family_of, image_pipeline, lora_family, takes_image
from pipelines.video_models import TEXT_ENCODERS
from settings import Settings
from utils import single_file
from utils.compilation import compile_repeated_blocks, use_channels_last
from utils.jobs import TRUSTED, RequestRules
from utils.memory import offload_by_blocks, store_in_fp8
from utils.model_names import resolve_web_model_name
from utils.tiny_models import TINY_FAMILIES, ensure_tiny_models
from utils.validation import as_text, shorten

logger = logging.getLogger(__name__)

# Slots that cannot share the GPU: Instruct-Pix2Pix has its own UNet, so it and the SD base + ControlNet take turns.
EXCLUSIVE_SLOTS = {
    "pix2pix": ("base", "controlnet", "modelscope", "motion_unet", "sparse_control", "video_model"),
    "modelscope": ("base", "controlnet", "pix2pix", "motion_unet", "sparse_control", "video_model"),
    "video_model": ("base", "controlnet", "pix2pix", "modelscope", "motion_unet", "sparse_control"),
    "base": ("pix2pix", "modelscope", "video_model"),
    "controlnet": ("pix2pix", "modelscope", "video_model"),
    "motion_unet": ("pix2pix", "modelscope", "video_model"),
    "sparse_control": ("pix2pix", "modelscope", "video_model"),
}
TINY_ALIASES = {f"tiny-{family}": family for family in TINY_FAMILIES}
LOADING = threading.Lock()  # one checkpoint load at a time in this process (see `ModelLoader._load`)
# The networks that T2VZ_LAYERWISE_FP8 stores in 8 bits (the bulk of the weights; the VAE and text encoders are small
# and sensitive), and that T2VZ_CHANNELS_LAST and T2VZ_COMPILE speed up (they run every step).
DENOISERS = (
    "UNet2DConditionModel",
    "UNet3DConditionModel",
    "UNetMotionModel",
    "ControlNetModel",
    *VIDEO_TRANSFORMERS,
)


def lora_layers(model) -> list[tuple[str, torch.nn.Module]]:
    """The modules of `model` that a LoRA wraps (peft's tuner layers), by name; none for None."""
    if model is None:
        return []
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [(name, module) for name, module in model.named_modules() if isinstance(module, BaseTunerLayer)]


def pick_device(device: str | torch.device | None = None, dtype: torch.dtype | None = None):
    """CUDA, else Apple's MPS, with float16; else the CPU with float32, as diffusers does. Explicit choices win."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    chosen = torch.device(device)
    if dtype is None:
        dtype = torch.float16 if chosen.type in ("cuda", "mps") else torch.float32
    return chosen, dtype


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


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

    if not (folder / "model_index.json").is_file() and not (folder / "config.json").is_file():
        return (
            f"Could not load the local model folder '{label}': it is not a complete diffusers folder (it has no "
            "model_index.json or config.json). Give the folder of a model saved with diffusers' save_pretrained, a "
            ".safetensors checkpoint or a Hugging Face id."
        )
    config: object = {}
    for index in (folder / "model_index.json", folder / "config.json"):
        if index.is_file():
            try:
                config = json.loads(index.read_text())
            except (OSError, ValueError):
                return (
                    f"'{label}' has a damaged {index.name} (not valid JSON): replace the folder with a fresh download."
                )
            break
    config = config if isinstance(config, dict) else {}
    specs = [v for k, v in config.items() if not k.startswith("_") and isinstance(v, list) and len(v) == 2]
    custom = not isinstance(config.get("_class_name", ""), str) or any(lib not in KNOWN_LIBRARIES for lib, _ in specs)
    if custom or any(folder.glob("*.py")) or any(folder.glob("*/*.py")):  # a pipeline's or a component's code
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


HUB_PROBE_SECONDS = 3.0  # how long to wait for the Hub to answer before a model not in the cache is said missing
_hub_answers: dict[str, tuple[float, bool]] = {}  # endpoint -> (when asked, whether it answered), for a minute


def hub_reachable() -> bool:
    """Whether the Hugging Face Hub answers from here (HF_HUB_OFFLINE: never asked); the answer is kept a minute."""
    import time

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # through a proxy: only the loaders can tell
    endpoint = constants.ENDPOINT
    asked = _hub_answers.get(endpoint)
    if asked and time.monotonic() - asked[0] < 60:
        return asked[1]
    import socket
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as NoAnswer
    from urllib.parse import urlsplit

    def connect() -> None:
        address = urlsplit(endpoint)
        port = address.port or (443 if address.scheme == "https" else 80)
        socket.create_connection((address.hostname, port), timeout=HUB_PROBE_SECONDS).close()

    # In a thread with a deadline: resolving the name is not bound by the socket's timeout.
    probe = ThreadPoolExecutor(max_workers=1)
    try:
        probe.submit(connect).result(timeout=HUB_PROBE_SECONDS)
        answered = True
    except (OSError, ValueError, NoAnswer):
        answered = False
    finally:
        probe.shutdown(wait=False)
    _hub_answers[endpoint] = (time.monotonic(), answered)
    return answered


def is_repo_id(name: str) -> bool:
    """Whether a name is a hub repository id, owner/name (not a file in one, not a local name)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if name.count("/") != 1 or Path(name).suffix.lower() in (".safetensors", ".ckpt", ".bin", ".pt", ".pth"):
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def in_hub_cache(name: str) -> bool:
    """Whether a hub id has a folder in this machine's Hugging Face cache (the one the loaders read)."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return (Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=name, repo_type="model")).is_dir()


def unreachable_repo(name: str) -> bool:
    """A hub id that is neither in the cache nor downloadable now (the Hub does not answer): no use trying."""
    return is_repo_id(name) and not Path(name).expanduser().exists() and not in_hub_cache(name) and not hub_reachable()


def missing_model_message(label: str, other_models_hint: str) -> str:
    """What to do about a model that is neither here nor downloadable (`Settings.other_models_hint`: what applies
    under these settings, e.g. --tiny-models only where it is off)."""
    return (
        f"Could not load the model '{label}': it is not on this machine and cannot be downloaded from here "
        "(or does not exist on the Hugging Face Hub). Fixes: check the id; download it once with network access "
        "(then set HF_HUB_OFFLINE=1 to use the cache); give a local diffusers folder instead; or "
        f"{other_models_hint}."
    )


class ModelLoader:
    """The loaded checkpoints of one device: slots, LoRAs and annotators (see the module's docstring)."""

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
        self.loras: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # UNet -> (LoRA name, weight) in it
        # motion UNet -> (motion LoRA path, weight, the weights it changed as they were)
        self.motion_loras: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.fused: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # UNet -> base weights a LoRA changed
        self._lock = threading.RLock()  # one generation (and one load) at a time on the device

    def resolve_model_name(self, model_name, rules: RequestRules = TRUSTED) -> str:
        """A hub id, a local diffusers folder or single-file checkpoint (also relative to the models root); the
        tiny-model aliases become their folders, built on demand. Under rules with a models root (the web's), a name
        the operator did not configure loads only from the Hub or from inside it (`resolve_web_model_name`)."""
        name = as_text("model_name", model_name)
        if name in TINY_ALIASES:
            return str(ensure_tiny_models(self.settings.tiny_models_dir)[TINY_ALIASES[name]])
        if rules.models_root is not None and name not in self.settings.configured_models:
            return resolve_web_model_name(name, rules.models_root)
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
        return ModelLoadError(missing_model_message(label, self.settings.other_models_hint))

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
        if unreachable_repo(name):
            # Not here and the Hub cannot be asked: say so now (the loaders would retry for half a minute).
            raise ModelLoadError(missing_model_message(label or name, self.settings.other_models_hint))
        try:
            with LOADING:  # diffusers' and accelerate's loaders patch torch globally while they build: one at a time
                value = load()
        except (ModelLoadError, InputError):  # already a message for the user
            raise
        except Exception as error:  # any failure to load is reported the same way; the old model stays
            raise self._load_error(label or name, name, error) from error
        self._free(slot, *others)
        if place is not None:
            value = place(value)
        elif isinstance(value, dict):
            value = {k: self.on_device(v) for k, v in value.items()}
        elif hasattr(value, "components"):  # a pipeline: its modules
            for component in value.components.values():
                self.on_device(component)
        else:
            value = self.on_device(value)
        self.slots[slot] = (name, value)
        return value

    def on_device(self, module):
        """A loaded module placed as the settings say: the denoising networks sped up (`speed_up`), then on the
        device; or kept in CPU memory, visiting the device block by block (T2VZ_OFFLOAD=group) or model by model for
        each call (model, CUDA only)."""
        if not isinstance(module, torch.nn.Module):
            return module
        offload = self.settings.offload
        if type(module).__name__ in DENOISERS:
            self.speed_up(module)
        if offload == "group":
            return offload_by_blocks(module, self.device)
        if offload == "model" and self.device.type == "cuda":
            return module  # `_ready` gives each call's pipeline accelerate's hooks
        return module.to(self.device)

    def speed_up(self, denoiser: torch.nn.Module) -> None:
        """The settings' options for a denoising network: fp8 weight storage (T2VZ_LAYERWISE_FP8), channels-last
        layout (T2VZ_CHANNELS_LAST, by default on CUDA) and regional compilation (T2VZ_COMPILE)."""
        if self.settings.layerwise_fp8:
            store_in_fp8(denoiser, self.dtype)
        channels_last = self.settings.channels_last
        if channels_last == "on" or (channels_last == "auto" and self.device.type == "cuda"):
            use_channels_last(denoiser)
        if self.settings.compile and compile_repeated_blocks(denoiser, self.device):
            denoiser.first_compiled_run = True  # said on the progress bar, once (`_ready`)

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

    def base_components(self, model_name: str, rules: RequestRules = TRUSTED) -> dict:
        """UNet, VAE, text encoder(s), tokenizer(s) and scheduler of a Stable Diffusion hub id, local folder or
        single-file checkpoint.

        SD 1.x/2.x or SDXL is read from the model itself: a folder's model_index.json (a second text encoder means
        SDXL) or a single file's keys."""
        name = self.resolve_model_name(model_name, rules)

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

    def native_resolution(self, model_name: str, rules: RequestRules = TRUSTED) -> int | None:
        """The frame size an SD base model was made for (512 SD 1.x, 768 SD 2.x-v, 1024 SDXL), from its configs
        alone: no weights load, and the hub is asked only for small config files, briefly. None when unknown."""
        from utils.model_list import model_config

        try:
            name = self.resolve_model_name(model_name, rules)
            if single_file.is_single_file(name):
                path = Path(name).expanduser()
                if not path.is_file():
                    return None  # a hub file: its kind is known once it is read
                family = single_file.detect_family(single_file.read_shapes(path, model_name), model_name)
                name = self.resolve_model_name(self.settings.single_file_config(family))
        except ValueError:
            return None
        unet, vae = model_config(name, "unet/config.json"), model_config(name, "vae/config.json")
        if unet is None or vae is None:
            return None
        try:
            size = unet["sample_size"] * 2 ** (len(vae["block_out_channels"]) - 1)  # latents times the VAE's scale
        except (KeyError, TypeError):  # a config missing, or not an SD model's
            return None
        return min(size, self.settings.max_resolution)

    def controlnet(self, controlnet_name: str, rules: RequestRules = TRUSTED):
        from diffusers import ControlNetModel

        name = self.resolve_model_name(controlnet_name, rules)
        folder_only(name, controlnet_name, "ControlNets")
        return self._load(
            "controlnet",
            name,
            lambda: ControlNetModel.from_pretrained(name, dtype=self.dtype, use_safetensors=True),
            label=controlnet_name,
        )

    def pix2pix_pipeline(self, model_name: str, rules: RequestRules = TRUSTED) -> InstructPix2PixVideoPipeline:
        from diffusers import EulerAncestralDiscreteScheduler

        name = self.resolve_model_name(model_name, rules)

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

    def modelscope_pipeline(self, model_name: str, rules: RequestRules = TRUSTED) -> ModelScopePipeline:
        name = self.resolve_model_name(model_name, rules)
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

        return self._ready(self._load("modelscope", name, load, label=model_name), "modelscope")

    def video_pipeline(self, model_name: str, image: bool, rules: RequestRules = TRUSTED):
        """A trained video transformer's pipeline (text-to-video, or image-to-video with `image`), its family and
        whether it takes an image (`video_models.takes_image`). The family is read from the model's
        model_index.json before any weights load: another kind of model is refused by name."""
        name = self.resolve_model_name(model_name, rules)
        folder_only(name, model_name, "trained video models")
        index = self._model_index(name, model_name)
        family = family_of(index, model_name)

        def load():
            from diffusers import DiffusionPipeline

            return DiffusionPipeline.from_pretrained(name, dtype=self.video_dtype, use_safetensors=True)

        pipe = self._load("video_model", name, load, place=self._place_video, label=model_name)
        image_mode = takes_image(family, index)
        if image and image_mode is None:  # the same weights through the family's image-to-video pipeline
            pipe = image_pipeline(pipe, family)
        return self._ready(pipe, family.label), family, image_mode

    def _place_video(self, pipe):
        """A video pipeline's modules placed as the settings say; its text encoders stay in CPU memory with
        T2VZ_TEXT_ENCODERS_ON_CPU (they encode there: `video_models.encode_prompts`)."""
        for name, component in pipe.components.items():
            if not (self.settings.text_encoders_on_cpu and name in TEXT_ENCODERS):
                self.on_device(component)
        return pipe

    @property
    def text_encoders_on_cpu(self) -> bool:
        """Whether the video models' prompts are encoded on the CPU (with model offloading, the text encoders visit
        the GPU while they encode instead)."""
        return self.settings.text_encoders_on_cpu and not (
            self.settings.offload == "model" and self.device.type == "cuda"
        )

    @property
    def video_dtype(self) -> torch.dtype:
        """The video transformers' precision: bfloat16 on GPUs that have it (their published precision; float16
        overflows in Wan's and LTX's attention), else the Model's."""
        if self.device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return self.dtype

    def _model_index(self, name: str, label: str) -> dict:
        """A diffusers model's model_index.json (from the Hub: that file only), or a message naming the model."""
        from diffusers import DiffusionPipeline

        if unreachable_repo(name):
            raise ModelLoadError(missing_model_message(label, self.settings.other_models_hint))
        try:
            return dict(DiffusionPipeline.load_config(name))
        except Exception as error:
            raise self._load_error(label, name, error) from error

    def apply_lora(self, pipe, lora: str | None, weight: float = 1.0, rules: RequestRules = TRUSTED) -> None:
        """Load `lora` (hub id, folder or .safetensors file) into the pipeline's UNet and text encoder at `weight`,
        swapping out another; no `lora` removes it. Pipelines are views over shared models, so the LoRA is tracked
        per UNet: it stays with the SD base across tabs, the pix2pix model keeps its own, and a swapped-out base
        takes its LoRA with it.

        The LoRA is fused into the weights for speed (unfused, each layer it touches adds two low-rank products per
        call). The weights it touches are kept in CPU memory first and put back when it leaves or its
        weight changes: fusing and unfusing in floating point would otherwise drift the base a little each time."""
        unet = pipe.unet
        name = as_text("LoRA", lora, required=False)
        if "://" in name:  # diffusers loads LoRAs from hub ids and local files only
            raise InputError(
                f"LoRA '{shorten(name)}' is a web address: give a Hugging Face id (owner/repo) or a local "
                ".safetensors file or folder."
            )
        current = self.loras.get(unet)
        if name and current == (name, weight):
            return
        if current is not None:
            self._unfuse(pipe)
            if current[0] != name:
                pipe.unload_lora_weights()
                del self.loras[unet]
        if not name:
            return
        if unet not in self.loras:
            path = self.resolve_model_name(name, rules)
            single_file.refuse_pickle(path, f"LoRA '{name}'")
            if not self._lora_fits(pipe, path, name):
                raise ModelLoadError(
                    f"LoRA '{name}' could not be applied to this base model: it may be made for another family "
                    "(SD 1.x / SD 2.x / SDXL), not be a LoRA, or not exist."
                )
        pipe.set_adapters(["lora"], adapter_weights=[weight])
        self._fuse(pipe)
        self.loras[unet] = (name, weight)

    @staticmethod
    def _lora_fits(pipe, path: str, name: str) -> bool:
        """Load the LoRA at `path` into the pipeline as the adapter "lora"; False (and nothing loaded) where it
        does not fit or does not load."""
        try:
            pipe.load_lora_weights(path, adapter_name="lora")
            fitted = any("lora" in adapters for adapters in pipe.get_list_adapters().values())
        except Exception as error:
            logger.warning("Could not load LoRA %s: %s", name, error)
            fitted = False
        if not fitted:
            pipe.unload_lora_weights()
        return fitted

    def apply_video_lora(self, pipe, family: Family, lora: str | None, weight: float, rules: RequestRules) -> None:
        """Load `lora` into a video transformer at `weight` (a step-distillation LoRA for few steps), swapping out
        another; none removes it. A LoRA whose keys do not fit is refused naming the family it was made for."""
        transformer, name = pipe.transformer, as_text("LoRA", lora, required=False)
        current = self.loras.get(transformer)
        if name and current == (name, weight):
            return
        if current is not None and current[0] != name:
            pipe.unload_lora_weights()
            del self.loras[transformer]
        if not name:
            return
        if transformer not in self.loras:
            path = self.resolve_model_name(name, rules)
            if single_file.is_single_file(path):  # a local file, or one file of a hub repo (owner/repo/file)
                path = str(single_file.fetch(path, f"LoRA '{name}'"))
            if not self._lora_fits(pipe, path, name):
                made_for = lora_family(path)
                origin = f" it was made for {made_for}" if made_for else " it may be made for another model family"
                raise ModelLoadError(
                    f"LoRA '{name}' does not fit this {family.label} model:{origin}. Choose a {family.label} LoRA."
                )
        pipe.set_adapters(["lora"], adapter_weights=[weight])
        self.loras[transformer] = (name, weight)

    def _fuse(self, pipe) -> None:
        """Fuse the pipeline's LoRA into its weights, keeping a CPU copy of every weight it changes."""
        self.fused[pipe.unet] = {
            f"{component}.{module_name}": module.get_base_layer().weight.detach().to("cpu", copy=True)
            for component in ("unet", "text_encoder")
            for module_name, module in lora_layers(getattr(pipe, component, None))
        }
        pipe.fuse_lora(components=["unet", "text_encoder"], lora_scale=1.0, adapter_names=["lora"])

    def _unfuse(self, pipe) -> None:
        """Undo `_fuse` exactly: unmerge, then put the kept weights back."""
        saved = self.fused.pop(pipe.unet, None)
        if saved is None:
            return
        pipe.unfuse_lora(components=["unet", "text_encoder"])
        with torch.no_grad():
            for component in ("unet", "text_encoder"):
                for module_name, module in lora_layers(getattr(pipe, component, None)):
                    weight = module.get_base_layer().weight
                    weight.copy_(saved[f"{component}.{module_name}"].to(weight.device, weight.dtype))

    def _ready(self, pipe, mode: str):
        quiet = {} if self.settings.progress_bars else {"disable": True}  # the pipeline's bars all read this
        pipe.set_progress_bar_config(desc=f"Generating ({mode})", **quiet)
        networks = [getattr(pipe, name, None) for name in ("unet", "controlnet", "transformer")]
        if any(getattr(network, "first_compiled_run", False) for network in networks):
            # T2VZ_COMPILE: the first steps compile (minutes with real models); the page says why they are slow.
            pipe.set_progress_bar_config(desc=f"Generating ({mode}; compiling on this first run, slow)", **quiet)
            for network in networks:
                if network is not None:
                    network.first_compiled_run = False
        if self.settings.offload == "model" and self.device.type == "cuda":
            # Each model visits the GPU while it runs (hooks on the shared modules, set for this pipeline).
            pipe.enable_model_cpu_offload(device=self.device)
        return pipe

    def text2video_pipeline(self, model_name: str, rules: RequestRules = TRUSTED) -> TextToVideoZeroPipeline:
        components = self.base_components(model_name, rules)
        sdxl = "text_encoder_2" in components
        pipeline_class = TextToVideoZeroSDXLPipeline if sdxl else TextToVideoZeroPipeline
        return self._ready(pipeline_class(**components), "text2video")

    def controlnet_pipeline(
        self, model_name: str, controlnet_name: str, rules: RequestRules = TRUSTED
    ) -> ControlNetVideoPipeline:
        # The ControlNet first: a base swap then keeps it, and a ControlNet swap keeps the base.
        controlnet = self.controlnet(controlnet_name, rules)
        components = self.base_components(model_name, rules)
        if "text_encoder_2" in components:
            raise WrongModelError(
                f"'{model_name}' is an SDXL model; the guided modes use SD 1.x ControlNets: choose an SD 1.x base."
            )
        self.check_controlnet_fits(components, model_name, controlnet, controlnet_name)
        pipe = ControlNetVideoPipeline(**components, controlnet=controlnet)
        return self._ready(pipe, "guided")

    @staticmethod
    def check_controlnet_fits(components: dict, model_name: str, controlnet, controlnet_name: str | None) -> None:
        if components["unet"].config.cross_attention_dim != controlnet.config.cross_attention_dim:
            raise WrongModelError(
                f"The ControlNet '{controlnet_name}' was made for another Stable Diffusion family than '{model_name}' "
                "(their text-embedding widths differ): the guided modes' ControlNets need an SD 1.x base."
            )

    def motion_adapter(self, adapter_name: str, rules: RequestRules = TRUSTED):
        """An AnimateDiff motion adapter (hub id or folder); anything else is refused by name."""
        from diffusers import MotionAdapter

        return self._single_model("motion_adapter", adapter_name, MotionAdapter, "a motion adapter", rules)

    def sparse_control(self, sparse_name: str, rules: RequestRules = TRUSTED):
        """A SparseCtrl model (hub id or folder); anything else is refused by name."""
        from diffusers import SparseControlNetModel

        return self._single_model("sparse_control", sparse_name, SparseControlNetModel, "a SparseCtrl model", rules)

    def _single_model(self, slot: str, given: str, model_class, what: str, rules: RequestRules):
        """One diffusers model of `model_class` (hub id or folder) into `slot`: a folder holding anything else
        (another model, a whole pipeline) is refused by name, with the catalogue's first such model as the fix."""
        name = self.resolve_model_name(given, rules)
        folder_only(name, given, f"{what[2:]}s")
        kind_wanted = model_class.__name__

        def load():
            try:
                kind = model_class.load_config(name).get("_class_name")
            except Exception:  # no config.json: a whole pipeline (model_index.json), or no model at all
                kind = None
            if kind != kind_wanted:
                example = MOTION_ADAPTERS[0] if slot == "motion_adapter" else SPARSE_CONTROLS[0]
                raise WrongModelError(
                    f"'{given}' is not {what} (it holds {f'a {kind}' if kind else 'no single model'}): choose one "
                    f"such as {example}."
                )
            return model_class.from_pretrained(name, dtype=self.dtype, use_safetensors=True)

        return self._load(slot, name, load, label=given)

    def motion_pipeline(
        self,
        model_name: str,
        adapter_name: str,
        lora=None,
        lora_weight: float = 1.0,
        rules: RequestRules = TRUSTED,
        controlnet_name: str | None = None,
        motion_lora: str | None = None,
        motion_lora_weight: float = 1.0,
        sparse_control: str | None = None,
    ) -> MotionModulePipeline:
        """The SD base (with its LoRA, fused) and a motion adapter as one motion UNet: built once per base, adapter
        and LoRA, and kept; with `controlnet_name`, guided by that ControlNet; with `motion_lora`, that camera move
        in its motion modules (`motion_lora`); with `sparse_control`, steered by keyframes through that SparseCtrl
        model. The base, adapter and ControlNet are checked to fit before anything is built."""
        controlnet = None if controlnet_name is None else self.controlnet(controlnet_name, rules)
        sparse = None if sparse_control is None else self.sparse_control(sparse_control, rules)
        components = self.base_components(model_name, rules)
        sdxl = "text_encoder_2" in components
        if sdxl and (controlnet is not None or sparse is not None):
            what = "the guided modes' ControlNets" if controlnet is not None else "SparseCtrl (image-to-video)"
            raise WrongModelError(
                f"'{model_name}' is an SDXL model; {what} with a motion module are served for SD 1.x bases only: "
                "choose an SD 1.x base (or the zero-shot motion source)."
            )
        if controlnet is not None:
            self.check_controlnet_fits(components, model_name, controlnet, controlnet_name)
        adapter = self.motion_adapter(adapter_name, rules)
        if problem := adapter_problem(components["unet"], adapter):
            raise WrongModelError(f"The motion adapter '{adapter_name}' does not fit '{model_name}': {problem}.")
        base_pipeline = TextToVideoZeroSDXLPipeline if sdxl else TextToVideoZeroPipeline
        self.apply_lora(base_pipeline(**components), lora, lora_weight, rules)  # fused into the base
        key = (
            f"{self.loaded_name('base')} + {self.loaded_name('motion_adapter')} + {self.loras.get(components['unet'])}"
        )
        unet = self._load("motion_unet", key, lambda: motion_unet(components["unet"], adapter), label=adapter_name)
        parts = {name: components[name] for name in ("vae", "text_encoder", "tokenizer")}
        scheduler = animatediff_scheduler(components["scheduler"].config)
        if sdxl:
            second = {name: components[name] for name in ("text_encoder_2", "tokenizer_2")}
            pipe = MotionSDXLPipeline(**parts, **second, unet=unet, scheduler=scheduler)
        elif controlnet is not None:
            pipe = MotionControlNetPipeline(**parts, unet=unet, controlnet=controlnet, scheduler=scheduler)
        elif sparse is not None:
            pipe = MotionSparseCtrlPipeline(**parts, unet=unet, controlnet=sparse, scheduler=scheduler)
        else:
            pipe = MotionModulePipeline(**parts, unet=unet, scheduler=scheduler)
        self.motion_lora(pipe, motion_lora, motion_lora_weight, rules)
        return self._ready(pipe, f"{'text2video' if controlnet is None else 'guided'}, motion module")

    def motion_lora(self, pipe: MotionModulePipeline, lora: str | None, weight: float, rules: RequestRules) -> None:
        """An AnimateDiff motion LoRA (a camera move) fused into the motion UNet at `weight`, or none. The weights
        it changes are kept in CPU memory first and put back when it leaves (so a clip without one is exactly the
        plain clip); fused and unloaded, it leaves the UNet's layers as they were built (FreeNoise swaps them). A
        LoRA with no weights for the motion modules is refused by name."""
        unet = pipe.unet
        wanted = (self.resolve_model_name(lora, rules), weight) if lora else None
        current = self.motion_loras.get(unet)
        if current is not None and current[:2] == wanted:
            return
        if current is not None:
            with torch.no_grad():
                for name, saved in current[2].items():
                    target = unet.get_submodule(name).weight
                    target.copy_(saved.to(target.device, target.dtype))
            del self.motion_loras[unet]
        if wanted is None:
            return
        path = wanted[0]
        single_file.refuse_pickle(path, f"Motion LoRA '{lora}'")
        try:
            weights, _ = pipe.lora_state_dict(path)
        except Exception as error:
            raise self._load_error(f"Motion LoRA '{lora}'", path, error) from error
        if not any("motion_modules" in name for name in weights):
            raise WrongModelError(
                f"'{lora}' is not a motion LoRA: none of its weights are for a motion module's temporal layers (an "
                "image LoRA goes in the LoRA field)."
            )
        try:
            pipe.load_lora_weights(weights, adapter_name="motion")
        except Exception as error:  # shapes of another family's motion modules
            logger.warning("Could not load motion LoRA %s: %s", lora, error)
            pipe.unload_lora_weights()
            raise WrongModelError(
                f"The motion LoRA '{lora}' does not fit this motion module (it was made for another adapter or "
                "family: AnimateDiff's camera LoRAs are for the SD 1.5 v2/v3 adapters)."
            ) from error
        saved = {
            name: layer.get_base_layer().weight.detach().to("cpu", copy=True) for name, layer in lora_layers(unet)
        }
        pipe.fuse_lora(components=["unet"], lora_scale=weight, adapter_names=["motion"])
        pipe.unload_lora_weights()
        self.motion_loras[unet] = (*wanted, saved)

    def preview_decoder(self):
        """The `AutoencoderTiny` (TAESD) named by T2VZ_PREVIEW_DECODER, loaded once; None where none is named or it
        cannot load (previews then use the latent-to-RGB map: a preview never fails a generation)."""
        name = self.settings.preview_decoder
        if not name:
            return None
        if name not in self.annotators:
            from diffusers import AutoencoderTiny

            try:
                with LOADING:
                    decoder = AutoencoderTiny.from_pretrained(name, torch_dtype=self.dtype, use_safetensors=True)
                decoder = decoder.to(self.device)
            except Exception as error:  # any failure: previews fall back, the generation goes on
                logger.warning("Could not load the preview decoder %s (%s): previews use latent-to-RGB", name, error)
                decoder = None
            self.annotators[name] = decoder
        return self.annotators[name]

    def annotator(self, name: str):
        """A cached annotator: "depth", "openpose" or "mediapipe". Tiny mode uses random weights (no hub)."""
        if name not in self.annotators:
            from annotators import DepthEstimator, MediaPipePoseEstimator, OpenPoseEstimator

            networks: dict[str, Any] = {"depth": DepthEstimator, "openpose": OpenPoseEstimator}
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
            elif self.settings.random_annotators:
                self.annotators[name] = networks[name].random(self.device)
            else:
                repo = self.settings.annotators_repo
                try:
                    with LOADING:
                        self.annotators[name] = networks[name].from_pretrained(repo, self.device)
                except Exception as error:
                    hint = " For pose, T2VZ_POSE_DETECTOR=mediapipe works offline." if name == "openpose" else ""
                    raise ModelLoadError(
                        f"Could not load the {name} annotator weights from '{repo}'. Download them once with network "
                        f"access, or set T2VZ_ANNOTATORS_REPO to a local folder holding them.{hint}"
                    ) from error
        return self.annotators[name]
