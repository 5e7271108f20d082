import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.index import Indexer
from rag.components import Components
from rag.embedder import SentenceTransformerEmbedder
from rag.generator import Messages, TokenStream, TransformersGenerator
from rag.pipeline import RagPipeline
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.store import open_store
from rag.types import Answer
from tests.helpers import OUT_OF_CORPUS

REPO = Path(__file__).resolve().parents[2]


class CountingGenerator:
    """The real generator, with a count of how often it was asked to generate."""

    def __init__(self, real: TransformersGenerator) -> None:
        self.real = real
        self.name = real.name
        self.context_window = real.context_window
        self.calls = 0

    def count_tokens(self, messages: Messages) -> int:
        return self.real.count_tokens(messages)

    def stream(self, messages: Messages, **kwargs: Any) -> TokenStream:
        self.calls += 1
        return self.real.stream(messages, **kwargs)


@pytest.fixture
def pipeline(
    handbook_settings: Settings, embedder: SentenceTransformerEmbedder, generator: TransformersGenerator
) -> RagPipeline:
    counting = CountingGenerator(generator)
    return RagPipeline(Components(handbook_settings, embedder=embedder, generator=counting))  # type: ignore[arg-type]


def test_the_bundled_model_answers_an_easy_question_from_its_context(pipeline: RagPipeline) -> None:
    answer = pipeline.answer("How much does a monthly parking permit cost?")
    pieces = list(answer.stream())
    assert len(pieces) > 1  # streamed
    assert "40" in answer.text
    assert not answer.abstained
    assert answer.sources[0].source == "handbook.pdf" and answer.sources[0].page == 3
    assert "40 euros" in answer.sources[0].text
    assert answer.first_token_s is not None and answer.new_tokens > 0


def test_passages_far_below_the_best_are_not_given_to_the_model(pipeline: RagPipeline) -> None:
    margin = pipeline.settings.relevance_margin
    retrieved = pipeline.retriever.retrieve("When does the staff cafeteria close?", 5)
    assert retrieved[-1].score < retrieved[0].score - margin  # the handbook has off-topic pages too
    answer = pipeline.answer("When does the staff cafeteria close?", max_new_tokens=4)
    assert answer.sources and all(source.score >= retrieved[0].score - margin for source in answer.sources)
    assert len(answer.sources) < len(retrieved)


def test_out_of_corpus_questions_abstain_without_calling_the_model(pipeline: RagPipeline) -> None:
    for question in OUT_OF_CORPUS:
        result = pipeline.answer(question).result()
        assert len(result.pop("id")) == 16
        assert result == {"answer": ABSTAIN_ANSWER, "abstained": True, "refused": False, "sources": [],
                          "mode": "generated", "guard": [], "citations": []}  # fmt: skip
    assert pipeline.generator.calls == 0  # type: ignore[attr-defined]


def test_sources_are_exactly_the_passages_that_fit_the_prompt(
    handbook_settings: Settings, embedder: SentenceTransformerEmbedder, generator: TransformersGenerator
) -> None:
    update = {"context_tokens": 600, "max_new_tokens": 200, "relevance_threshold": -1.0}
    tight = handbook_settings.model_copy(update=update)
    pipeline = RagPipeline(Components(tight, embedder=embedder, generator=generator))
    answer = pipeline.answer("When does the staff cafeteria close?", top_k=8, max_new_tokens=8)
    result = answer.result()
    assert 1 <= len(result["sources"]) < 8  # 8 passages were retrieved; fewer fit in 400 prompt tokens
    assert [set(s) for s in result["sources"]] == [{"source", "page", "score", "text"}] * len(result["sources"])


def test_an_answer_that_abstains_on_its_own_is_flagged() -> None:
    def pieces() -> Iterator[str]:
        yield from ["I don't know ", "based on the provided documents", ". But maybe it is blue."]

    result = Answer("q", [], pieces(), abstained=False, started=0.0).result()
    assert (result["abstained"], result["answer"]) == (True, ABSTAIN_ANSWER)
    assert Answer("q", [], iter(["It costs 40 euros."]), abstained=False, started=0.0).result()["abstained"] is False


def test_documents_ingested_by_another_process_are_answered_without_a_restart(
    tmp_path: Path,
    settings: Settings,
    embedder: SentenceTransformerEmbedder,
    generator: TransformersGenerator,
    handbook_pdf: Path,
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Plants\n\nWater the office plants every Friday afternoon.\n")
    Indexer(open_store(settings), embedder, settings.chunk_size, settings.chunk_overlap).ingest(notes, "notes.md")
    pipeline = RagPipeline(Components(settings, embedder=embedder, generator=generator))
    assert pipeline.answer("How much does a monthly parking permit cost?").result()["abstained"] is True

    env = os.environ | {"RAG_DATA_DIR": str(settings.data_dir), "RAG_MODELS_DIR": str(settings.models_path)}
    command = [sys.executable, "-m", "ingest", "add", str(handbook_pdf)]
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, timeout=300)

    result = pipeline.answer("How much does a monthly parking permit cost?", max_new_tokens=16).result()
    assert result["sources"][0]["source"] == "handbook.pdf" and result["sources"][0]["page"] == 3


def test_a_follow_up_is_answered_with_what_the_first_question_was_about(pipeline: RagPipeline) -> None:
    first = pipeline.answer("How much does a monthly parking permit cost?", max_new_tokens=32)
    first.result()
    follow_up = "Where is it sold?"

    alone = pipeline.answer(follow_up, max_new_tokens=32)
    assert alone.query == follow_up
    result = alone.result()
    assert result["abstained"] or result["sources"][0]["page"] != 3  # "it" means nothing without the first turn

    answer = pipeline.answer(follow_up, history=[first.turn()], max_new_tokens=32)
    assert answer.query == f"How much does a monthly parking permit cost? {follow_up}"
    in_chat = answer.result()
    assert not in_chat["abstained"]
    assert in_chat["sources"][0]["page"] == 3
    assert "front desk" in in_chat["answer"].lower(), in_chat["answer"]
