"""Real LoRA training steps on the CPU: the loss falls, the adapter folder is complete, resume works."""

import json
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from finetune.config import LoraTrainConfig
from finetune.data import Example
from finetune.train import load_base, train_adapter
from rag.models import generator_model_path
from rag.settings import Settings
from tests.finetune.conftest import TINY


def test_a_few_cpu_steps_lower_the_loss_on_the_answers(trained_adapter: Path) -> None:
    training = json.loads((trained_adapter / "training.json").read_text())
    losses = [loss for _, loss in training["loss_log"]]
    assert training["steps"] == 6 and len(losses) == 6
    assert sum(losses[-2:]) / 2 < 0.8 * sum(losses[:2]) / 2, losses


def test_the_adapter_is_a_standard_peft_folder_with_a_model_card(trained_adapter: Path) -> None:
    config = json.loads((trained_adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8 and config["lora_alpha"] == 16
    assert (trained_adapter / "adapter_model.safetensors").stat().st_size > 100_000
    assert (trained_adapter / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (trained_adapter / "README.md").read_text()
    assert "base_model: SmolLM2-135M-Instruct (bundled)" in card and '"answerable": ' in card
    assert '"learning_rate": 0.002' in card


def test_training_resumes_from_the_last_checkpoint(
    tmp_path: Path, trained_adapter: Path, handbook_settings: Settings, short_examples: list[Example]
) -> None:
    out = tmp_path / "adapter"
    shutil.copytree(trained_adapter, out)
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    longer = TINY.model_copy(update={"max_steps": 7})
    base = generator_model_path(handbook_settings)
    report = train_adapter(base, "base", short_examples + short_examples[:2], out, longer, resume=True)
    logged_steps = [step for step, _ in json.loads((out / "training.json").read_text())["loss_log"]]
    assert report["steps"] == 7 and logged_steps[-1] == 7
    assert logged_steps[:6] == [1, 2, 3, 4, 5, 6]  # restored from checkpoint-6, not trained again


def test_qlora_is_refused_without_cuda(handbook_settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"QLoRA .* needs a CUDA GPU"):
        load_base(generator_model_path(handbook_settings), TINY.model_copy(update={"quantize": "nf4"}), "cpu")


def test_config_presets_load_and_bad_values_are_refused(tmp_path: Path) -> None:
    assert LoraTrainConfig.load("cpu").quantize == "none"
    assert LoraTrainConfig.load("gpu").quantize == "nf4"
    (tmp_path / "mine.toml").write_text("r = 4\nalpha = 8\nlearning_rate = 1e-4\n", encoding="utf-8")
    assert LoraTrainConfig.load(str(tmp_path / "mine.toml")).r == 4
    with pytest.raises(FileNotFoundError, match="preset"):
        LoraTrainConfig.load("nope")
    (tmp_path / "typo.toml").write_text("rank = 4\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="rank"):
        LoraTrainConfig.load(str(tmp_path / "typo.toml"))
    with pytest.raises(ValidationError, match="learning_rate"):
        LoraTrainConfig(learning_rate=3.0)
