"""Look-alike annual reports (the same statement of two companies and two years) in one real store, with the
real embedder: a question about one cell finds that row, with its labels, in the report it names."""

import pytest

from rag.components import Components
from rag.embedder import SentenceTransformerEmbedder
from rag.retrieve import Retriever
from rag.settings import Settings
from rag.store import open_store

CAPEX_ROW = "Purchases of property, plant and equipment (PP&E) | 2018: (1,577) | 2017: (1,373) | 2016: (1,420)"
QUESTION = "What were Acme's purchases of property, plant and equipment in FY2018?"


def test_documents_are_described_and_chunks_carry_their_context(reports_settings: Settings) -> None:
    store = open_store(reports_settings)
    acme = store.document("acme-2018.pdf")
    assert acme is not None
    assert (acme.organisation, acme.doc_type, acme.period) == ("ACME CORPORATION", "10-K annual report", "2018")
    chunks = store.document_chunks(acme)
    assert all(c.context == "ACME CORPORATION | 10-K annual report | 2018" for c in chunks)
    table = next(c for c in chunks if CAPEX_ROW in c.text)
    assert table.text.startswith("Acme Corporation Consolidated Statement of Cash Flows")  # the title, repeated
    assert table.search_text.startswith("ACME CORPORATION | 10-K annual report | 2018\n")


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_a_question_about_one_cell_finds_that_row_in_the_report_it_names(
    mode: str, reports_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    settings = reports_settings.model_copy(update={"retrieval_mode": mode})
    retriever = Retriever.from_settings(settings, open_store(settings), embedder)
    scope = retriever.scope(QUESTION)
    assert scope.sources == ["acme-2018.pdf"] and scope.names == ["ACME CORPORATION", "2018"]
    hits = retriever.retrieve(QUESTION, 3, scope.sources)
    assert hits and all(hit.chunk.source == "acme-2018.pdf" for hit in hits)
    assert CAPEX_ROW in hits[0].chunk.text, [h.chunk.text for h in hits]


@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_a_sources_filter_applies_inside_each_search(
    mode: str, reports_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    settings = reports_settings.model_copy(update={"retrieval_mode": mode})
    retriever = Retriever.from_settings(settings, open_store(settings), embedder)
    hits = retriever.retrieve(QUESTION, 5, ["globex-2018.pdf"])
    assert hits and {hit.chunk.source for hit in hits} == {"globex-2018.pdf"}
    assert "2018: (4,731)" in hits[0].chunk.text  # Globex's capital expenditure: three times Acme's
    assert retriever.retrieve(QUESTION, 5, []) == []


def test_the_answer_says_what_the_search_was_limited_to(reports_settings: Settings) -> None:
    pipeline = Components(reports_settings).pipeline()
    answer = pipeline.answer(QUESTION)
    assert answer.scope == ["ACME CORPORATION", "2018"]
    assert {s.source for s in answer.sources} == {"acme-2018.pdf"}
    chosen = pipeline.answer(QUESTION, sources=["globex-2018.pdf"])
    assert {s.source for s in chosen.sources} == {"globex-2018.pdf"}
    assert chosen.scope == ["the documents chosen"]
