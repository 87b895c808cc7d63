"""One checked call per mode: parameter names (the original ones, diffusers' as aliases), unknown names, every
limit of every call (the bad-input matrix's refusals, from Python), and every mode of the registry making a clip."""

import dataclasses

import pytest

from errors import InputError
from modes import GuidedCall, ModelScopeCall, Pix2PixCall, Text2VideoCall
from registry import MODES
from settings import Settings
from tests.test_bad_input_matrix import ROWS

REFUSALS = [row for row in ROWS if row[3] != "ok"]

SETTINGS = Settings.from_env({}).with_tiny_models()


def test_one_name_per_concept_and_the_others_are_aliases():
    """n_prompt, video_length, video_path, path and input_fps in every call; diffusers' names and those some
    endpoints were published with are accepted for them."""
    call = Text2VideoCall.checked(SETTINGS, prompt="a", negative_prompt="blurry", num_frames=3, save_path="x.mp4")
    assert (call.n_prompt, call.video_length, call.path) == ("blurry", 3, "x.mp4")
    call = GuidedCall.checked(SETTINGS, prompt="a", video="in.mp4", fps=8, path="y.mp4", negative_prompt="dark")
    assert (call.video_path, call.input_fps, call.path, call.n_prompt) == ("in.mp4", 8, "y.mp4", "dark")
    call = Pix2PixCall.checked(SETTINGS, prompt="a", video="in.mp4", out_fps=8)
    assert (call.video_path, call.input_fps) == ("in.mp4", 8)
    call = ModelScopeCall.checked(SETTINGS, prompt="a", negative_prompt="dark", num_frames=3)
    assert (call.n_prompt, call.video_length) == ("dark", 3)
    for call_class in (Text2VideoCall, GuidedCall, Pix2PixCall, ModelScopeCall):
        names = {f.name for f in dataclasses.fields(call_class)}
        assert not names & {"negative_prompt", "num_frames", "video", "save_path", "out_fps"}, call_class


def test_two_names_of_one_parameter_or_an_unknown_name_are_refused_by_name():
    with pytest.raises(InputError, match="negative_prompt and n_prompt name the same parameter"):
        Text2VideoCall.checked(SETTINGS, prompt="a", n_prompt="x", negative_prompt="y")
    with pytest.raises(InputError, match="Unknown parameter colour: this mode takes .*video_length"):
        Text2VideoCall.checked(SETTINGS, prompt="a", colour="red")


def test_one_clamping_policy_with_a_note():
    call = Text2VideoCall.checked(SETTINGS, prompt="a", video_length=3, chunk_size=8)
    assert call.chunk_size == 3 and call.notes == ["Chunk size 8 exceeds the video's 3 frames: using 3."]


# --------------------------------------------------------------------------------- every mode, from Python
@pytest.fixture(scope="module")
def matrix_model(tiny_models, models_root, tmp_path_factory):
    """The bad-input matrix's Model (T2VZ_MAX_FRAMES=6, T2VZ_MAX_RESOLUTION=128, its models root), without a server."""
    import dataclasses

    from model import Model

    settings = dataclasses.replace(
        SETTINGS,
        max_frames=6,
        max_resolution=128,
        models_root=models_root,
        output_dir=tmp_path_factory.mktemp("modes-outputs"),
    )
    return Model(settings=settings)


@pytest.mark.parametrize("mode", [mode.name for mode in MODES])
def test_every_mode_makes_a_clip_with_its_card(matrix_model, mode):
    """Each mode of the registry, through `Model.generate`, on its smallest settings."""
    from clip_files import sidecar
    from utils.video import read_video

    base = {row[0][1:]: row[1] for row in ROWS}
    parameters = dict(base.get(mode) or base[MODES[mode].card_mode])
    if mode == "canny_db":
        parameters["db_path"] = "tiny-sd-dreambooth"
    made = matrix_model.generate(mode, **parameters)
    assert len(read_video(made.path)[0]) >= 1 and sidecar(made.path).is_file()
    assert made.card.mode == MODES[mode].card_mode


@pytest.mark.parametrize(
    "endpoint, base, change, expect",
    REFUSALS,
    ids=[f"{row[0][1:]}-{'-'.join(f'{k}={str(v)[:12]}' for k, v in row[2].items())}" for row in REFUSALS],
)
def test_every_limit_of_every_call_refuses_by_name(matrix_model, files, endpoint, base, change, expect):
    """The bad-input matrix's refusals (its fast half), from Python under the web's rules: the same checks, the
    same messages, no server."""
    from errors import StudioError
    from utils.jobs import RequestRules

    args = {**base, **change}
    for key in ("video_path", "video"):
        if key in args:
            args[key] = str(files.get(args[key], args[key]))
    with pytest.raises(StudioError, match=expect):
        matrix_model.generate(endpoint[1:], rules=RequestRules.web(matrix_model.settings), **args)
