"""A trained adapter served with RAG_ADAPTER (pipeline, `rag ask`, Admin page) and merged into a plain model."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from finetune.merge import merge_adapter
from rag.adapter import AdapterError, adapter_summary
from rag.answerability import AnswerabilityHead
from rag.generator import TransformersGenerator
from rag.models import generator_model_path
from rag.pipeline import RagPipeline
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.types import Turn
from tests.app.test_app import admin_page_as

REPO = Path(__file__).resolve().parents[2]


def logits(generator: TransformersGenerator, text: str) -> torch.Tensor:
    inputs = generator.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        return generator.model(**inputs).logits[0]


def test_the_adapter_changes_the_model_and_merging_keeps_that_change(
    tmp_path: Path, trained_adapter: Path, handbook_settings: Settings, generator: TransformersGenerator
) -> None:
    adapted = TransformersGenerator.from_settings(handbook_settings.model_copy(update={"adapter": trained_adapter}))
    assert str(trained_adapter) in adapted.name
    text = "Context:\n[1] (handbook.pdf, page 3)\nParking costs 40 euros.\n\nQuestion: What does parking cost?"
    base_logits, adapted_logits = logits(generator, text), logits(adapted, text)
    assert (base_logits - adapted_logits).abs().max() > 0.05

    merged_dir = tmp_path / "merged"
    merge_adapter(generator_model_path(handbook_settings), trained_adapter, merged_dir)
    assert json.loads((merged_dir / "merged_from.json").read_text())["adapter"] == str(trained_adapter.resolve())
    assert not list(merged_dir.glob("adapter_*"))  # a plain model folder
    merged = TransformersGenerator(str(merged_dir))
    assert torch.allclose(logits(merged, text), adapted_logits, atol=1e-3)


def test_the_pipeline_answers_with_the_adapter(trained_adapter: Path, handbook_settings: Settings) -> None:
    pipeline = RagPipeline.from_settings(handbook_settings.model_copy(update={"adapter": trained_adapter}))
    result = pipeline.answer("How much does a monthly parking permit cost?", max_new_tokens=24).result()
    assert "adapter" in pipeline.generator.name
    assert set(result) == {"id", "answer", "abstained", "refused", "sources", "mode", "guard", "citations"}
    assert result["sources"][0]["page"] == 3


def run_ask(env: dict[str, str], adapter: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "rag", "ask", "What is the IT helpdesk extension?", "--json"]
    env = os.environ | env | {"RAG_ADAPTER": adapter, "RAG_MAX_NEW_TOKENS": "24"}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_rag_ask_serves_rag_adapter_and_explains_a_wrong_one(
    tmp_path: Path, trained_adapter: Path, handbook_env: dict[str, str]
) -> None:
    result = run_ask(handbook_env, str(trained_adapter))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sources"][0]["page"] == 5
    (tmp_path / "not-an-adapter").mkdir()
    wrong = run_ask(handbook_env, str(tmp_path / "not-an-adapter"))
    assert wrong.returncode == 2 and "has no adapter_config.json: it is not a PEFT adapter folder" in wrong.stderr


def test_a_summary_of_the_adapter_for_the_admin_page(trained_adapter: Path, tmp_path: Path) -> None:
    info = adapter_summary(trained_adapter)
    assert info["r"] == 8 and info["trained_steps"] == 6 and info["training_data"]["kinds"]["answerable"] >= 5
    with pytest.raises(AdapterError, match="is not a folder"):
        adapter_summary(tmp_path / "missing")


def admin_page_with(adapter: Path, data_dir: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The Admin page, run as an admin, with RAG_ADAPTER=adapter."""
    monkeypatch.setenv("RAG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RAG_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("RAG_ADAPTER", str(adapter))
    st.cache_resource.clear()
    app = AppTest.from_function(admin_page_as, args=("admin",), default_timeout=300)
    app.run()
    assert not app.exception, app.exception
    return app


def test_the_admin_page_shows_the_active_adapter(
    trained_adapter: Path, tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = admin_page_with(trained_adapter, tmp_path / "data", models_dir, monkeypatch)
    assert [s.value for s in app.subheader][-1] == "Models"
    shown = " ".join(m.value for m in app.markdown)
    assert f"Active adapter: `{trained_adapter.resolve()}` (LoRA r=8, alpha=16" in shown


@pytest.fixture
def always_abstaining_adapter(trained_adapter: Path, tmp_path: Path, generator: TransformersGenerator) -> Path:
    """A copy of the trained adapter whose answerability head says "unanswerable" to every prompt."""
    folder = tmp_path / "abstaining-adapter"
    shutil.copytree(trained_adapter, folder)
    size = generator.model.config.hidden_size
    rates = {"cv_abstention_on_unanswerable": 0.85, "cv_false_abstention_on_answerable": 0.3}
    AnswerabilityHead(15, [0.0] * size, [1.0] * size, [0.0] * size, 10.0, 0.5, fitted_on=rates).save(folder)
    return folder


def test_the_pipeline_lets_the_head_decide_but_not_the_follow_up_rewriting(
    always_abstaining_adapter: Path, handbook_settings: Settings
) -> None:
    settings = handbook_settings.model_copy(update={"adapter": always_abstaining_adapter, "followup": "model"})
    pipeline = RagPipeline.from_settings(settings)
    asked = "How much does a monthly parking permit cost?"
    answer = pipeline.answer("And for a year?", history=[Turn(asked, asked, "40 euros [1].")], max_new_tokens=24)
    result = answer.result()
    assert result["abstained"] and result["answer"] == ABSTAIN_ANSWER and result["sources"]  # the head said no
    assert not answer.query.startswith("I don't know")  # the follow-up rewriting never met the head


def test_the_admin_page_shows_the_adapters_head(
    always_abstaining_adapter: Path, tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = admin_page_with(always_abstaining_adapter, tmp_path / "data", models_dir, monkeypatch)
    shown = " ".join(c.value for c in app.caption)
    assert "Answerability head (layer 15): abstains on 85% of unanswerable and 30% of answerable" in shown
