"""Every environment knob of the app, parsed and clamped once.

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
T2VZ_UPSCALE_MODEL    video-to-video upscaler of that tab (default cerspense/zeroscope_v2_XL)
T2VZ_OFFLOAD          model: on CUDA, every mode's models sit in CPU memory and each visits the GPU while it runs
                      (T2VZ_CPU_OFFLOAD=1 says the same); group: they visit it block by block (least GPU memory,
                      slower); default: everything on the GPU
T2VZ_LAYERWISE_FP8    1: the UNet's and ControlNet's weights are stored in 8 bits (float8_e4m3) and computed in the
                      model's dtype, layer by layer: about half their memory, a small loss of precision
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
from functools import cached_property
from pathlib import Path

# The example videos the project made (assets/make_examples.py): the tabs' examples, served by the app.
EXAMPLES_DIR = Path(__file__).resolve().parent / "assets" / "examples"
DEFAULT_SD_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SDXL_BASE_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
# The DreamBooth-style bases the original Text2Video-Zero demo offered, with SD 1.5 (its new home) first.
CURATED_SD_MODELS = (
    DEFAULT_SD_MODEL,
    "dreamlike-art/dreamlike-photoreal-2.0",
    "dreamlike-art/dreamlike-diffusion-1.0",
    "prompthero/openjourney",
    "CompVis/stable-diffusion-v1-4",
    SDXL_BASE_MODEL,
)
TINY_SD_MODEL = "tiny-sd"
TINY_DREAMBOOTH_MODEL = "tiny-sd-dreambooth"
DEFAULT_PIX2PIX_MODEL = "timbrooks/instruct-pix2pix"
DEFAULT_MODELSCOPE_MODEL = "ali-vilab/text-to-video-ms-1.7b"
DEFAULT_UPSCALE_MODEL = "cerspense/zeroscope_v2_XL"
# Native sizes (width, height) of the text-to-video models the tab offers; others use their UNet's sample size.
MODELSCOPE_SIZES = {
    DEFAULT_MODELSCOPE_MODEL: (256, 256),
    "cerspense/zeroscope_v2_576w": (576, 320),
    DEFAULT_UPSCALE_MODEL: (1024, 576),
    "tiny-modelscope": (64, 64),
    "tiny-modelscope-xl": (128, 72),
}
TINY_PIX2PIX_MODEL = "tiny-pix2pix"
# Where a single-file checkpoint's family finds the diffusers configs (component classes, scheduler, sizes) that a
# single file lacks; the Instruct-Pix2Pix family uses the editing tab's model.
SINGLE_FILE_CONFIGS = {
    "sd1": DEFAULT_SD_MODEL,
    "sd2": "stabilityai/stable-diffusion-2-1",
    "sdxl": SDXL_BASE_MODEL,
}
TINY_SINGLE_FILE_CONFIGS = {
    "sd1": TINY_SD_MODEL,
    "sd2": "tiny-sd2",
    "sdxl": "tiny-sdxl",
    "pix2pix": TINY_PIX2PIX_MODEL,
}
CONTROLNETS = {
    "pose": "lllyasviel/sd-controlnet-openpose",
    "canny": "lllyasviel/sd-controlnet-canny",
    "depth": "lllyasviel/sd-controlnet-depth",
}
POSE_DETECTORS = ("openpose", "mediapipe")
OFFLOAD_MODES = ("", "model", "group")
# The Fast preset's distillation LoRAs (LCM-LoRA), for 4-8 steps with the LCM scheduler and no guidance.
FAST_LORAS = {
    "sd1": "latent-consistency/lcm-lora-sdv1-5",
    "sdxl": "latent-consistency/lcm-lora-sdxl",
}
FAST_STEPS = 6
# Default bound on one web request's work, in megapixel-steps (frames x width x height x steps / 1e6): 2000 is 128
# frames at 512x512 with 50 steps (a few minutes on a large GPU); the tiny models run on a CPU, where 16 is a minute.
MAX_WORK = 2000
TINY_MAX_WORK = 16


@dataclass(frozen=True)
class DreamBoothStyle:
    """A DreamBooth base of the original canny tab and the word that triggers its style."""

    label: str
    model: str
    trigger: str


DREAMBOOTH_STYLES = (
    DreamBoothStyle("Anime", "PAIR/text2video-zero-controlnet-canny-anime", "1girl"),
    DreamBoothStyle("Arcane", "PAIR/text2video-zero-controlnet-canny-arcane", "arcane style"),
    DreamBoothStyle("GTA-5", "PAIR/text2video-zero-controlnet-canny-gta5", "gtav style"),
    DreamBoothStyle("Avatar", "PAIR/text2video-zero-controlnet-canny-avatar", "avatar style"),
)


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
class Text2VideoDefaults:
    """What the text-to-video tab starts with."""

    resolution: int
    video_length: int
    chunk_size: int
    num_inference_steps: int
    t0: int | None  # None: the method's T' and T on whatever schedule runs
    t1: int | None
    fps: int


@dataclass(frozen=True)
class GuidedDefaults:
    """What the guided and editing tabs start with."""

    resolution: int
    num_inference_steps: int
    chunk_size: int
    input_fps: float
    max_frames: int
    pix2pix_steps: int


@dataclass(frozen=True)
class ModelScopeDefaults:
    """What the ModelScope tab starts with: frames and steps of a clip, steps of an upscale."""

    num_frames: int
    num_inference_steps: int
    upscale_steps: int


def call_defaults() -> tuple[Text2VideoDefaults, GuidedDefaults, ModelScopeDefaults]:
    """The tabs' defaults with the hub's models: the Python API's own (the original demo's values, in `modes`), at
    512 px and, for input videos, at most 24 frames."""
    from modes import GuidedCall, ModelScopeCall, Pix2PixCall, Text2VideoCall, UpscaleCall

    t2v, guided = Text2VideoCall.default, GuidedCall.default
    return (
        Text2VideoDefaults(
            resolution=512,
            **{k: t2v(k) for k in ("video_length", "chunk_size", "num_inference_steps", "t0", "t1", "fps")},
        ),
        GuidedDefaults(
            resolution=guided("resolution"),
            num_inference_steps=guided("num_inference_steps"),
            chunk_size=guided("chunk_size"),
            input_fps=guided("input_fps"),
            max_frames=24,
            pix2pix_steps=Pix2PixCall.default("num_inference_steps"),
        ),
        ModelScopeDefaults(
            num_frames=ModelScopeCall.default("num_frames"),
            num_inference_steps=ModelScopeCall.default("num_inference_steps"),
            upscale_steps=UpscaleCall.default("num_inference_steps"),
        ),
    )


@dataclass(frozen=True)
class Profile:
    """Everything the app starts with that depends on where its models come from: the Hugging Face Hub (the
    configured models) or the offline tiny models. `Settings.profile` chooses it once; no other module asks which.

    The offline profile's defaults finish in seconds on 2 CPU cores: small frames and few steps, and a model's own
    size is used as the default resolution only up to `default_resolution_cap` (the tiny SDXL's own 1024 px would
    take minutes)."""

    sd_model: str
    sd_models: tuple[str, ...]  # the model list's curated part; local models are added to it
    not_sd1: frozenset[str]  # bases of that list that the guided tabs' SD 1.x ControlNets do not fit
    controlnets: tuple[tuple[str, str], ...]
    pose_detector: str
    dreambooth_styles: tuple[DreamBoothStyle, ...]
    single_file_configs: tuple[tuple[str, str], ...]  # family -> the diffusers configs a single file loads with
    pix2pix_model: str
    modelscope_models: tuple[str, ...]  # the first is the default
    upscale_model: str
    text2video: Text2VideoDefaults
    guided: GuidedDefaults
    modelscope: ModelScopeDefaults
    max_work: int
    default_resolution_cap: int
    random_annotators: bool  # annotator networks with random weights (no hub)
    hub_search: bool  # the model field searches the Hub as one types
    notice: str  # shown at the top of the page
    cache_examples: bool  # an example's video is made on its first click and kept for every later one
    fast_loras: tuple[tuple[str, str], ...]  # family (sd1, sdxl) -> the distillation LoRA of the Fast preset
    fast_steps: int  # the Fast preset's step count


def offline_profile() -> Profile:
    """The tiny models for every tab: the whole UI on a CPU in seconds, no downloads."""
    text2video, guided, modelscope = call_defaults()
    return Profile(
        sd_model=TINY_SD_MODEL,
        sd_models=(TINY_SD_MODEL, "tiny-sd2", "tiny-sdxl"),
        not_sd1=frozenset({"tiny-sd2", "tiny-sdxl"}),
        controlnets=tuple((kind, f"tiny-controlnet-{kind}") for kind in CONTROLNETS),
        # OpenPose's weights come from the hub; MediaPipe's ship with its package.
        pose_detector="mediapipe",
        dreambooth_styles=tuple(DreamBoothStyle(s.label, TINY_DREAMBOOTH_MODEL, s.trigger) for s in DREAMBOOTH_STYLES),
        single_file_configs=tuple(TINY_SINGLE_FILE_CONFIGS.items()),
        pix2pix_model=TINY_PIX2PIX_MODEL,
        modelscope_models=("tiny-modelscope", "tiny-modelscope-xl"),
        upscale_model="tiny-modelscope-xl",
        text2video=replace(text2video, resolution=128, num_inference_steps=10),
        guided=replace(guided, resolution=128, num_inference_steps=8, max_frames=8, pix2pix_steps=8),
        modelscope=replace(modelscope, num_frames=8, num_inference_steps=6, upscale_steps=4),
        max_work=TINY_MAX_WORK,
        default_resolution_cap=128,
        random_annotators=True,
        hub_search=False,
        notice="**Offline mode:** small randomly initialised models; the output is noise, not art.",
        cache_examples=False,
        fast_loras=(),  # none offline: the preset sets the scheduler and steps only
        fast_steps=4,
    )


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
    upscale_model: str = DEFAULT_UPSCALE_MODEL
    devices: tuple[str, ...] = ()  # one Model per device, serving at once; () picks one
    offload: str = ""  # "", "model" or "group"
    layerwise_fp8: bool = False
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
    preview_decoder: str = ""
    cache_examples: bool | None = None  # None: the profile's choice (on with the hub models)
    examples_cache_dir: Path = Path(tempfile.gettempdir()) / "text2video-zero" / "examples"

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
            upscale_model=(env.get("T2VZ_UPSCALE_MODEL") or "").strip() or base.upscale_model,
            offload=_choice(env.get("T2VZ_OFFLOAD"), OFFLOAD_MODES, "")
            or ("model" if _flag(env.get("T2VZ_CPU_OFFLOAD")) else ""),
            layerwise_fp8=_flag(env.get("T2VZ_LAYERWISE_FP8")),
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

    @cached_property
    def profile(self) -> Profile:
        """The offline profile with --tiny-models, else the configured hub models' (see `Profile`)."""
        if self.tiny_models:
            return offline_profile()
        text2video, guided, modelscope = call_defaults()
        return Profile(
            sd_model=self.sd_model,
            sd_models=tuple(dict.fromkeys([self.sd_model, *self.curated_sd_models])),
            not_sd1=frozenset({SDXL_BASE_MODEL}),
            controlnets=self.controlnets,
            pose_detector=self.pose_detector,
            dreambooth_styles=DREAMBOOTH_STYLES,
            single_file_configs=(*self.single_file_configs, ("pix2pix", self.pix2pix_model)),
            pix2pix_model=self.pix2pix_model,
            modelscope_models=tuple(
                dict.fromkeys([self.modelscope_model, "cerspense/zeroscope_v2_576w", DEFAULT_MODELSCOPE_MODEL])
            ),
            upscale_model=self.upscale_model,
            text2video=text2video,
            guided=guided,
            modelscope=modelscope,
            max_work=MAX_WORK,
            default_resolution_cap=self.max_resolution,
            random_annotators=False,
            hub_search=True,
            notice="",
            cache_examples=True,
            fast_loras=tuple(FAST_LORAS.items()),
            fast_steps=FAST_STEPS,
        )

    @property
    def fast_steps(self) -> int:
        return self.profile.fast_steps

    def fast_lora(self, model_name: str) -> str:
        """The Fast preset's LoRA for a base model (SDXL by its name, else SD 1.x); "" where there is none."""
        family = "sdxl" if "xl" in str(model_name).lower() else "sd1"
        return dict(self.profile.fast_loras).get(family, "")

    @property
    def caches_examples(self) -> bool:
        """Whether the tabs' examples are cached lazily (T2VZ_CACHE_EXAMPLES, else on with the hub models)."""
        return self.profile.cache_examples if self.cache_examples is None else self.cache_examples

    @property
    def work_limit(self) -> int:
        """Most megapixel-steps one web request may ask for (0: no limit)."""
        if self.max_work is not None and self.max_work >= 0:
            return self.max_work
        return self.profile.max_work

    @property
    def configured_models(self) -> frozenset[str]:
        """The model names the operator configured (defaults, ControlNets, configs of single files, styles): these
        load as configured even from the web, where other names must be hub ids or inside the models root."""
        profile = self.profile
        return frozenset(
            {
                self.sd_model,
                profile.sd_model,
                profile.pix2pix_model,
                *profile.modelscope_models[:1],
                profile.upscale_model,
                *dict(profile.controlnets).values(),
                *dict(profile.single_file_configs).values(),
                *(style.model for style in profile.dreambooth_styles),
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

    @property
    def default_sd_model(self) -> str:
        return self.profile.sd_model

    @property
    def sd_model_choices(self) -> list[str]:
        """The curated list and the local models root (no network: the live search runs as the user types)."""
        from utils.model_list import local_models

        return list(dict.fromkeys([*self.profile.sd_models, *local_models(self.models_root)]))

    @property
    def guided_model_choices(self) -> list[str]:
        """The bases the guided tabs' SD 1.x ControlNets fit: the list without the known SD 2.x/SDXL models and
        checkpoint files (local folders of SD 1.x and 2.x share a pipeline class, so they stay)."""
        from utils.model_list import local_models

        local = set(local_models(self.models_root)) - set(local_models(self.models_root, ("sd1",)))
        return [name for name in self.sd_model_choices if name not in self.profile.not_sd1 | local]

    def _within_limits(self, defaults):
        """Defaults never beyond the configured limits (a lower T2VZ_MAX_FRAMES must not break the tabs)."""
        frames = {
            k: min(getattr(defaults, k), self.max_frames)
            for k in ("video_length", "chunk_size", "max_frames", "num_frames")
            if hasattr(defaults, k)
        }
        sizes = (
            {"resolution": min(defaults.resolution, self.max_resolution)} if hasattr(defaults, "resolution") else {}
        )
        return replace(defaults, **sizes, **frames)

    @property
    def text2video_defaults(self) -> Text2VideoDefaults:
        return self._within_limits(self.profile.text2video)

    @property
    def guided_defaults(self) -> GuidedDefaults:
        return self._within_limits(self.profile.guided)

    @property
    def modelscope_defaults(self) -> ModelScopeDefaults:
        return self._within_limits(self.profile.modelscope)

    def own_resolution(self, native: int) -> int:
        """The default frame size for a model made for `native` px: its own, within the limit and the profile's cap."""
        return min(native, self.max_resolution, self.profile.default_resolution_cap)

    def controlnet_model(self, kind: str) -> str:
        """The ControlNet of a guided mode ("pose", "canny", "depth")."""
        return dict(self.profile.controlnets)[kind]

    @property
    def default_pose_detector(self) -> str:
        return self.profile.pose_detector

    @property
    def dreambooth_styles(self) -> tuple[DreamBoothStyle, ...]:
        return self.profile.dreambooth_styles

    def single_file_config(self, family: str) -> str:
        """The diffusers configs a single-file checkpoint of `family` (sd1, sd2, sdxl, pix2pix) is loaded with."""
        return dict(self.profile.single_file_configs)[family]

    @property
    def default_pix2pix_model(self) -> str:
        return self.profile.pix2pix_model

    @property
    def pix2pix_model_choices(self) -> list[str]:
        """The configured Instruct-Pix2Pix model and those in the local models root."""
        from utils.model_list import local_models

        return list(dict.fromkeys([self.default_pix2pix_model, *local_models(self.models_root, ("pix2pix",))]))

    @property
    def default_modelscope_model(self) -> str:
        return self.profile.modelscope_models[0]

    @property
    def default_upscale_model(self) -> str:
        return self.profile.upscale_model

    @property
    def modelscope_choices(self) -> list[str]:
        return list(self.profile.modelscope_models)
