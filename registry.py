"""The modes, each declared once: the only list of them.

A `Mode` is the name a clip's card, the command line and the web API know it by, its call (every parameter, its
default and its limit: `modes`), how it runs (`runners`), the Model's public method (and its positional
parameters), and its tab. Everything that lists modes reads `MODES`: the card schema, the command line's
subcommands, the device pool's routing, the card drop, the Model's public methods and the app's tabs. Adding a mode
is its pipeline, its call, its runner, its tab module and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from errors import InputError
from modes import (
    Call,
    CannyCall,
    GuidedCall,
    ModelScopeCall,
    Pix2PixCall,
    PoseCall,
    Text2VideoCall,
    UpscaleCall,
    VideoModelCall,
)
from runners import run_guided, run_modelscope, run_pix2pix, run_text2video, run_upscale, run_video_model
from utils.validation import quote


@dataclass(frozen=True)
class Mode:
    """One mode (see the module)."""

    name: str  # the web endpoint's name, and the card's and the command line's unless `card` says otherwise
    call: type[Call]  # every parameter, its default and its limit
    run: Callable  # run(model, mode, call, rules) -> GenerationResult (`runners`)
    method: str  # the Model's public method: model.<method>(...) and model.process_<method>(...) (the path only)
    positional: tuple[str, ...]  # the method's positional parameters, in order
    summary: str  # one line for the method's and the command line's help
    card: str = ""  # the card mode its clips get ("": its name): canny_db makes canny clips on another base
    renames: tuple[tuple[str, str], ...] = ()  # (its parameter, the call's): canny_db's db_path is the model_name
    condition: str = ""  # a guided mode's condition: its ControlNet (T2VZ_CONTROLNET_<condition>) and annotator
    tab: str = ""  # the module of its tab (`create_demo(model, *its modes)`)
    label: str = ""  # the tab's title; "": an endpoint on another mode's tab (no card box of its own)

    @property
    def card_mode(self) -> str:
        return self.card or self.name

    def parameter_names(self) -> set[str]:
        """The names of the parameters it takes (its call's, by the names this mode gives them)."""
        import dataclasses

        names = {f.name for f in dataclasses.fields(self.call)} - {"notes"}
        for own, theirs in self.renames:
            names = (names - {theirs}) | {own}
        return names

    def parameters(self, args: tuple, options: dict) -> dict:
        """The call's parameters from the method's positional `args` and keyword `options`."""
        if len(args) > len(self.positional):
            names = ", ".join(self.positional)
            raise InputError(
                f"{self.method} takes at most {len(self.positional)} values by position ({names}); give the "
                "others by name."
            )
        given = dict(zip(self.positional, args, strict=False))
        if twice := sorted(set(given) & set(options)):
            raise InputError(f"{', '.join(twice)} given twice: by position and by name.")
        parameters = {**given, **options}
        for own, theirs in self.renames:
            if own in parameters:
                parameters[theirs] = parameters.pop(own)
        return parameters


@dataclass
class Registry:
    """The modes by name, with the lookups the rest of the project needs."""

    modes: list[Mode] = field(default_factory=list)

    def __iter__(self) -> Iterator[Mode]:
        return iter(self.modes)

    def __getitem__(self, name: str) -> Mode:
        found = next((mode for mode in self.modes if mode.name == name), None)
        if found is None:
            raise InputError(f"Unknown mode {quote(name)}: the modes are {', '.join(self.names)}.")
        return found

    @property
    def names(self) -> list[str]:
        return [mode.name for mode in self.modes]

    @property
    def card_modes(self) -> list[str]:
        """The modes a card may name (one per kind of clip: canny_db's clips are canny clips)."""
        return list(dict.fromkeys(mode.card_mode for mode in self.modes))

    def for_card(self, card_mode: str) -> Mode:
        """The mode that makes a card's clips again."""
        return next(mode for mode in self.modes if mode.name == card_mode)

    def by_method(self, method: str) -> Mode | None:
        return next((mode for mode in self.modes if method in (mode.method, f"process_{mode.method}")), None)


MODES = Registry(
    [
        Mode(
            "text2video",
            Text2VideoCall,
            run_text2video,
            "text2video",
            ("prompt", "model_name"),
            "Zero-shot text-to-video (image-to-video with an image).",
            tab="tabs.text2video",
            label="Text2Video",
        ),
        Mode(
            "pose",
            PoseCall,
            run_guided,
            "controlnet_pose",
            ("video_path", "prompt"),
            "Pose-guided video: the poses of a video (or a skeleton drawing).",
            condition="pose",
            tab="tabs.pose",
            label="Pose",
        ),
        Mode(
            "canny",
            CannyCall,
            run_guided,
            "controlnet_canny",
            ("video_path", "prompt"),
            "Edge-guided video: the Canny edges of a video.",
            condition="canny",
            tab="tabs.canny",
            label="Edge",
        ),
        Mode(
            "canny_db",
            CannyCall,
            run_guided,
            "controlnet_canny_db",
            ("db_path", "video_path", "prompt"),
            "Edge-guided video on a DreamBooth base (db_path: a hub id or a local folder).",
            card="canny",
            renames=(("db_path", "model_name"),),
            condition="canny",
            tab="tabs.canny_db",
            label="Edge + DreamBooth",
        ),
        Mode(
            "depth",
            GuidedCall,
            run_guided,
            "controlnet_depth",
            ("video_path", "prompt"),
            "Depth-guided video: the MiDaS depth of a video.",
            condition="depth",
            tab="tabs.depth",
            label="Depth",
        ),
        Mode(
            "pix2pix",
            Pix2PixCall,
            run_pix2pix,
            "pix2pix",
            ("video_path", "prompt"),
            "Video Instruct-Pix2Pix: a video edited by an instruction.",
            tab="tabs.pix2pix",
            label="Video Instruct-Pix2Pix",
        ),
        Mode(
            "trained_video",
            VideoModelCall,
            run_video_model,
            "trained_video",
            ("prompt",),
            "Trained video transformers (Wan, LTX-Video, CogVideoX, HunyuanVideo-1.5); image-to-video with an image.",
            tab="tabs.modelscope",
            label="Trained video",
        ),
        Mode(
            "modelscope",
            ModelScopeCall,
            run_modelscope,
            "modelscope",
            ("prompt",),
            "ModelScope/Zeroscope trained text-to-video.",
            tab="tabs.modelscope",
            label="ModelScope / Zeroscope",
        ),
        Mode(
            "modelscope_upscale",
            UpscaleCall,
            run_upscale,
            "modelscope_upscale",
            ("video_path", "prompt"),
            "Zeroscope XL video-to-video: a clip upscaled.",
            tab="tabs.modelscope",  # beside the clips it upscales
        ),
    ]
)
