"""Fitting the answerability head: layer choice and threshold on known features, then the real path end to end."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from finetune.cli import app
from finetune.data import Example, write_examples
from finetune.head import candidate_layers, fit_head
from rag.adapter import adapter_summary
from rag.answerability import HEAD_FILE
from rag.decide import Decider
from rag.generator import TransformersGenerator
from rag.settings import ABSTAIN_ANSWER, Settings


def features(rng: np.random.Generator, n: int, informative: int) -> tuple[np.ndarray, np.ndarray]:
    """n examples x 5 states x 8 dims of noise; the label shifts state `informative` only."""
    y = np.array([i % 2 for i in range(n)])
    states = rng.normal(size=(n, 5, 8))
    states[:, informative, :2] += 2.0 * y[:, None]
    return states, y


def test_the_head_reads_the_layer_that_holds_the_signal_and_meets_the_recall() -> None:
    assert candidate_layers(31) == [7, 15, 23]
    states, y = features(np.random.default_rng(0), 120, informative=3)
    head = fit_head(states, y, recall=0.85)
    assert head.layer == 3 and head.fitted_on is not None
    assert head.fitted_on["cv_auc"] > 0.85 and head.fitted_on["cv_abstention_on_unanswerable"] >= 0.85
    unseen, y_unseen = features(np.random.default_rng(1), 200, informative=3)
    flagged = np.array([head.unanswerable(torch.tensor(s[3])) for s in unseen])
    assert flagged[y_unseen == 1].mean() > 0.7 and flagged[y_unseen == 0].mean() < 0.4


def test_one_kind_only_is_refused() -> None:
    states, _ = features(np.random.default_rng(0), 10, informative=2)
    with pytest.raises(ValueError, match="at least 4 answerable and 4 unanswerable"):
        fit_head(states, np.zeros(10, dtype=int))


def test_finetune_head_fits_saves_and_the_served_adapter_decides_with_it(
    tmp_path: Path,
    trained_adapter: Path,
    short_examples: list[Example],
    handbook_settings: Settings,
    handbook_env: dict[str, str],
) -> None:
    adapter = tmp_path / "adapter"
    shutil.copytree(trained_adapter, adapter)
    write_examples(short_examples, tmp_path / "train.jsonl")
    command = ["head", "--adapter", str(adapter), "--data", str(tmp_path / "train.jsonl"), "--recall", "0.9"]
    result = CliRunner().invoke(app, command, env=handbook_env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["examples"] == len(short_examples) and report["target_recall"] == 0.9
    assert (adapter / HEAD_FILE).is_file()
    assert adapter_summary(adapter)["answerability_head"]["layer"] == report["layer"]  # shown on the Admin page

    with_adapter = handbook_settings.model_copy(update={"adapter": adapter})
    served = TransformersGenerator.from_settings(with_adapter)
    decider = Decider.from_settings(with_adapter, served)  # what the app builds from RAG_ADAPTER
    assert decider.head is not None and decider.head.layer == report["layer"]
    for example in short_examples[:: max(len(short_examples) // 6, 1)]:
        hidden = served.read_prompt(example.prompt, [decider.head.layer]).hidden[decider.head.layer]
        probability = decider.head.probability(hidden)
        reply = decider.reply(served, example.prompt, max_new_tokens=12, temperature=0.0, top_p=1.0)
        answer = "".join(reply.pieces)
        assert reply.p_unanswerable == pytest.approx(probability, abs=1e-5)
        assert (answer == ABSTAIN_ANSWER) == (probability >= decider.head.threshold), (probability, answer)


def test_finetune_train_fits_the_head_after_training_unless_told_not_to(
    tmp_path: Path, short_examples: list[Example], handbook_env: dict[str, str]
) -> None:
    write_examples(short_examples, tmp_path / "train.jsonl")
    config = tmp_path / "tiny.toml"
    config.write_text("r = 4\nalpha = 8\nmax_steps = 2\nbatch_size = 2\nlogging_steps = 1\nwarmup_ratio = 0.0\n")
    base = ["train", "--data", str(tmp_path / "train.jsonl"), "--config", str(config)]
    fitted = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "with-head")], env=handbook_env)
    assert fitted.exit_code == 0, fitted.output
    assert '"answerability_head"' in fitted.stdout and (tmp_path / "with-head" / HEAD_FILE).is_file()
    assert '"cv_abstention_on_unanswerable"' in (tmp_path / "with-head" / "README.md").read_text()  # model card
    skipped = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "no-head"), "--no-head"], env=handbook_env)
    assert skipped.exit_code == 0, skipped.output
    assert (tmp_path / "no-head" / "adapter_config.json").is_file() and not (tmp_path / "no-head" / HEAD_FILE).exists()
