"""One factory for the answer path's parts: with RAG_RERANKER_MODEL set (a tiny CrossEncoder made here), the app,
`rag ask`, `eval run`, `eval questions` and `finetune data` all rerank with it, because all of them take their
retrieval from `Components`."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from eval.cli import app as eval_cli
from eval.sets import EvalItem, save_set
from finetune.cli import app as finetune_cli
from rag.cli import app as rag_cli
from rag.components import Components
from rag.rerank import CrossEncoderReranker
from rag.settings import Settings
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.helpers import HANDBOOK_FACTS, HANDBOOK_SECTIONS

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def tiny_cross_encoder(folder: Path, models_dir: Path) -> Path:
    """A one-layer BERT cross-encoder with random weights and the bundled embedder's tokenizer (2.7 MB)."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from rag.models import embedding_model_path

    settings = Settings(_env_file=None, models_dir=models_dir)  # type: ignore[call-arg]
    tokenizer = AutoTokenizer.from_pretrained(embedding_model_path(settings))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=1)  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def reranked(
    tmp_path: Path, models_dir: Path, handbook_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """RAG_RERANKER_MODEL set for everything in this process; yields the questions the reranker was asked."""
    monkeypatch.setenv("RAG_RERANKER_MODEL", str(tiny_cross_encoder(tmp_path / "reranker", models_dir)))
    asked: list[str] = []
    real = CrossEncoderReranker.rerank

    def recording(self: CrossEncoderReranker, question: str, hits: list) -> list:  # type: ignore[type-arg]
        asked.append(question)
        return real(self, question, hits)

    monkeypatch.setattr(CrossEncoderReranker, "rerank", recording)
    yield asked


def test_every_caller_retrieves_through_the_factory(reranked: list[str], tmp_path: Path) -> None:
    question = HANDBOOK_FACTS[1][0]
    env = {"RAG_RERANKER_MODEL": str(tmp_path / "reranker")}

    st.cache_resource.clear()
    app = AppTest.from_file(APP, default_timeout=300)
    app.run()
    app.chat_input[0].set_value(question).run()
    assert not app.exception, app.exception
    assert reranked == [question], "the app"

    result = CliRunner().invoke(rag_cli, ["ask", question, "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert reranked[1:] == [question], "rag ask"

    facts = zip(HANDBOOK_FACTS, HANDBOOK_SECTIONS, strict=True)
    items = [EvalItem(q, fact, ["handbook.pdf"]) for (q, _, _), (_, fact, _) in facts]
    save_set(items[:2], tmp_path / "set.jsonl")
    command = ["run", "--set", str(tmp_path / "set.jsonl"), "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(eval_cli, command)
    assert result.exit_code == 0, result.output
    assert reranked[2:] == [item.question for item in items[:2]], "eval run"

    rows = [{"question": q, "pages": [page]} for q, page, _ in HANDBOOK_FACTS[:2]]
    (tmp_path / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    result = CliRunner().invoke(eval_cli, ["questions", str(tmp_path / "questions.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    assert reranked[4:] == [row["question"] for row in rows], "eval questions"

    command = ["data", "--qa", str(tmp_path / "set.jsonl"), "--out", str(tmp_path / "ft"), "--held-out-share", "0"]
    result = CliRunner().invoke(finetune_cli, command)
    assert result.exit_code == 0, result.output
    assert set(reranked[6:]) == {item.question for item in items[:2]}, "finetune data"


def test_parts_are_built_once_and_only_when_asked_for(handbook_settings: Settings) -> None:
    parts = Components(handbook_settings)
    assert parts.retriever is parts.retriever and parts.retriever.store is parts.store
    assert "generator" not in parts.__dict__  # retrieval never loaded the generator
    assert parts.reranker is None  # RAG_RERANKER_MODEL unset


def test_parts_handed_in_are_the_ones_used(data_settings: Settings) -> None:
    embedder, generator = FakeEmbedder(), FakeGenerator()
    parts = Components(data_settings, embedder=embedder, generator=generator)
    assert parts.embedder is embedder and parts.generator is generator
    assert parts.retriever.embedder is embedder and parts.decider.head is None and parts.decider.generator is None
    assert parts.grounder("It costs 40 euros.", ["It costs 40 euros."])[0] == 1.0


def test_reopening_the_store_rebuilds_the_retriever_and_keeps_the_rest(data_settings: Settings) -> None:
    parts = Components(data_settings, embedder=FakeEmbedder())
    store, retriever, keywords = parts.store, parts.retriever, parts.keywords
    parts.reopen_store()
    assert parts.store is not store and parts.retriever is not retriever
    assert parts.retriever.store is parts.store and parts.keywords is keywords
