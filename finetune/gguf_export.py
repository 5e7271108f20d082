"""A PEFT LoRA adapter as a GGUF LoRA adapter, for the llamacpp backend (`python -m finetune export-gguf`).

llama.cpp applies a GGUF adapter to its base model at load time: for each adapted weight W it reads
`<W's GGUF name>.lora_a` (r x in) and `.lora_b` (out x r) and adds alpha / r * B @ A, as PEFT does. Two things
differ from the PEFT file: tensor names (Hugging Face `model.layers.0.self_attn.q_proj` is GGUF `blk.0.attn_q`),
and the q and k projections of Llama-family models, whose output rows GGUF stores in another order (the rotary
embedding's halves interleaved); the same reordering applies to B's rows. The written file is `adapter.gguf` in
the adapter's folder, where the llamacpp backend looks for it.
"""

from pathlib import Path

import numpy as np

from rag.adapter import AdapterError, check_adapter
from rag.backends import ADAPTER_GGUF

ARCHITECTURES = {"LlamaForCausalLM": "llama"}  # what the reordering below is right for


def permute_rows(weights: np.ndarray, heads: int) -> np.ndarray:
    """Hugging Face -> GGUF order of a q/k projection's output rows (llama.cpp's convert_hf_to_gguf permute)."""
    rows = weights.shape[0]
    return weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def gguf_name(hf_name: str, name_map: object) -> str:
    found = name_map.get_name(hf_name, try_suffixes=(".weight",))  # type: ignore[attr-defined]
    if found is None:
        raise AdapterError(f"No GGUF name for {hf_name}: llama.cpp cannot apply this adapter.")
    return str(found)


def export_gguf_adapter(adapter: Path, base_config: dict[str, object], out: Path | None = None) -> Path:
    """Write the adapter in `adapter` as a GGUF LoRA for the base model described by `base_config`."""
    import gguf
    from safetensors.numpy import load_file

    config = check_adapter(adapter)
    architecture = ARCHITECTURES.get(str((base_config.get("architectures") or ["?"])[0]))  # type: ignore[index]
    if architecture is None:
        raise AdapterError(f"GGUF export knows Llama-family models only, not {base_config.get('architectures')}.")
    if config.get("use_rslora") or config.get("use_dora"):
        raise AdapterError("GGUF export takes plain LoRA adapters (no rsLoRA, no DoRA).")
    layers = int(base_config["num_hidden_layers"])  # type: ignore[call-overload]
    heads, kv_heads = int(base_config["num_attention_heads"]), int(base_config["num_key_value_heads"])  # type: ignore[call-overload]
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, layers)
    out = out or adapter / ADAPTER_GGUF
    writer = gguf.GGUFWriter(str(out), architecture)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(config["lora_alpha"]))
    tensors = load_file(str(adapter / "adapter_model.safetensors"))
    for key in sorted(tensors):
        if ".lora_A." not in key:
            continue
        module = key.split("base_model.model.", 1)[-1].split(".lora_A.")[0]  # model.layers.0.self_attn.q_proj
        lora_a = tensors[key].astype(np.float32)
        lora_b = tensors[key.replace(".lora_A.", ".lora_B.")].astype(np.float32)
        if module.endswith("q_proj"):
            lora_b = permute_rows(lora_b, heads)
        elif module.endswith("k_proj"):
            lora_b = permute_rows(lora_b, kv_heads)
        name = gguf_name(f"{module}.weight", name_map)
        writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(lora_a))
        writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(lora_b))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def base_config(model: str) -> dict[str, object]:
    """The base model's config (a folder's config.json, or the hub's)."""
    from transformers import AutoConfig

    return dict(AutoConfig.from_pretrained(model).to_dict())
