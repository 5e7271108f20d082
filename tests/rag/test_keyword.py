"""The BM25 index stays in step with the store: after ingest, re-ingest, delete, crashes and other processes."""

import json
import shutil
from pathlib import Path

import numpy as np

from ingest.index import Indexer
from rag.embedder import Embedder
from rag.keyword import POINTER, KeywordIndex
from rag.settings import Settings
from rag.store import Store, open_store
from rag.types import Chunk, Document
from tests.fakes import embedder, settings  # noqa: F401  (fixtures: the fake embedder, a bare data folder)


def keyword_index(settings: Settings) -> KeywordIndex:
    return KeywordIndex(settings.keyword_dir, settings.bm25_k1, settings.bm25_b)


def indexer(settings: Settings, embedder: Embedder, keywords: KeywordIndex | None) -> Indexer:
    return Indexer(open_store(settings), embedder, settings.chunk_size, settings.chunk_overlap, keywords)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def sources_found(keywords: KeywordIndex, store: Store, query: str) -> set[str]:
    ids = [id_ for id_, _ in keywords.search(query, 10)]
    return {chunk.source for chunk, _ in store.chunks_by_id(ids).values()}


def test_index_follows_ingest_reingest_and_delete(tmp_path: Path, settings: Settings, embedder: Embedder) -> None:
    keywords = keyword_index(settings)
    docs = indexer(settings, embedder, keywords)
    store = docs.store
    a = write(tmp_path, "a.md", "# Boats\n\nThe rowing club keeps its kayaks in the boathouse.")
    b = write(tmp_path, "b.md", "# Bees\n\nThe beekeepers harvest honey every August.")
    list(docs.ingest_files([(a, "a.md"), (b, "b.md")]))
    committed, _ = store.committed_chunk_texts()
    assert sorted(keywords.ids) == sorted(committed)
    assert sources_found(keywords, store, "kayaks") == {"a.md"}
    assert sources_found(keywords, store, "honey") == {"b.md"}

    write(tmp_path, "a.md", "# Boats\n\nThe sailing club keeps its dinghies on the jetty.")
    list(docs.ingest_files([(a, "a.md")]))
    assert sources_found(keywords, store, "kayaks") == set()  # the old version is gone from the index
    assert sources_found(keywords, store, "dinghies") == {"a.md"}

    assert docs.delete("b.md")
    assert sources_found(keywords, store, "honey") == set()
    assert sorted(keywords.ids) == sorted(store.committed_chunk_texts()[0])

    reopened = keyword_index(settings)  # as in a restarted process: loaded from disk, same content
    assert reopened.fingerprint == keywords.fingerprint
    assert reopened.ids == keywords.ids
    assert reopened.search("dinghies", 5) == keywords.search("dinghies", 5)


def test_heading_path_is_searchable_but_not_shown(tmp_path: Path, settings: Settings, embedder: Embedder) -> None:
    keywords = keyword_index(settings)
    docs = indexer(settings, embedder, keywords)
    path = write(tmp_path, "g.md", "# Volcanoes\n\n## Safety\n\nKeep a distance of two kilometres.\n")
    list(docs.ingest_files([(path, "g.md")]))
    ids = [id_ for id_, _ in keywords.search("volcanoes distance", 5)]
    chunks = [chunk for chunk, _ in docs.store.chunks_by_id(ids).values()]
    safety = next(c for c in chunks if "kilometres" in c.text)
    assert safety.heading == "Volcanoes > Safety"
    assert "Volcanoes" not in safety.text  # shown text: the section alone
    assert safety.search_text.startswith("Volcanoes > Safety\n")


def test_rebuilt_after_a_crash_between_store_and_index(tmp_path: Path, settings: Settings, embedder: Embedder) -> None:
    """Documents written while the index was not updated (a crash, an old version, a removed folder)."""
    keywords = keyword_index(settings)
    docs = indexer(settings, embedder, keywords)
    list(docs.ingest_files([(write(tmp_path, "a.md", "Otters eat crabs."), "a.md")]))
    crashed = indexer(settings, embedder, keywords=None)  # writes the store, never the index
    list(crashed.ingest_files([(write(tmp_path, "b.md", "Herons eat frogs."), "b.md")]))

    restarted = keyword_index(settings)
    assert restarted.sync(open_store(settings)) is True
    assert sources_found(restarted, docs.store, "frogs") == {"b.md"}

    shutil.rmtree(settings.keyword_dir)
    again = keyword_index(settings)
    assert again.sync(open_store(settings)) is True
    assert sources_found(again, docs.store, "otters") == {"a.md"}

    (settings.keyword_dir / POINTER).write_text("{not json", encoding="utf-8")
    assert keyword_index(settings).sync(open_store(settings)) is True


def test_uncommitted_chunks_never_enter_the_index(tmp_path: Path, settings: Settings, embedder: Embedder) -> None:
    """A crash after writing chunks but before the catalog record leaves chunks no search may return."""
    docs = indexer(settings, embedder, keyword_index(settings))
    list(docs.ingest_files([(write(tmp_path, "a.md", "Owls hunt mice at night."), "a.md")]))
    orphan = Chunk("Walruses sleep on ice floes.", "z.md", 0)
    docs.store.chunks.upsert(
        ids=["orphan-0"],
        embeddings=embedder.embed([orphan.text]),
        documents=[orphan.text],
        metadatas=[{"source": "z.md", "index": 0, "sha256": "f" * 64}],
    )
    shutil.rmtree(settings.keyword_dir)
    fresh = keyword_index(settings)
    fresh.sync(docs.store)
    assert "orphan-0" not in fresh.ids
    assert fresh.search("walruses", 5) == []


def test_another_process_change_is_picked_up(tmp_path: Path, settings: Settings, embedder: Embedder) -> None:
    reader_store = open_store(settings)
    reader = keyword_index(settings)
    assert reader.sync(reader_store) is True  # empty store: an empty index
    assert reader.search("anything", 5) == []
    writer = indexer(settings, embedder, keyword_index(settings))
    list(writer.ingest_files([(write(tmp_path, "c.md", "Camels store fat in their humps."), "c.md")]))
    reader.sync(reader_store)  # the writer already saved the new index: loaded, not rebuilt
    assert sources_found(reader, writer.store, "humps") == {"c.md"}
    assert reader.sync(reader_store) is False  # nothing changed since


def test_pointer_names_the_parameters_and_only_one_build_is_kept(settings: Settings) -> None:
    store = open_store(settings)
    store.bind("test", 3)
    chunk = Chunk("Lighthouses guide ships.", "l.md", 0)
    store.put_documents([(Document("l.md", "1" * 64, None, 1, 10, "now"), [chunk], np.ones((1, 3), np.float32))])
    first = KeywordIndex(settings.keyword_dir, k1=1.2, b=0.5)
    first.sync(store)
    pointer = json.loads((settings.keyword_dir / POINTER).read_text())
    assert (pointer["k1"], pointer["b"]) == (1.2, 0.5)
    other = KeywordIndex(settings.keyword_dir, k1=0.9, b=0.4)  # other parameters: not reused
    assert other.sync(store) is True
    assert len(list(settings.keyword_dir.glob("index-*"))) == 1


def test_fiscal_years_match_the_years_tables_print(settings: Settings) -> None:
    """ "FY2018" and "FY18" in a question find "2018" in a table row; an index built with older tokens is rebuilt."""
    store = open_store(settings)
    store.bind("test", 3)
    rows = ["Purchases of equipment | 2018: (1,577) | 2017: (1,373)", "Purchases of equipment | 2016: (1,420)"]
    chunks = [Chunk(text, "r.pdf", i) for i, text in enumerate(rows)]
    document = Document("r.pdf", "1" * 64, None, 2, 10, "now")
    store.put_documents([(document, chunks, np.ones((2, 3), np.float32))])
    index = KeywordIndex(settings.keyword_dir)
    index.sync(store)
    for question in ("Purchases of equipment in FY2018?", "Purchases of equipment in FY18?"):
        (best, _), *_ = index.search(question, 2)
        assert best.endswith("-000000"), question
    pointer_path = settings.keyword_dir / POINTER
    pointer = json.loads(pointer_path.read_text())
    pointer_path.write_text(json.dumps(pointer | {"tokenizer": 1}))
    assert KeywordIndex(settings.keyword_dir).sync(store) is True
