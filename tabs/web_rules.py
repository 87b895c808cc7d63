"""The rules every value from the web obeys before it reaches the Model, whether a request sends it or a dropped
card fills it in: model names only from the hub, the offline aliases or the models folder."""

from __future__ import annotations

from pathlib import Path

from loading import TINY_ALIASES
from modes import ZERO_SHOT
from utils.model_names import check_ui_model_name

# Parameters that name a model: from the web, only hub ids, offline aliases or folders under the models root.
MODEL_PARAMETERS = (
    "model_name",
    "controlnet_name",
    "db_path",
    "lora",
    "motion_adapter",
    "motion_lora",
    "sparse_control",
)
WHAT = {
    "lora": "LoRA",
    "motion_adapter": "Motion adapter",
    "motion_lora": "Motion LoRA",
    "sparse_control": "SparseCtrl",
}


def check_model_names(values: dict, models_root: Path) -> dict:
    """`values` with each model name checked by the web's rule (`check_ui_model_name`); raises `InputError`."""
    checked = dict(values)
    for name in MODEL_PARAMETERS:
        if checked.get(name) and checked[name] != ZERO_SHOT:  # the motion source without a model
            checked[name] = check_ui_model_name(checked[name], models_root, TINY_ALIASES, WHAT.get(name, "Model"))
    return checked
