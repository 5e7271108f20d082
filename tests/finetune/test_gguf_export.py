"""A PEFT adapter exported to GGUF changes llama.cpp's next-token scores as it changes transformers' own."""

from pathlib import Path

import numpy as np
import pytest
import torch

from finetune.gguf_export import base_config, export_gguf_adapter, permute_rows
from rag.backends import build_backend, chosen_backend
from rag.generator import ChatTemplate, TransformersGenerator
from rag.llamacpp import LlamaCppBackend
from tests.helpers import make_settings

PROMPT = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def random_adapter(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A LoRA on q, k, v, o and the MLP with small random A and B: it moves the scores, as training does."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(models_dir / "SmolLM2-135M-Instruct"), dtype=torch.float32)
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=modules))
    generator = torch.Generator().manual_seed(0)
    for name, weight in model.named_parameters():
        if "lora_" in name:
            weight.data = torch.randn(weight.shape, generator=generator) * (0.1 if "lora_A" in name else 0.05)
    out = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(str(out))
    return out


def llama_scores(gguf: Path, template: ChatTemplate, adapter: Path | None = None) -> np.ndarray:
    import llama_cpp

    backend = LlamaCppBackend(gguf, template, max_batch=1, adapter=adapter)
    ids = template.prompt_ids(PROMPT)
    for position, token in enumerate(ids):
        backend._put(token, position, 0, position == len(ids) - 1)
    assert llama_cpp.llama_decode(backend.context.ctx, backend.batch.batch) == 0
    pointer = llama_cpp.llama_get_logits_ith(backend.context.ctx, len(ids) - 1)
    return np.ctypeslib.as_array(pointer, shape=(backend.model.n_vocab(),)).copy()


def transformers_scores(generator: TransformersGenerator) -> np.ndarray:
    with torch.inference_mode():
        return generator.model(**generator.encode(PROMPT)).logits[0, -1].float().numpy()


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def test_the_gguf_adapter_does_in_llama_cpp_what_peft_does_in_transformers(
    random_adapter: Path, models_dir: Path
) -> None:
    folder = models_dir / "SmolLM2-135M-Instruct"
    exported = export_gguf_adapter(random_adapter, base_config(str(folder)))
    assert exported == random_adapter / "adapter.gguf"
    template = ChatTemplate(str(folder))
    gguf = folder / "model.gguf"  # the weights as shipped, which the conversion dequantized
    base_llama, adapted_llama = llama_scores(gguf, template), llama_scores(gguf, template, exported)
    base_tf = transformers_scores(TransformersGenerator(str(folder)))
    adapted_tf = transformers_scores(TransformersGenerator(str(folder), adapter=random_adapter))
    assert correlation(base_tf, adapted_tf) < 0.97  # the adapter changes the scores
    assert correlation(base_llama, base_tf) > 0.995  # the two runtimes agree on the base model
    assert correlation(adapted_llama, adapted_tf) > 0.995  # ... and on the adapted one (0.986 with q, k unordered)
    assert int(adapted_llama.argmax()) == int(adapted_tf.argmax())
    served = make_settings(Path("unused"), models_dir, adapter=random_adapter)
    assert chosen_backend(served) == "llamacpp" and "adapter" in build_backend(served).name


def test_rows_are_reordered_per_head_as_llama_cpp_expects() -> None:
    rows = np.arange(8)[:, None].astype(np.float32)  # one head of 8 rows: halves [0..3] and [4..7] interleaved
    assert permute_rows(rows, heads=1)[:, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
