"""LoRA adapters (PEFT folders from `python -m finetune train`) served on top of the generator."""

import json
from pathlib import Path
from typing import Any

from rag.answerability import AnswerabilityHead, load_head

ADAPTER_CONFIG = "adapter_config.json"


class AdapterError(ValueError):
    """RAG_ADAPTER names something that is not a usable adapter for the generator."""


def check_adapter(folder: Path) -> dict[str, Any]:
    """The adapter's PEFT config; raises AdapterError when the folder is not a PEFT adapter."""
    config = folder / ADAPTER_CONFIG
    if not folder.is_dir():
        raise AdapterError(f"RAG_ADAPTER={folder} is not a folder: point it at the output of `finetune train`.")
    if not config.is_file():
        raise AdapterError(f"{folder} has no {ADAPTER_CONFIG}: it is not a PEFT adapter folder.")
    return dict(json.loads(config.read_text(encoding="utf-8")))


def attach_adapter(model: Any, folder: Path, merge: bool) -> Any:
    """Base model + adapter. Merged into the weights when `merge` (full-precision bases: no LoRA overhead per
    token); kept separate on quantized bases, where merging would round the update away."""
    from peft import PeftModel

    config = check_adapter(folder)
    try:
        adapted = PeftModel.from_pretrained(model, str(folder))
    except (RuntimeError, ValueError, KeyError) as err:
        raise AdapterError(
            f"Adapter {folder} does not fit the generator: it was trained on "
            f"{config.get('base_model_name_or_path')!r} ({err.__class__.__name__}: {str(err)[:200]}). "
            "Set RAG_GENERATOR_MODEL to that base model, or unset RAG_ADAPTER."
        ) from err
    adapted.eval()
    return adapted.merge_and_unload() if merge else adapted


def adapter_summary(folder: Path) -> dict[str, Any]:
    """What the Admin page shows: base model, LoRA shape, training data and held-out metrics, if recorded."""
    config = check_adapter(folder)
    training = read_json(folder / "training.json")
    evaluation = read_json(folder / "evaluation.json")
    return {
        "folder": str(folder.resolve()),
        "base_model": config.get("base_model_name_or_path"),
        "r": config.get("r"),
        "alpha": config.get("lora_alpha"),
        "target_modules": sorted(config.get("target_modules") or []),
        "trained_steps": training.get("steps"),
        "training_data": training.get("data"),
        "held_out": evaluation.get("held_out"),
        "answerability_head": head_summary(folder),
    }


def adapter_head(folder: Path) -> AnswerabilityHead | None:
    """The adapter's answerability head (`finetune head`), None when it has none."""
    try:
        return load_head(folder)
    except ValueError as err:
        raise AdapterError(str(err)) from err


def head_summary(folder: Path) -> dict[str, Any] | None:
    """The answerability head's layer, threshold and cross-validated rates (None without a head)."""
    head = adapter_head(folder)
    return None if head is None else {"layer": head.layer, "threshold": head.threshold, **(head.fitted_on or {})}


def read_json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}
