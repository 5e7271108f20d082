"""The embedder path end to end on a tiny set: pairs, training, a store re-embedded with the result."""

import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from finetune.embedder import (
    EmbedderTrainConfig,
    add_hard_negatives,
    pairs_from_beir,
    pairs_from_beir_corpus,
    pairs_from_jsonl,
    pairs_from_store,
    train_embedder,
)
from ingest.chunk import Chunker
from ingest.index import Indexer
from ingest.reembed import reembed
from rag.embedder import SentenceTransformerEmbedder
from rag.keyword import KeywordIndex
from rag.retrieve import Retriever
from rag.settings import Settings
from rag.store import ChromaStore, StoreMismatchError, chroma_client, open_store, staging_name
from tests.eval.test_retrieval import QUERIES, write_beir
from tests.helpers import HANDBOOK_FACTS

QUERY_Q1 = QUERIES["q1"]


def test_pairs_files_are_checked_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"query": "q", "passage": "p"}\n\n{"query": "q2"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"pairs\.jsonl:3: expected"):
        pairs_from_jsonl(path)
    path.write_text('{"query": "q", "passage": "p"}\n', encoding="utf-8")
    assert pairs_from_jsonl(path) == [("q", "p")]


def test_beir_pairs_come_from_the_judged_documents_and_never_the_test_split(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "beir")
    with pytest.raises(ValueError, match="test split"):
        pairs_from_beir(folder, "test")
    (folder / "qrels" / "train.tsv").write_text("q\tc\ts\nq1\td1\t1\nq2\td2\t0\n", encoding="utf-8")
    assert pairs_from_beir(folder, "train") == [
        (
            "When does the cafeteria close?",
            "Cafeteria hours\nThe staff cafeteria opens at 7:30 and closes at 15:00 on weekdays.",
        )
    ]


def test_beir_pairs_add_the_chunk_a_query_should_find(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    folder = write_beir(tmp_path / "beir")
    filler = " ".join(f"Sentence {n} is about office plants and the weekly watering plan." for n in range(12))
    long_text = filler + " The staff cafeteria closes at 15:00 on weekdays. " + filler
    corpus = [json.dumps({"_id": "long", "title": "Office life", "text": long_text})]
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(corpus) + "\n")
    (folder / "qrels" / "train.tsv").write_text("q\tc\ts\nq1\tlong\t1\n", encoding="utf-8")
    pairs = pairs_from_beir(folder, "train", Chunker(embedder.tokenizer(), 48, 8), embedder)
    assert [q for q, _ in pairs] == [QUERY_Q1, QUERY_Q1]
    assert pairs[0][1].startswith("Office life\n") and len(pairs[1][1]) < len(pairs[0][1])
    assert pairs[1][1].startswith("Office life\n") and "closes at 15:00" in pairs[1][1]


def test_cloze_pairs_from_a_beir_corpus_use_its_documents(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "beir")
    sentences = [f"Sentence number {n} describes one more finding of the study." for n in range(4)]
    records = [{"_id": "long", "title": "A study", "text": " ".join(sentences)}, {"_id": "short", "text": "Too short."}]
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(r) for r in records) + "\n")
    (folder / "qrels" / "train.tsv").write_text("q\tc\ts\nq1\tlong\t1\n", encoding="utf-8")
    [(query, passage)] = pairs_from_beir_corpus(folder, "train", limit=5, seed=0)
    assert query in sentences and query not in passage
    assert passage == "A study\n" + " ".join(s for s in sentences if s != query)


def test_hard_negatives_are_close_passages_nobody_judged_relevant(embedder: SentenceTransformerEmbedder) -> None:
    cafeteria = "The staff cafeteria opens at 7:30 and closes at 15:00 on weekdays."
    corpus = [
        cafeteria,
        "The cafeteria closes early on public holidays; the kiosk stays open.",
        "The cafeteria menu changes every Monday and lists vegetarian dishes.",
        "Cafeteria staff wear hair nets in the kitchen.",
        "Lunch vouchers can be used in the cafeteria and the kiosk.",
        "Parking permits are issued by the facilities desk on the ground floor.",
        "Laptops are replaced every four years by the IT department.",
        "Travel expenses must be filed within thirty days of the trip.",
        "The library lends books for up to three weeks.",
    ]
    pairs = [("When does the cafeteria close?", cafeteria), ("Who issues parking permits?", corpus[5])]
    rows = add_hard_negatives(embedder.model, pairs, corpus, count=1).to_list()
    assert [r["anchor"] for r in rows] == [q for q, _ in pairs]  # one triplet per pair
    for row, (_, positive) in zip(rows, pairs, strict=True):
        assert row["negative"] in corpus and row["negative"] != positive
    cafeteria_negative = rows[0]["negative"]
    # the 3 closest other passages are skipped as possible unjudged positives; what follows is still on topic
    assert "afeteria" in cafeteria_negative or "kiosk" in cafeteria_negative
    with pytest.raises(ValueError, match="hard_negatives"):
        EmbedderTrainConfig(hard_negatives=-1)


def test_inverse_cloze_pairs_from_the_store(handbook_settings: Settings) -> None:
    store = open_store(handbook_settings)
    pairs = pairs_from_store(store, limit=50, seed=0)
    texts = store.chunks.get(include=["documents"])["documents"]
    assert pairs
    for query, passage in pairs:  # a sentence of a chunk, and the rest of that chunk (PDF chunks: no heading)
        rest = Counter(passage.split())
        assert len(query.split()) >= 5
        assert any(Counter(text.split()) - Counter(query.split()) == rest for text in texts if query in text)


def test_a_fine_tuned_embedder_replaces_the_stores_vectors(
    tmp_path: Path, settings: Settings, handbook_pdf: Path, embedder: SentenceTransformerEmbedder
) -> None:
    facts = [q for q, _, _ in HANDBOOK_FACTS]
    pairs = [(q, f"Handbook\n{q} See the handbook.") for q in facts] * 2
    out = tmp_path / "tuned"
    summary = train_embedder(settings, pairs, out, EmbedderTrainConfig(epochs=1, batch_size=4, learning_rate=1e-4))
    assert summary["steps"] >= 2 and json.loads((out / "finetune.json").read_text())["pairs"] == 10
    tuned = SentenceTransformerEmbedder(str(out), name=str(out))
    assert not np.allclose(tuned.embed(facts[:1]), embedder.embed(facts[:1]), atol=1e-4)

    keywords = KeywordIndex(settings.keyword_dir)
    store = open_store(settings)
    Indexer(store, embedder, settings.chunk_size, settings.chunk_overlap, keywords).ingest(handbook_pdf, "handbook.pdf")
    with pytest.raises(StoreMismatchError, match="python -m ingest reembed"):
        open_store(settings).bind(tuned.name, tuned.dimension)  # never mixed

    report = reembed(chroma_client(settings), settings.collection, tuned, settings.chunk_size)
    assert report["to"] == str(out) and report["documents"] == 1
    store = open_store(settings, fresh=True)
    store.bind(tuned.name, tuned.dimension)  # now accepted
    records = store.chunks.get(include=["documents", "metadatas", "embeddings"])
    document = store.documents()[0]
    texts = [c.search_text for c in store.document_chunks(document)]
    by_index = {m["index"]: v for m, v in zip(records["metadatas"], records["embeddings"], strict=True)}
    assert np.allclose(np.stack([by_index[i] for i in range(len(texts))]), tuned.embed(texts), atol=1e-5)
    hits = Retriever(store, tuned, keywords).retrieve(HANDBOOK_FACTS[1][0], 3)
    assert hits[0].chunk.page == 3


def test_the_cached_loss_learns_what_the_plain_loss_learns(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    # GradCache computes the plain loss's gradient in mini-batches: the same seeded run must see the same losses
    # (not bit for bit: Adam's first steps turn float noise into visible weight differences).
    pairs = [(q, f"The answer is {answer}.") for q, _, answer in HANDBOOK_FACTS][:4] * 2
    losses = []
    for mini in (0, 2):
        config = EmbedderTrainConfig(epochs=1, batch_size=4, learning_rate=1e-4, mini_batch_size=mini)
        summary = train_embedder(settings, pairs, tmp_path / str(mini), config)
        assert summary["mini_batch_size"] == mini and summary["steps"] == 2
        losses.append(summary["train_loss"])
    assert losses[0] > 0.1 and abs(losses[0] - losses[1]) < 0.02 * losses[0]
    small = train_embedder(settings, pairs[:3], tmp_path / "small", EmbedderTrainConfig(epochs=1))
    assert small["batch_size"] == 3 and small["steps"] == 1  # fewer pairs than the default 128: one batch
    with pytest.raises(ValueError, match="at least 2 pairs"):
        train_embedder(settings, pairs[:1], tmp_path / "one", EmbedderTrainConfig(epochs=1))
    with pytest.raises(ValueError, match="mini_batch_size"):
        EmbedderTrainConfig(mini_batch_size=-1)


def test_a_swap_cut_short_is_finished_on_the_next_open(
    settings: Settings, handbook_pdf: Path, embedder: SentenceTransformerEmbedder
) -> None:
    store = open_store(settings)
    Indexer(store, embedder, settings.chunk_size, settings.chunk_overlap).ingest(handbook_pdf, "handbook.pdf")
    client = chroma_client(settings)
    staging = ChromaStore(client, staging_name(settings.collection))
    document = store.documents()[0]
    chunks = store.document_chunks(document)
    staging.put_documents([(document, chunks, embedder.embed([c.search_text for c in chunks]))])
    staging.chunks.modify(metadata={"embedder": "other", "dimension": embedder.dimension})
    assert open_store(settings).documents() == [document]  # staging incomplete: the live store is kept
    staging.docs.modify(metadata={"generation": "g", "complete": True})
    client.delete_collection(f"{settings.collection}-chunks")  # the crash: old store half removed
    reopened = open_store(settings)
    assert reopened.documents() == [document] and reopened.chunks.count() == len(chunks)
    assert reopened.chunks.metadata["embedder"] == "other"
    assert not [c for c in client.list_collections() if c.name.startswith(staging_name(settings.collection))]
