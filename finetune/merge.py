"""Fold an adapter into the base weights: a plain transformers folder any server (vLLM, llama.cpp) can load."""

import json
from pathlib import Path

import torch

from rag.adapter import attach_adapter, check_adapter


def merge_adapter(base_model: str, adapter: Path, out: Path) -> dict[str, str]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_adapter(adapter)
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32)
    merged = attach_adapter(model, adapter, merge=True)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(base_model).save_pretrained(str(out))
    origin = {"base_model": base_model, "adapter": str(adapter.resolve())}
    (out / "merged_from.json").write_text(json.dumps(origin, indent=2), encoding="utf-8")
    return origin
