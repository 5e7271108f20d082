"""Time one LoRA or QLoRA training step on a random-weight model of a real shape, and its peak memory.

Real weights cannot be fetched everywhere, but speed and memory depend only on the shape: the model is built
from a config with random weights, saved, and loaded back like a real checkpoint (so nf4 quantization runs
the same code path as for a downloaded model).
"""

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from finetune.config import LoraTrainConfig
from finetune.train import load_base, lora_config

# Llama-3.2 shapes (hidden, intermediate, layers, heads, kv heads, vocab) and a tiny one for CPU checks.
SHAPES: dict[str, dict[str, int]] = {
    "llama-3.2-1b": {
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
    },
    "llama-3.2-3b": {
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 28,
        "num_attention_heads": 24,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
    },
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 512,
    },
}


def random_model_folder(shape: str, folder: Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(**SHAPES[shape], max_position_embeddings=4096, tie_word_embeddings=True)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(str(folder))
    return folder


def one_step(shape: str, config: LoraTrainConfig, device: str, batch: int, tokens: int) -> dict[str, Any]:
    """Seconds of the second of two optimizer steps (the first warms up kernels) and peak memory."""
    from peft import get_peft_model

    with tempfile.TemporaryDirectory() as folder:
        model = get_peft_model(
            load_base(str(random_model_folder(shape, Path(folder))), config, device), lora_config(config)
        )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    ids = torch.randint(0, SHAPES[shape]["vocab_size"], (batch, tokens), device=device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds = 0.0
    for _ in range(2):
        started = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    report = {
        "shape": shape,
        "quantize": config.quantize,
        "device": device,
        "batch": batch,
        "tokens": tokens,
        "step_seconds": round(seconds, 3),
        "trainable_parameters": trainable,
        "loss": round(loss.item(), 3),
    }
    if device == "cuda":
        report["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return report
