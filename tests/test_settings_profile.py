"""One settings profile: the offline tiny models or the configured hub models, chosen once in settings.py."""

import re
from pathlib import Path

from settings import Settings
from tabs.defaults import guided_defaults, modelscope_defaults, sd_model_choices, text2video_defaults

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_but_settings_asks_whether_the_models_are_tiny():
    askers = []
    for path in [*ROOT.glob("*.py"), *ROOT.glob("pipelines/*.py"), *ROOT.glob("tabs/*.py"), *ROOT.glob("utils/*.py")]:
        for line in path.read_text().splitlines():
            if re.search(r"[a-z]\.tiny_models\b(?!_dir)", line) and "import" not in line:
                askers.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    # settings.py chooses the profile; the app and the command line read their --tiny-models flags.
    flags = ("app.py: if args.tiny_models", "cli.py: if args.tiny_models")
    assert all(a.startswith(("settings.py", *flags)) for a in askers), askers


def test_the_offline_profile_s_defaults_finish_in_seconds():
    settings = Settings.from_env({}).with_tiny_models()
    t2v, guided, modelscope = text2video_defaults(settings), guided_defaults(settings), modelscope_defaults(settings)
    work = {  # megapixel-steps of each tab's defaults
        "text2video": t2v.video_length * t2v.resolution**2 * t2v.num_inference_steps / 1e6,
        "guided": guided.max_frames * guided.resolution**2 * guided.num_inference_steps / 1e6,
        "pix2pix": guided.max_frames * guided.resolution**2 * guided.pix2pix_steps / 1e6,
        "modelscope": modelscope.num_frames * 64**2 * modelscope.num_inference_steps / 1e6,
    }
    assert all(value <= 2 for value in work.values()), work
    assert settings.own_resolution(1024) == 128  # a model's own size is no default beyond the offline cap
    assert settings.random_annotators and not settings.hub_search and settings.notice


def test_the_hub_profile_takes_the_configured_models():
    settings = Settings.from_env(
        {"T2VZ_SD_MODEL": "me/my-sd", "T2VZ_PIX2PIX_MODEL": "me/edit", "T2VZ_MAX_RESOLUTION": "768"}
    )
    assert settings.default_sd_model == "me/my-sd" and sd_model_choices(settings)[0] == "me/my-sd"
    assert settings.default_pix2pix_model == "me/edit" and settings.single_file_config("pix2pix") == "me/edit"
    assert settings.own_resolution(1024) == 768 and guided_defaults(settings).pix2pix_steps == 50
    assert not settings.notice and settings.hub_search
    assert {"me/my-sd", "me/edit"} <= settings.configured_models
