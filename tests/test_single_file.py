"""Single-file checkpoints: written here from the tiny models in the original (LDM) layout, loaded through diffusers'
`from_single_file` by the Model; the family read from the keys; every kind of wrong file refused with a message."""

import dataclasses
import shutil

import pytest
import torch

from errors import InputError, ModelLoadError, WrongModelError
from model import Model
from pipelines import TextToVideoZeroPipeline
from settings import Settings
from tests.ldm_export import save_single_file
from utils import model_list, single_file
from utils.model_names import check_ui_model_name

FAMILIES = {"sd1": "sd", "sd2": "sd2", "sdxl": "sdxl", "pix2pix": "pix2pix"}  # family -> tiny folder
FAST = dict(num_inference_steps=3, t0=1, t1=2, video_length=2, resolution=64)


def perturbed(folder, seed: int):
    """The tiny pipeline with every weight nudged, so weights read from the file differ from its config folder's."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(folder)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in pipe.components.values():
            if isinstance(module, torch.nn.Module):
                for weight in module.parameters():
                    weight.add_(torch.randn(weight.shape, generator=generator) * 1e-2)
    return pipe


def fake_checkpoint(path, shapes: dict[str, tuple[int, ...]]):
    """A .safetensors file with these tensor names and shapes (family detection reads only names and shapes)."""
    from safetensors.torch import save_file

    save_file({key: torch.zeros(shape) for key, shape in shapes.items()}, str(path))
    return path


@pytest.fixture(scope="module")
def root(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    sources = {}
    for seed, (family, tiny) in enumerate(FAMILIES.items()):
        sources[family] = perturbed(tiny_models[tiny], seed)
        save_single_file(sources[family].components, root / f"{family}.safetensors")
    from diffusers import DiffusionPipeline

    save_single_file(DiffusionPipeline.from_pretrained(tiny_models["sd2"]).components, root / "sd2-exact.safetensors")
    return root, sources


@pytest.fixture(scope="module")
def model(root):
    return Model(settings=dataclasses.replace(Settings.from_env().with_tiny_models(), models_root=root[0]))


def assert_same_weights(loaded: dict, source: dict):
    modules = [name for name, value in source.items() if isinstance(value, torch.nn.Module)]
    assert {"unet", "vae", "text_encoder"} <= set(modules)
    for name in modules:
        a, b = source[name].state_dict(), loaded[name].state_dict()
        assert a.keys() == b.keys(), name
        assert all(torch.equal(a[key], b[key]) for key in a), name


@pytest.mark.parametrize("family", ["sd1", *(pytest.param(f, marks=pytest.mark.slow) for f in ("sd2", "sdxl"))])
def test_a_single_file_loads_with_every_weight_from_the_file(model, root, tiny_models, family):
    components = model.base_components(f"{family}.safetensors")
    assert_same_weights(components, root[1][family].components)
    # ... not from the config folder it was given for its family
    reference = TextToVideoZeroPipeline.from_pretrained(tiny_models[FAMILIES[family]]).unet.conv_in.weight
    assert not torch.equal(components["unet"].conv_in.weight, reference)
    assert ("text_encoder_2" in components) == (family == "sdxl")


def test_an_instruct_pix2pix_single_file(model, root):
    pipe = model.pix2pix_pipeline("pix2pix.safetensors")
    assert_same_weights(pipe.components, root[1]["pix2pix"].components)
    assert pipe.unet.config.in_channels == 8


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_the_family_comes_from_the_keys_not_the_name(model, root):
    folder, _ = root
    shutil.copy(folder / "sdxl.safetensors", folder / "v1-5-pruned-emaonly.safetensors")
    shutil.copy(folder / "sd2.safetensors", folder / "sd_xl_base_1.0.safetensors")
    shutil.copy(folder / "sd1.safetensors", folder / "v2-1_768-ema-pruned.safetensors")
    assert "text_encoder_2" in model.base_components("v1-5-pruned-emaonly.safetensors")
    sd2 = model.base_components("sd_xl_base_1.0.safetensors")
    assert "text_encoder_2" not in sd2
    assert sd2["scheduler"].config.prediction_type == "v_prediction"  # SD 2.1's configs
    assert sd2["unet"].config.cross_attention_dim == 40  # OpenCLIP's width, in the tiny scale
    sd1 = model.base_components("v2-1_768-ema-pruned.safetensors")
    assert sd1["unet"].config.cross_attention_dim == 32
    assert sd1["scheduler"].config.prediction_type == "epsilon"


@pytest.mark.slow  # the full suite runs it; the fast specification states the feature elsewhere
def test_a_single_file_makes_the_same_video_as_its_folder(model, tiny_models):
    def latents(pipe):
        pipe.set_progress_bar_config(disable=True)
        args = dict(video_length=3, height=64, width=64, num_inference_steps=4, t0=2, t1=3, output_type="latent")
        return pipe("a cat", generator=torch.Generator().manual_seed(0), **args).frames

    from_file = latents(model.text2video_pipeline("sd2-exact.safetensors"))
    from_folder = latents(TextToVideoZeroPipeline.from_pretrained(tiny_models["sd2"]))
    assert torch.equal(from_file, from_folder)
    assert model.text2video("a cat", model_name="sdxl.safetensors", **FAST).path.endswith(".mp4")


@pytest.fixture(scope="module")
def bad_files(root, tmp_path_factory):
    folder = root[0]
    (folder / "notes.safetensors").write_text("this is not a checkpoint")
    torch.save({"model.diffusion_model.x": torch.zeros(1)}, folder / "model.ckpt")
    (folder / "folder.safetensors").mkdir()
    text = {"cond_stage_model.transformer.text_model.final_layer_norm.weight": (4,)}
    unet_in = "model.diffusion_model.input_blocks.0.0.weight"
    fake_checkpoint(folder / "inpainting.safetensors", {unet_in: (8, 9, 3, 3), **text})
    fake_checkpoint(folder / "unet-only.safetensors", {unet_in: (8, 4, 3, 3)})
    fake_checkpoint(
        folder / "vae.safetensors", {"encoder.conv_in.weight": (8, 3, 3, 3), "decoder.conv_out.bias": (3,)}
    )
    fake_checkpoint(folder / "controlnet.safetensors", {"control_model.input_hint_block.0.weight": (16, 3, 3, 3)})
    fake_checkpoint(folder / "style-lora.safetensors", {"lora_unet_down_blocks_0_attn.lora_down.weight": (4, 32)})
    refiner = {unet_in: (8, 4, 3, 3), "conditioner.embedders.0.model.text_projection": (4, 4)}
    fake_checkpoint(folder / "refiner.safetensors", refiner)
    return folder


BAD = [
    ("model.ckpt", InputError, "pickle checkpoint.*only .safetensors"),
    ("notes.safetensors", InputError, "is not a checkpoint: it cannot be read as a .safetensors file"),
    ("folder.safetensors", InputError, "is not a file"),
    ("missing.safetensors", InputError, "does not exist"),
    ("inpainting.safetensors", InputError, "inpainting or other special SD 1.x model.*9 channels"),
    ("unet-only.safetensors", InputError, "no text encoder"),
    ("vae.safetensors", InputError, "VAE on its own"),
    ("controlnet.safetensors", InputError, "is a ControlNet"),
    ("style-lora.safetensors", InputError, "is a LoRA: give it in the LoRA field"),
    ("refiner.safetensors", InputError, "SDXL refiner"),
    ("pix2pix.safetensors", WrongModelError, "Instruct-Pix2Pix checkpoint.*belong in the Video Instruct-Pix2Pix tab"),
]


@pytest.mark.parametrize("name, error, message", BAD, ids=[row[0] for row in BAD])
def test_wrong_files_get_a_message_and_the_model_keeps_working(model, bad_files, name, error, message):
    model.base_components("sd1.safetensors")
    with pytest.raises(error, match=message) as raised:
        model.text2video("a cat", model_name=name, **FAST)
    assert str(bad_files) not in str(raised.value)  # the file is named as the user gave it
    assert model.loaded_name("base").endswith("sd1.safetensors")  # the loaded model stays
    assert model.text2video("a cat", model_name="sd1.safetensors", **FAST).path.endswith(".mp4")


@pytest.mark.slow
def test_other_families_in_the_pix2pix_and_guided_modes(model):
    with pytest.raises(WrongModelError, match="SD 1.x checkpoint; this mode takes Instruct-Pix2Pix"):
        model.pix2pix_pipeline("sd1.safetensors")
    with pytest.raises(WrongModelError, match="SDXL"):
        model.controlnet_pipeline("sdxl.safetensors", "tiny-controlnet-canny")
    # An SD 2.x base has a wider text embedding than the SD 1.x ControlNets were made for.
    with pytest.raises(WrongModelError, match="another Stable Diffusion family"):
        model.controlnet_pipeline("sd2.safetensors", "tiny-controlnet-canny")
    assert model.controlnet_pipeline("sd1.safetensors", "tiny-controlnet-canny") is not None


def test_web_names_stay_inside_the_models_root(root):
    folder, _ = root
    assert check_ui_model_name("sdxl.safetensors", folder) == "sdxl.safetensors"
    assert check_ui_model_name("owner/repo/model.safetensors", folder) == "owner/repo/model.safetensors"
    url = "https://huggingface.co/owner/repo/blob/main/model.safetensors"
    assert check_ui_model_name(url, folder) == url
    for outside in ("../sdxl.safetensors", str(folder.parent / "x.safetensors"), "~/x.safetensors"):
        with pytest.raises(InputError, match="inside the models folder"):
            check_ui_model_name(outside, folder)


def test_hub_file_addresses():
    assert single_file.hub_file("owner/repo/model.safetensors") == ("owner/repo", "model.safetensors", None)
    assert single_file.hub_file("owner/repo/sub/m.safetensors") == ("owner/repo", "sub/m.safetensors", None)
    url = "https://huggingface.co/owner/repo/blob/v2/sub/m.safetensors"
    assert single_file.hub_file(url) == ("owner/repo", "sub/m.safetensors", "v2")
    assert single_file.hub_file("m.safetensors") is None
    assert single_file.is_single_file(url) and not single_file.is_single_file("owner/repo")


def test_offline_a_hub_file_or_a_missing_config_says_what_to_do(root, tiny_models, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = dataclasses.replace(Settings.from_env(), models_root=root[0])
    offline = Model(settings=settings)
    with pytest.raises(ModelLoadError, match="configs of 'stable-diffusion-v1-5/.*set T2VZ_SD1_CONFIG to a local"):
        offline.base_components("sd1.safetensors")  # SD 1.5's configs are not in the cache here
    with pytest.raises(ModelLoadError, match="Could not download the checkpoint file 'owner/repo/model.safetensors'"):
        offline.base_components("owner/repo/model.safetensors")
    # A local diffusers folder of the family as its configs (for machines without the Hub).
    env = {"T2VZ_SD1_CONFIG": str(tiny_models["sd"]), "T2VZ_MODELS_ROOT": str(root[0])}
    configured = Model(settings=Settings.from_env(env))
    assert_same_weights(configured.base_components("sd1.safetensors"), root[1]["sd1"].components)


def test_the_model_lists_show_checkpoints_but_not_loras(root, bad_files):
    sd = model_list.local_models(root[0])
    assert {"sd1.safetensors", "sd2.safetensors", "sdxl.safetensors"} <= set(sd)
    assert not {"pix2pix.safetensors", "style-lora.safetensors", "notes.safetensors", "vae.safetensors"} & set(sd)
    assert model_list.local_models(root[0], ("pix2pix",)) == ["pix2pix.safetensors"]
    settings = dataclasses.replace(Settings.from_env(), models_root=root[0])
    from tabs.defaults import guided_model_choices, sd_model_choices

    guided = guided_model_choices(settings)
    assert "sd1.safetensors" in guided and settings.default_sd_model in guided
    assert not {"sd2.safetensors", "sdxl.safetensors", "stabilityai/stable-diffusion-xl-base-1.0"} & set(guided)
    assert {"sd2.safetensors", "sdxl.safetensors"} <= set(sd_model_choices(settings))
    assert not {"tiny-sd2", "tiny-sdxl"} & set(guided_model_choices(settings.with_tiny_models()))


def test_settings_name_the_configs_of_each_family():
    settings = Settings.from_env({"T2VZ_SD2_CONFIG": "stabilityai/stable-diffusion-2-base"})
    assert settings.single_file_config("sd1") == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert settings.single_file_config("sd2") == "stabilityai/stable-diffusion-2-base"
    assert settings.single_file_config("sdxl") == "stabilityai/stable-diffusion-xl-base-1.0"
    assert settings.single_file_config("pix2pix") == "timbrooks/instruct-pix2pix"
    assert settings.with_tiny_models().single_file_config("sd2") == "tiny-sd2"


def test_the_writer_inverts_diffusers_reader_on_sd_s_full_layout():
    """SD 1.5's block layout (four levels, two layers each, attention in the first three) at a tiny width: the
    writer's names read back through diffusers' converters to exactly the original weights."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint

    from tests.ldm_export import unet_to_ldm, vae_to_ldm

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=2,
        norm_num_groups=8,
        cross_attention_dim=16,
        attention_head_dim=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    )
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=2,
        norm_num_groups=8,
    )
    for module, write, read in [
        (unet, unet_to_ldm, convert_ldm_unet_checkpoint),
        (vae, vae_to_ldm, convert_ldm_vae_checkpoint),
    ]:
        original = module.state_dict()
        back = read(write(module), module.config)
        assert back.keys() == original.keys()
        assert all(torch.equal(back[key], original[key]) for key in original)


def test_a_hub_file_is_checked_from_its_header_before_it_downloads(model, root, monkeypatch):
    """A stand-in hub: headers are read remotely (as huggingface_hub's range reads do), downloads are counted."""
    from types import SimpleNamespace

    from huggingface_hub.errors import SafetensorsParsingError

    folder, sources = root
    downloads = []

    def parse(self, repo_id, filename, revision=None, **kwargs):
        if filename.startswith("notes"):
            raise SafetensorsParsingError("header too large")
        shapes = single_file.read_shapes(folder / filename, filename)
        return SimpleNamespace(tensors={key: SimpleNamespace(shape=shape) for key, shape in shapes.items()})

    def download(repo_id, filename, revision=None, **kwargs):
        downloads.append((repo_id, filename, revision))
        return str(folder / filename)

    monkeypatch.setattr("huggingface_hub.HfApi.parse_safetensors_file_metadata", parse)
    monkeypatch.setattr("huggingface_hub.hf_hub_download", download)
    with pytest.raises(WrongModelError, match="'someone/models/sdxl.safetensors' is an SDXL checkpoint"):
        model.pix2pix_pipeline("someone/models/sdxl.safetensors")
    with pytest.raises(InputError, match="is not a checkpoint"):
        model.base_components("someone/models/notes.safetensors")
    assert downloads == []  # neither was downloaded
    url = "https://huggingface.co/someone/models/blob/main/sd2.safetensors"
    assert_same_weights(model.base_components(url), sources["sd2"].components)
    assert downloads == [("someone/models", "sd2.safetensors", "main")]


def test_a_lora_applies_to_a_single_file_base(model):
    import numpy as np

    from tests.test_lora import make_lora
    from utils.video import read_video

    lora = make_lora(model.resolve_model_name("tiny-sd"), model.settings.models_root / "lora-made-here", seed=3)
    plain = read_video(model.text2video("a cat", model_name="sd1.safetensors", **FAST).path)[0].astype(int)
    styled = model.text2video("a cat", model_name="sd1.safetensors", lora=str(lora), **FAST)
    assert np.abs(read_video(styled.path)[0].astype(int) - plain).max() > 3


def configs_only(folder, target, sample_size):
    """A folder with only a model's unet/ and vae/ configs, the UNet's sample size changed."""
    import json

    for part in ("unet", "vae"):
        (target / part).mkdir(parents=True)
        config = json.loads((folder / part / "config.json").read_text())
        if part == "unet":
            config["sample_size"] = sample_size
        (target / part / "config.json").write_text(json.dumps(config))
    return target


@pytest.mark.slow
def test_the_model_s_own_size_is_read_from_configs(model, root, tiny_models, tmp_path, monkeypatch):
    from tabs.text2video import own_resolution

    assert model.native_resolution("tiny-sdxl") == 128
    assert model.native_resolution("sdxl.safetensors") == 128  # its family's configs: here the tiny SDXL's
    assert model.native_resolution("style-lora.safetensors") is None
    xl = configs_only(tiny_models["sdxl"], tmp_path / "xl", 128)  # 128 latents: 1024 px, as SDXL
    sd2 = configs_only(tiny_models["sd2"], tmp_path / "sd2", 96)  # 768 px, as SD 2.1
    assert model.native_resolution(str(sd2)) == 768
    env = {"T2VZ_SDXL_CONFIG": str(xl), "T2VZ_MODELS_ROOT": str(root[0]), "T2VZ_MAX_RESOLUTION": "1024"}
    real = Model(settings=Settings.from_env(env))
    assert real.native_resolution("sdxl.safetensors") == 1024
    assert Model(settings=Settings.from_env({**env, "T2VZ_MAX_RESOLUTION": "512"})).native_resolution(str(xl)) == 512
    # Hub ids: from the cache; offline and uncached, unknown; online, a slow hub is not waited for.
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda repo, name: str(xl / name))
    assert real.native_resolution("stabilityai/stable-diffusion-xl-base-1.0") == 1024
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda repo, name: None)
    assert real.native_resolution("stabilityai/stable-diffusion-xl-base-1.0") is None
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr("huggingface_hub.hf_hub_download", lambda *a, **k: time.sleep(20))
    start = time.monotonic()
    assert real.native_resolution("someone/slow-model") is None
    assert time.monotonic() - start < 10
    # The tab's handler: the slider follows the model; names outside the models root are not looked at.
    assert own_resolution(real, "sdxl.safetensors")["value"] == 1024
    assert "value" not in own_resolution(real, "../sdxl.safetensors")


def test_the_text2video_tab_wires_the_model_field_to_the_resolution(model):
    from registry import MODES
    from tabs.text2video import create_demo

    config = create_demo(model, MODES["text2video"]).get_config_file()
    labels = {c["id"]: c["props"].get("label") or "" for c in config["components"]}
    wired = [
        (labels[target[0]], [labels[output] for output in dep["outputs"]])
        for dep in config["dependencies"]
        for target in dep["targets"]
        if target[1] == "change"
    ]
    assert any(source == "Model" and outputs == ["Resolution"] for source, outputs in wired)
