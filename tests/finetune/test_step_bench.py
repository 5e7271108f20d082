"""The GPU step benchmark, run on the CPU with a tiny shape: the same code path, a real optimizer step."""

import pytest

from finetune.config import LoraTrainConfig
from finetune.step_bench import SHAPES, one_step


def test_one_lora_step_on_a_random_model_of_a_given_shape() -> None:
    config = LoraTrainConfig.load("cpu")
    report = one_step("tiny", config, "cpu", batch=2, tokens=16)
    shape = SHAPES["tiny"]
    hidden, inner, kv = shape["hidden_size"], shape["intermediate_size"], 32  # 2 kv heads of 16 dims
    per_layer = 2 * (hidden + hidden) + 2 * (hidden + kv) + 3 * (hidden + inner)  # q, o; k, v; gate, up, down
    assert report["trainable_parameters"] == config.r * per_layer * shape["num_hidden_layers"]
    assert report["step_seconds"] > 0 and report["loss"] > 0


def test_qlora_step_needs_cuda() -> None:
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        one_step("tiny", LoraTrainConfig.load("gpu"), "cpu", batch=1, tokens=8)
