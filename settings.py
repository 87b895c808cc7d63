"""Every environment knob of the app, parsed and clamped once, and what they choose, resolved once: where the models
come from (the Hugging Face Hub as configured, or the offline tiny models with --tiny-models) decides the models,
limits and page options below (`Settings.__post_init__`); no other module asks which. The models on offer are in
`catalogue`, what each tab starts with in `tabs.defaults`.

T2VZ_TINY_MODELS      1: every tab uses the offline tiny models (default 0)
T2VZ_TINY_MODELS_DIR  where the tiny models are built (default ~/.cache/text2video-zero/tiny-models)
T2VZ_SD_MODEL         base model of the text-to-video tab (default stable-diffusion-v1-5/stable-diffusion-v1-5)
T2VZ_MAX_FRAMES       most frames one request may ask for (default 128)
T2VZ_MAX_RESOLUTION   largest side in pixels (default 1024)
T2VZ_OUTPUT_DIR       where generated videos are written (default <system temp>/text2video-zero/outputs)
T2VZ_QUEUE_SIZE       requests waiting in the queue at most (default 20)
T2VZ_CONTROLNET_POSE  pose ControlNet (default lllyasviel/sd-controlnet-openpose); likewise T2VZ_CONTROLNET_CANNY
                      (lllyasviel/sd-controlnet-canny) and T2VZ_CONTROLNET_DEPTH (lllyasviel/sd-controlnet-depth)
T2VZ_PIX2PIX_MODEL    Instruct-Pix2Pix model of the editing tab (default timbrooks/instruct-pix2pix)
T2VZ_MODELSCOPE_MODEL text-to-video model of the ModelScope tab (default ali-vilab/text-to-video-ms-1.7b)
T2VZ_VIDEO_MODEL      the trained-video tab's first video transformer (default Wan-AI/Wan2.1-T2V-1.3B-Diffusers)
T2VZ_UPSCALE_MODEL    video-to-video upscaler of that tab (default cerspense/zeroscope_v2_XL)
T2VZ_OFFLOAD          model: on CUDA, every mode's models sit in CPU memory and each visits the GPU while it runs
                      (T2VZ_CPU_OFFLOAD=1 says the same); group: they visit it block by block (least GPU memory,
                      slower); default: everything on the GPU
T2VZ_LAYERWISE_FP8    1: the UNet's and ControlNet's weights are stored in 8 bits (float8_e4m3) and computed in the
                      model's dtype, layer by layer: about half their memory, a small loss of precision
T2VZ_TEXT_ENCODERS_ON_CPU  1: the trained video models' text encoders (T5, Qwen: 10-15 GB) stay in CPU memory and
                      encode the prompt there, once per clip; the GPU never holds them (with T2VZ_OFFLOAD=model they
                      visit it while they encode instead). Default 0
T2VZ_CHANNELS_LAST    auto (default: on CUDA), on or off: the denoising networks' weights in channels-last layout,
                      which cuDNN's convolutions run faster; the output equals the default layout's up to rounding
T2VZ_COMPILE          1: torch.compile the blocks the UNet and ControlNet repeat (regional compilation): faster steps
                      on CUDA, exact up to rounding; the first generation with each model compiles (minutes with real
                      models). On a CPU it needs a C++ compiler. Default 0
T2VZ_DEVICES          devices to serve on at once, one generation each, e.g. cuda:0,cuda:1 (default: one, picked)
T2VZ_VAE_TILING       auto (default: frames of 1024 px and more decode in tiles), on or off
T2VZ_MODELS_ROOT      the only folder whose model folders may be named from the web UI/API (default ./models)
T2VZ_AUTH             user:password (several: comma-separated) to require a login, e.g. for a shared link
T2VZ_TRUSTED_PROXIES  addresses or networks (comma-separated, e.g. 10.0.0.5,172.16.0.0/12) of the reverse proxies in
                      front of the app, whose X-Forwarded-For it believes for login throttling (default none; the
                      share tunnel the app starts itself is trusted with --share)
T2VZ_MAX_UPLOAD_MB    largest upload in MB (default 200)
T2VZ_OUTPUT_TTL_HOURS outputs (and Gradio's copies of uploads) older than this are deleted (default 24)
T2VZ_MAX_WORK         most work one web request may ask for, in megapixel-steps: frames x width x height x steps
                      / 1e6 (default 2000, about 128 frames at 512x512 with 50 steps; 16 with --tiny-models; 0: no
                      limit)
T2VZ_POSE_DETECTOR    openpose (hub weights, default) or mediapipe (weights inside the pip package, offline)
T2VZ_ANNOTATORS_REPO  hub repo or local folder of the OpenPose/MiDaS weights (default lllyasviel/Annotators)
T2VZ_PREVIEW_EVERY    the page shows a preview of the first frames every this many denoising steps (default 5; 0: none)
T2VZ_PREVIEW_DECODER  an AutoencoderTiny (TAESD; hub id or local folder, e.g. madebyollin/taesd, or
                      madebyollin/taesdxl for SDXL) that draws the previews; default: none, a linear latent-to-RGB
                      map that needs no weights
T2VZ_CACHE_EXAMPLES   1: an example's video is made on its first click and kept for every later visitor (default 1
                      with the hub models, 0 with --tiny-models)
T2VZ_EXAMPLES_CACHE_DIR  where those videos are kept (default <system temp>/text2video-zero/examples)
T2VZ_SD1_CONFIG       diffusers configs (hub id or local folder) for single-file SD 1.x checkpoints (default
                      stable-diffusion-v1-5/stable-diffusion-v1-5); likewise T2VZ_SD2_CONFIG
                      (stabilityai/stable-diffusion-2-1: 768 px, v-prediction; use stabilityai/stable-diffusion-2-base
                      for 512 px fine-tunes) and T2VZ_SDXL_CONFIG (stabilityai/stable-diffusion-xl-base-1.0)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from catalogue import (
    CAMERA_LORAS,
    CONTROLNETS,
    CURATED_SD_MODELS,
    DEFAULT_MODELSCOPE_MODEL,
    DEFAULT_PIX2PIX_MODEL,
    DEFAULT_SD_MODEL,
    DEFAULT_UPSCALE_MODEL,
    DREAMBOOTH_STYLES,
    FAST_LORAS,
    FAST_STEPS,
    MOTION_ADAPTERS,
    POSE_DETECTORS,
    SDXL_BASE_MODEL,
    SINGLE_FILE_CONFIGS,
    SPARSE_CONTROLS,
    TINY_CAMERA_LORAS,
    TINY_DREAMBOOTH_MODEL,
    TINY_MODELSCOPE_MODELS,
    TINY_MOTION_ADAPTER,
    TINY_PIX2PIX_MODEL,
    TINY_SD_MODEL,
    TINY_SD_MODELS,
    TINY_SDXL_MOTION_ADAPTER,
    TINY_SINGLE_FILE_CONFIGS,
    TINY_SPARSE_CONTROLS,
    TINY_VIDEO_MODELS,
    VIDEO_MODELS,
    DreamBoothStyle,
)

OFFLOAD_MODES = ("", "model", "group")
# Default bound on one web request's work, in megapixel-steps (frames x width x height x steps / 1e6): 2000 is 128
# frames at 512x512 with 50 steps (a few minutes on a large GPU); the tiny models run on a CPU, where 16 is a minute.
MAX_WORK = 2000
TINY_MAX_WORK = 16


def _networks(value: str | None) -> tuple[str, ...]:
    """Comma-separated addresses or networks; one that is neither stops the app with its name (a proxy setting
    that silently trusted nothing, or everything, would be worse)."""
    import ipaddress

    networks = []
    for entry in filter(None, (part.strip() for part in (value or "").split(","))):
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(
                f"T2VZ_TRUSTED_PROXIES: '{entry}' is not an address or network (e.g. 10.0.0.5)."
            ) from None
    return tuple(networks)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value not in (None, "") else default
    except ValueError:
        number = default
    return max(low, min(high, number))


def _choice(value: str | None, choices: tuple[str, ...], default: str) -> str:
    value = (value or "").strip().lower()
    return value if value in choices else default


@dataclass(frozen=True)
class Settings:
    tiny_models: bool = False
    tiny_models_dir: Path = Path("~/.cache/text2video-zero/tiny-models").expanduser()
    sd_model: str = DEFAULT_SD_MODEL
    max_frames: int = 128
    max_resolution: int = 1024
    output_dir: Path = Path(tempfile.gettempdir()) / "text2video-zero" / "outputs"
    queue_size: int = 20
    curated_sd_models: tuple[str, ...] = field(default=CURATED_SD_MODELS)
    controlnets: tuple[tuple[str, str], ...] = tuple(CONTROLNETS.items())
    pose_detector: str = "openpose"
    pix2pix_model: str = DEFAULT_PIX2PIX_MODEL
    modelscope_model: str = DEFAULT_MODELSCOPE_MODEL
    video_model: str = VIDEO_MODELS[0]
    upscale_model: str = DEFAULT_UPSCALE_MODEL
    devices: tuple[str, ...] = ()  # one Model per device, serving at once; () picks one
    offload: str = ""  # "", "model" or "group"
    layerwise_fp8: bool = False
    text_encoders_on_cpu: bool = False
    channels_last: str = "auto"  # "auto" (on CUDA), "on" or "off"
    compile: bool = False
    vae_tiling: str = "auto"  # "auto" (frames of 1024 px and more), "on" or "off"
    auth: str = ""
    trusted_proxies: tuple[str, ...] = ()
    models_root: Path = Path("models").resolve()
    max_upload_mb: int = 200
    output_ttl_hours: int = 24
    annotators_repo: str = "lllyasviel/Annotators"
    single_file_configs: tuple[tuple[str, str], ...] = tuple(SINGLE_FILE_CONFIGS.items())
    max_work: int | None = None  # megapixel-steps per web request; None: the profile's default, 0: no limit
    preview_every: int = 5
    progress_bars: bool = True  # the steps', the writing's and a batch's bars (off: the command line's --quiet)
    preview_decoder: str = ""
    cache_examples: bool | None = None  # None: the profile's choice (on with the hub models)
    examples_cache_dir: Path = Path(tempfile.gettempdir()) / "text2video-zero" / "examples"

    # Resolved from the above once (`__post_init__`): the hub's configured models, or the offline tiny ones.
    default_sd_model: str = field(init=False)
    sd_models: tuple[str, ...] = field(init=False)  # the model list's curated part; local models are added to it
    not_sd1: frozenset[str] = field(init=False)  # bases of that list the guided tabs' SD 1.x ControlNets do not fit
    controlnet_models: tuple[tuple[str, str], ...] = field(init=False)  # condition -> ControlNet
    default_pose_detector: str = field(init=False)
    dreambooth_styles: tuple[DreamBoothStyle, ...] = field(init=False)
    single_file_models: tuple[tuple[str, str], ...] = field(init=False)  # family -> the configs a single file takes
    default_pix2pix_model: str = field(init=False)
    modelscope_models: tuple[str, ...] = field(init=False)  # the first is the default
    video_models: tuple[str, ...] = field(init=False)  # trained video transformers; the first is the default
    default_upscale_model: str = field(init=False)
    work_limit: int = field(init=False)  # most megapixel-steps of one web request (0: no limit)
    resolution_cap: int = field(init=False)  # a model's own size is the default frame size up to this
    quick_defaults: bool = field(init=False)  # the tabs start with sizes that finish in seconds on a CPU
    random_annotators: bool = field(init=False)  # annotator networks with random weights (no hub)
    hub_search: bool = field(init=False)  # the model field searches the Hub as one types
    notice: str = field(init=False)  # shown at the top of the page
    caches_examples: bool = field(init=False)  # an example's video is made on its first click and kept
    fast_loras: tuple[tuple[str, str], ...] = field(init=False)  # family (sd1, sdxl) -> the Fast preset's LoRA
    fast_steps: int = field(init=False)  # the Fast preset's step count
    other_models_hint: str = field(init=False)  # where to turn when a model can be neither found nor downloaded
    motion_adapters: tuple[str, ...] = field(init=False)  # the motion adapters text-to-video offers
    camera_loras: tuple[tuple[str, str], ...] = field(init=False)  # camera preset -> its motion LoRA
    sparse_controls: tuple[str, ...] = field(init=False)  # SparseCtrl models; the first one: image-to-video's

    def __post_init__(self) -> None:
        chosen = offline_choices(self) if self.tiny_models else hub_choices(self)
        if self.max_work is not None and self.max_work >= 0:
            chosen["work_limit"] = self.max_work
        if self.cache_examples is not None:
            chosen["caches_examples"] = self.cache_examples
        for name, value in chosen.items():
            object.__setattr__(self, name, value)  # frozen: set once, here

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        base = cls()
        return cls(
            tiny_models=_flag(env.get("T2VZ_TINY_MODELS")),
            tiny_models_dir=Path(env.get("T2VZ_TINY_MODELS_DIR") or base.tiny_models_dir).expanduser(),
            sd_model=(env.get("T2VZ_SD_MODEL") or "").strip() or base.sd_model,
            max_frames=_int(env.get("T2VZ_MAX_FRAMES"), base.max_frames, 1, 1024),
            max_resolution=_int(env.get("T2VZ_MAX_RESOLUTION"), base.max_resolution, 64, 2048) // 8 * 8,
            output_dir=Path(env.get("T2VZ_OUTPUT_DIR") or base.output_dir).expanduser(),
            queue_size=_int(env.get("T2VZ_QUEUE_SIZE"), base.queue_size, 1, 1000),
            controlnets=tuple(
                (kind, (env.get(f"T2VZ_CONTROLNET_{kind.upper()}") or "").strip() or default)
                for kind, default in CONTROLNETS.items()
            ),
            pose_detector=_choice(env.get("T2VZ_POSE_DETECTOR"), POSE_DETECTORS, base.pose_detector),
            annotators_repo=(env.get("T2VZ_ANNOTATORS_REPO") or "").strip() or base.annotators_repo,
            pix2pix_model=(env.get("T2VZ_PIX2PIX_MODEL") or "").strip() or base.pix2pix_model,
            modelscope_model=(env.get("T2VZ_MODELSCOPE_MODEL") or "").strip() or base.modelscope_model,
            video_model=(env.get("T2VZ_VIDEO_MODEL") or "").strip() or base.video_model,
            upscale_model=(env.get("T2VZ_UPSCALE_MODEL") or "").strip() or base.upscale_model,
            offload=_choice(env.get("T2VZ_OFFLOAD"), OFFLOAD_MODES, "")
            or ("model" if _flag(env.get("T2VZ_CPU_OFFLOAD")) else ""),
            layerwise_fp8=_flag(env.get("T2VZ_LAYERWISE_FP8")),
            text_encoders_on_cpu=_flag(env.get("T2VZ_TEXT_ENCODERS_ON_CPU")),
            channels_last=_choice(env.get("T2VZ_CHANNELS_LAST"), ("auto", "on", "off"), "auto"),
            compile=_flag(env.get("T2VZ_COMPILE")),
            devices=tuple(d.strip() for d in (env.get("T2VZ_DEVICES") or "").split(",") if d.strip()),
            vae_tiling=_choice(env.get("T2VZ_VAE_TILING"), ("auto", "on", "off"), "auto"),
            auth=(env.get("T2VZ_AUTH") or "").strip(),
            trusted_proxies=_networks(env.get("T2VZ_TRUSTED_PROXIES")),
            models_root=Path(env.get("T2VZ_MODELS_ROOT") or base.models_root).expanduser().resolve(),
            max_upload_mb=_int(env.get("T2VZ_MAX_UPLOAD_MB"), base.max_upload_mb, 1, 100_000),
            output_ttl_hours=_int(env.get("T2VZ_OUTPUT_TTL_HOURS"), base.output_ttl_hours, 1, 24 * 365),
            single_file_configs=tuple(
                (family, (env.get(f"T2VZ_{family.upper()}_CONFIG") or "").strip() or default)
                for family, default in SINGLE_FILE_CONFIGS.items()
            ),
            max_work=_int(env.get("T2VZ_MAX_WORK"), -1, -1, 10**9) if env.get("T2VZ_MAX_WORK") else None,
            preview_every=_int(env.get("T2VZ_PREVIEW_EVERY"), base.preview_every, 0, 1000),
            preview_decoder=(env.get("T2VZ_PREVIEW_DECODER") or "").strip(),
            cache_examples=_flag(env.get("T2VZ_CACHE_EXAMPLES")) if env.get("T2VZ_CACHE_EXAMPLES") else None,
            examples_cache_dir=Path(env.get("T2VZ_EXAMPLES_CACHE_DIR") or base.examples_cache_dir).expanduser(),
        )

    def fast_lora(self, model_name: str) -> str:
        """The Fast preset's LoRA for a base model (SDXL by its name, else SD 1.x); "" where there is none."""
        family = "sdxl" if "xl" in str(model_name).lower() else "sd1"
        return dict(self.fast_loras).get(family, "")

    @property
    def configured_models(self) -> frozenset[str]:
        """The model names the operator configured (defaults, ControlNets, configs of single files, styles): these
        load as configured even from the web, where other names must be hub ids or inside the models root."""
        return frozenset(
            {
                self.sd_model,
                self.default_sd_model,
                self.default_pix2pix_model,
                self.default_modelscope_model,
                self.default_video_model,
                self.default_upscale_model,
                *dict(self.controlnet_models).values(),
                *dict(self.single_file_models).values(),
                *(style.model for style in self.dreambooth_styles),
            }
        )

    def with_tiny_models(self) -> Settings:
        return replace(self, tiny_models=True)

    def with_auth(self, auth: str) -> Settings:
        return replace(self, auth=auth.strip())

    @property
    def auth_pairs(self) -> list[tuple[str, str]]:
        """`user:password[,user:password...]` as pairs; raises ValueError naming the expected form."""
        pairs = []
        for entry in filter(None, (part.strip() for part in self.auth.split(","))):
            user, sep, password = entry.partition(":")
            if not sep or not user or not password:
                raise ValueError("Login must be given as user:password (several: separated by commas).")
            pairs.append((user, password))
        return pairs

    def own_resolution(self, native: int) -> int:
        """The default frame size for a model made for `native` px: its own, within the limit and the cap."""
        return min(native, self.max_resolution, self.resolution_cap)

    def controlnet_model(self, kind: str) -> str:
        """The ControlNet of a guided mode ("pose", "canny", "depth")."""
        return dict(self.controlnet_models)[kind]

    def single_file_config(self, family: str) -> str:
        """The diffusers configs a single-file checkpoint of `family` (sd1, sd2, sdxl, pix2pix) is loaded with."""
        return dict(self.single_file_models)[family]

    @property
    def default_modelscope_model(self) -> str:
        return self.modelscope_models[0]

    @property
    def default_video_model(self) -> str:
        return self.video_models[0]


def hub_choices(settings: Settings) -> dict:
    """The configured models from the Hugging Face Hub, at full size."""
    return {
        "default_sd_model": settings.sd_model,
        "sd_models": tuple(dict.fromkeys([settings.sd_model, *settings.curated_sd_models])),
        "not_sd1": frozenset({SDXL_BASE_MODEL}),
        "controlnet_models": settings.controlnets,
        "default_pose_detector": settings.pose_detector,
        "dreambooth_styles": DREAMBOOTH_STYLES,
        "single_file_models": (*settings.single_file_configs, ("pix2pix", settings.pix2pix_model)),
        "default_pix2pix_model": settings.pix2pix_model,
        "modelscope_models": tuple(
            dict.fromkeys([settings.modelscope_model, "cerspense/zeroscope_v2_576w", DEFAULT_MODELSCOPE_MODEL])
        ),
        "video_models": tuple(dict.fromkeys([settings.video_model, *VIDEO_MODELS])),
        "default_upscale_model": settings.upscale_model,
        "motion_adapters": MOTION_ADAPTERS,
        "camera_loras": tuple(CAMERA_LORAS.items()),
        "sparse_controls": SPARSE_CONTROLS,
        "work_limit": MAX_WORK,
        "resolution_cap": settings.max_resolution,
        "quick_defaults": False,
        "random_annotators": False,
        "hub_search": True,
        "notice": "",
        "caches_examples": True,
        "fast_loras": tuple(FAST_LORAS.items()),
        "fast_steps": FAST_STEPS,
        "other_models_hint": "run the app with --tiny-models to try the interface with small offline models",
    }


def offline_choices(settings: Settings) -> dict:
    """The tiny models for every tab: the whole UI on a CPU in seconds, no downloads. A model's own size is the
    default frame size only up to 128 px (the tiny SDXL's own 1024 px would take minutes)."""
    return {
        "default_sd_model": TINY_SD_MODEL,
        "sd_models": TINY_SD_MODELS,
        "not_sd1": frozenset(TINY_SD_MODELS[1:]),
        "controlnet_models": tuple((kind, f"tiny-controlnet-{kind}") for kind in CONTROLNETS),
        # OpenPose's weights come from the hub; MediaPipe's ship with its package.
        "default_pose_detector": "mediapipe",
        "dreambooth_styles": tuple(
            DreamBoothStyle(s.label, TINY_DREAMBOOTH_MODEL, s.trigger) for s in DREAMBOOTH_STYLES
        ),
        "single_file_models": tuple(TINY_SINGLE_FILE_CONFIGS.items()),
        "default_pix2pix_model": TINY_PIX2PIX_MODEL,
        "modelscope_models": TINY_MODELSCOPE_MODELS,
        "video_models": TINY_VIDEO_MODELS,
        "default_upscale_model": TINY_MODELSCOPE_MODELS[-1],
        "motion_adapters": (TINY_MOTION_ADAPTER, TINY_SDXL_MOTION_ADAPTER),
        "camera_loras": tuple(TINY_CAMERA_LORAS.items()),
        "sparse_controls": TINY_SPARSE_CONTROLS,
        "work_limit": TINY_MAX_WORK,
        "resolution_cap": 128,
        "quick_defaults": True,
        "random_annotators": True,
        "hub_search": False,
        "notice": "**Offline mode:** small randomly initialised models; the output is noise, not art.",
        "caches_examples": False,
        "fast_loras": (),  # none offline: the preset sets the scheduler and steps only
        "fast_steps": 4,
        "other_models_hint": f"choose one of the offline tiny models in the list ({TINY_SD_MODEL}, ...)",
    }
