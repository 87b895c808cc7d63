"""The central `Model`: every mode's public method over the checkpoints it loads (`loading.ModelLoader`).

The modes and their methods come from the registry (`registry.MODES`): `model.text2video(prompt, ...)`,
`model.controlnet_pose(video_path, prompt, ...)`, ... each check their call (`modes`) before anything loads, then run
it (`runners`) on the device: one generation at a time, stoppable once per step, running out of memory as a message,
the video written with its card. They return a `GenerationResult` (the `process_*` twins return its path). A web
request passes the web's rules (`rules=RequestRules.web(settings)`); a Python caller is trusted.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from cards import Card, card_with_inputs, make_card, source_card
from clip_files import ClipFiles, InputFile, input_files
from errors import InputError, ModelLoadError, OutOfMemory
from loading import ModelLoader, free_memory
from modes import Call, VideoInputCall, check_work
from pipelines.preview import preview_image
from registry import MODES, Mode
from utils.jobs import TRUSTED, UNSHOWN_BAR, RequestRules, check_cancelled, count_steps, current_job, on_step
from utils.video import VideoClip, VideoWriter, load_video, output_path

logger = logging.getLogger(__name__)

DECODE_CHUNK_SIZE = 2
VAE_TILING_FROM = 1024  # px: frames this large decode in tiles with T2VZ_VAE_TILING=auto


@dataclass
class GenerationResult:
    """A written video, the seed that made it and notes for the user (e.g. a clamped parameter)."""

    path: str
    seed: int
    notes: list[str] = field(default_factory=list)
    card: Card | None = None  # how it was made (`cards`)


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


class Model(ModelLoader):
    """Every mode's public method (see the module) over the loaded checkpoints (`ModelLoader`). The parameters of
    each mode are the fields of its call in `modes`."""

    def generate(self, mode: str, *args, rules: RequestRules = TRUSTED, **options) -> GenerationResult:
        """Make a clip in `mode` (a name of `registry.MODES`) from the mode's positional `args` and named
        `options`, under `rules`."""
        entry = MODES[mode]
        call = entry.call.checked(self.settings, **entry.parameters(args, options))
        return entry.run(self, entry, call, rules)

    def run_card(self, source, path=None, inputs=None, rules: RequestRules = TRUSTED) -> GenerationResult:
        """Make a clip again from its generation card: a `Card`, a dict, a card file (.json) or a video made here.
        `path`: where to write (default: a new file in the output folder); `inputs`: a folder (or several) holding
        the input files the card names, when they are not beside the card."""
        card, parameters = card_with_inputs(source, inputs)
        return self.generate(MODES.for_card(card.mode).name, rules=rules, **parameters, path=path)

    # ---------------------------------------------------------------------------------------------- generating
    def write_clip(self, mode: Mode, label: str, call: Call, path, run, rules: RequestRules) -> GenerationResult:
        """The end of every mode: a checked output path, then, holding the device, `run()` -> (pipeline, latents,
        fps, frames to show beside or None) and the written video, its generation card in its metadata and beside
        it (`cards`). `label` names the work in messages ("text-to-video")."""
        path = output_path(path, self.settings.output_dir, self.settings.output_ttl_hours * 3600, call.output_format)
        with self._generating(label):
            pipe, latents, fps, beside = run()
            inputs = input_files(call)
            card = self._card(mode, call, pipe, path, inputs, rules)
            metadata = {"comment": card.model_dump_json()}
            writer = partial(VideoWriter, path, fps, getattr(call, "watermark", ""), call.smooth_fps, metadata)
            self._tile_vae(pipe, latents)
            companions = ClipFiles(path, card, inputs)  # the card and the inputs: written with the video, or not
            companions.stage()
            try:
                self._decode(pipe, latents, writer, beside, call.notes, Path(path))
            except BaseException:
                companions.discard()
                raise
            companions.commit()
        logger.info("Wrote %s (%s, seed %d)", path, mode.name, call.seed)
        return GenerationResult(path=str(path), seed=call.seed, notes=list(call.notes), card=card)

    def _card(self, mode: Mode, call: Call, pipe, path, inputs: dict[str, InputFile], rules: RequestRules) -> Card:
        """The call's generation card: its parameters, and the models it used with their revisions."""
        roles = {"model": getattr(call, "model_name", None), "controlnet": getattr(call, "controlnet_name", None)}
        roles["lora"] = getattr(call, "lora", None)
        roles["motion_adapter"] = getattr(call, "motion_adapter", None)
        roles["motion_lora"] = getattr(call, "motion_lora", None)
        roles["sparse_control"] = (
            getattr(call, "sparse_control", None) if getattr(call, "image", None) is not None else None
        )
        models = {}
        for role, name in roles.items():
            if name:
                with contextlib.suppress(InputError, ModelLoadError):
                    models[role] = self.resolve_model_name(name, rules)
        card = make_card(mode.card_mode, call, models, type(pipe.scheduler).__name__, Path(path), inputs)
        card.source = source_card(getattr(call, "video_path", None))
        for role, name in roles.items():  # the names as given (a hub id, an alias), revisions of what they named
            if role in card.models and name:
                card.models[role].name = str(name)
        return card

    @staticmethod
    def read_input_video(video, fps, call: VideoInputCall) -> VideoClip:
        """Read the frames of an input video (the call's part of it, at its size, at most its `max_frames`) at `fps`;
        its notes go to the call."""
        clip = load_video(video, call.resolution, call.start_t, call.end_t, fps, call.max_frames)
        call.notes += clip.notes
        return clip

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

    def step_callback(self, clean: Callable | None = None, steps: int = 0):
        """The denoising loop's step callback: stop within one step of a cancellation and, for a job that shows
        previews (the page), send a picture of the first frames at step 0 and every T2VZ_PREVIEW_EVERY steps.
        For loops that are not the project's (diffusers' own pipelines): `clean(pipe, step, tensors)` estimates the
        clean latents each step, and `steps` counts the user's steps where a Stop can read them."""
        job, every = current_job(), self.settings.preview_every
        counter = count_steps(UNSHOWN_BAR, steps) if steps and job is not None else None
        show = job.preview if job is not None and every else None
        if show is None and counter is None:
            return on_step

        def callback(pipe, step: int, timestep: int, tensors: dict) -> dict:
            if counter is not None:  # the step has run (the callback ends it), whether or not a Stop ends the loop
                counter.update()
            tensors = on_step(pipe, step, timestep, tensors)
            denoised = tensors.get("denoised") if clean is None or show is None else clean(pipe, step, tensors)
            if show is not None and step % every == 0 and denoised is not None:
                unet = getattr(pipe, "unet", None)  # TAESD and the published maps are Stable Diffusion's
                sdxl = getattr(getattr(unet, "config", None), "addition_embed_type", None) == "text_time"
                decoder = self.preview_decoder() if unet is not None else None
                show(preview_image(denoised, decoder, sdxl, to_rgb=getattr(clean, "to_rgb", None)))
            return tensors

        return callback

    @staticmethod
    def check_work(call: Call, rules: RequestRules, frames: int, height: int, width: int, steps: float, fps, shown=0):
        """Refuse a request that asks for more work than its rules allow (`modes.check_work`); `shown`: the written
        frames' width where it differs (a condition shown beside)."""
        if rules.work_limit:
            check_work(rules.work_limit, call, frames, height, width, steps, fps, shown or width)

    def _tile_vae(self, pipe, latents: torch.Tensor) -> None:
        """Decode in overlapping tiles where T2VZ_VAE_TILING says so (auto: frames of 1024 px and more, such as
        SDXL's, whose full-frame decoding needs several GB at once, and the large clips of video transformers)."""
        side = max(latents.shape[-2:]) * pipe.vae_scale_factor
        tiling = self.settings.vae_tiling
        large = getattr(pipe, "tiles_by_default", lambda latents: False)(latents)
        if tiling == "on" or (tiling == "auto" and (side >= VAE_TILING_FROM or large)):
            pipe.vae.enable_tiling()
        else:
            pipe.vae.disable_tiling()

    def _decode(self, pipe, latents: torch.Tensor, writer: Callable, beside, notes: list[str], path: Path) -> None:
        """Decode and write; running out of memory there, decode again in tiles (a finished denoising is never
        lost to the decode), and if that runs out too, keep the latents in a file the message names."""
        while True:  # as it is, then (if it was not) in tiles
            try:
                self._write(pipe, latents, writer(), beside)
                return
            except (torch.OutOfMemoryError, MemoryError) as error:
                logger.warning("Out of memory while decoding: %s", error)
                del error
                free_memory()
            if getattr(pipe.vae, "use_tiling", False):
                break
            pipe.vae.enable_tiling()
            notes.append("Decoding ran out of memory: the clip was decoded again in tiles.")
        kept = keep_latents(latents, path)
        raise OutOfMemory(  # the file's name only: a message never shows a path of the server
            f"Out of memory while decoding, even in tiles. The denoised latents are kept in {kept.name}, beside "
            "where the clip would have gone (T2VZ_OUTPUT_DIR unless a path was given; torch.load reads them): free "
            "GPU memory (or set T2VZ_OFFLOAD=model) and decode them, or generate again with fewer frames or a lower "
            "resolution."
        )

    @staticmethod
    def _write(pipe, latents: torch.Tensor, writer: VideoWriter, beside=None) -> None:
        """Decode a few frames at a time and write them as they come: memory stays flat in the clip's length.
        `beside`: uint8 frames (e.g. the condition) shown left of the result. See `VideoWriter` for whole files."""
        import numpy as np
        from tqdm.auto import tqdm

        # A second phase on the page's progress bar (Gradio tracks tqdm): decoding and writing long clips takes time.
        quiet = getattr(pipe, "_progress_bar_config", {}).get("disable", False)  # as the pipeline's own bars
        total = getattr(pipe, "frame_count", len)(latents)
        with writer, tqdm(total=total, desc="Writing the video", unit="frames", disable=quiet) as bar:
            start = 0
            for frames in pipe.decode_latents_iter(latents, DECODE_CHUNK_SIZE):
                check_cancelled()  # a stopped request writes nothing: the writer drops its partial file
                if beside is not None:
                    left = beside[start : start + len(frames)].astype(np.float32) / 255.0
                    frames = np.concatenate([left, frames], axis=2)
                    start += len(frames)
                writer.write(frames)
                bar.update(len(frames))


def keep_latents(latents: torch.Tensor, path: Path) -> Path:
    """Save a clip's denoised latents beside where the clip would have gone; return the file."""
    kept = path.with_name(f"{path.stem}.latents.pt")
    torch.save(latents.detach().cpu(), kept)
    return kept


def public_method(mode: Mode, path_only: bool = False) -> Callable:
    """The Model's public method of a mode: `model.<method>(*positional, rules=..., **options)`, or its process_
    twin, which returns the written file's path."""

    def method(self: Model, *args, rules: RequestRules = TRUSTED, **options):
        result = self.generate(mode.name, *args, rules=rules, **options)
        return result.path if path_only else result

    name = f"process_{mode.method}" if path_only else mode.method
    method.__name__ = method.__qualname__ = name
    returns = "the written file's path" if path_only else "a GenerationResult"
    positional = ", ".join(mode.positional)
    method.__doc__ = (
        f"{mode.summary} By position: {positional}; the rest by name (`modes.{mode.call.__name__}`). "
        f"Returns {returns}."
    )
    return method


for _mode in MODES:
    setattr(Model, _mode.method, public_method(_mode))
    setattr(Model, f"process_{_mode.method}", public_method(_mode, path_only=True))
