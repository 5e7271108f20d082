import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.embedder import SentenceTransformerEmbedder
from rag.retrieve import Retriever
from rag.settings import Settings
from rag.store import Store, StoreMismatchError, chroma_client, chunk_id, open_store
from rag.types import Chunk, Document
from tests.fakes import FakeEmbedder
from tests.helpers import make_settings

REPO = Path(__file__).resolve().parents[2]


def put(store: Store, embedder: SentenceTransformerEmbedder, source: str, texts: list[str], sha: str) -> None:
    chunks = [Chunk(text, source, i, page=i + 1) for i, text in enumerate(texts)]
    document = Document(source, sha, len(texts), len(texts), 100, "2026-01-01T00:00:00+00:00")
    store.put_documents([(document, chunks, embedder.embed(texts))])


def search(store: Store, embedder: SentenceTransformerEmbedder, query: str, k: int = 5) -> list[str]:
    return [h.chunk.text for h in store.search(embedder.embed_query(query), k)]


def test_put_search_replace_delete(settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
    store = open_store(settings)
    store.bind(embedder.name, embedder.dimension)
    assert store.is_empty() and store.search(embedder.embed_query("anything"), 3) == []
    put(store, embedder, "zoo.pdf", ["Lions sleep twenty hours a day.", "Penguins cannot fly."], "a" * 64)
    put(store, embedder, "cars.pdf", ["Diesel engines use compression ignition."], "b" * 64)

    hits = store.search(embedder.embed_query("How long do lions sleep?"), 2)
    assert hits[0].chunk == Chunk("Lions sleep twenty hours a day.", "zoo.pdf", 0, page=1)
    assert 0.5 < hits[0].score <= 1.0 and hits[0].score > hits[1].score
    elsewhere = store.search(embedder.embed_query("How long do lions sleep?"), 2, exclude_sources=["zoo.pdf"])
    assert [h.chunk.source for h in elsewhere] == ["cars.pdf"]
    assert [(d.source, d.chunks, d.pages) for d in store.documents()] == [("cars.pdf", 1, 1), ("zoo.pdf", 2, 2)]

    put(store, embedder, "zoo.pdf", ["Giraffes have long necks."], "c" * 64)
    assert store.chunks.count() == 2  # the two old zoo chunks are gone
    assert search(store, embedder, "lions", 5) == [
        "Giraffes have long necks.",
        "Diesel engines use compression ignition.",
    ]

    assert store.delete_document("zoo.pdf") is True
    assert store.delete_document("zoo.pdf") is False
    assert [d.source for d in store.documents()] == ["cars.pdf"]
    assert store.chunks.count() == 1


def test_uncommitted_chunks_of_an_interrupted_write_stay_invisible(
    settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    store = open_store(settings)
    put(store, embedder, "menu.pdf", ["Soup of the day is tomato."], "1" * 64)
    # A crash after the new version's chunks were written but before the catalog record (the commit):
    new_text = "Soup of the day is pumpkin."
    store.chunks.upsert(
        ids=[chunk_id("menu.pdf", "2" * 64, 0)],
        embeddings=embedder.embed([new_text]),
        documents=[new_text],
        metadatas=[{"source": "menu.pdf", "index": 0, "sha256": "2" * 64}],
    )
    assert search(store, embedder, "soup of the day") == ["Soup of the day is tomato."]
    put(store, embedder, "menu.pdf", [new_text], "2" * 64)  # the retry commits it and removes the old one
    assert search(store, embedder, "soup of the day") == [new_text]
    assert store.chunks.count() == 1


def test_a_store_refuses_vectors_from_another_embedder(data_settings: Settings) -> None:
    store = open_store(data_settings)
    store.bind("bundled", 384)
    open_store(data_settings).bind("bundled", 384)  # same embedder: fine
    with pytest.raises(StoreMismatchError, match="RAG_EMBEDDING_MODEL"):
        open_store(data_settings).bind("intfloat/e5-small-v2", 384)


def test_telemetry_is_off(data_settings: Settings) -> None:
    assert chroma_client(data_settings).get_settings().anonymized_telemetry is False


def test_chroma_default_onnx_model_is_never_downloaded(tmp_path: Path, settings: Settings) -> None:
    """Ingest and retrieve in a process whose home is empty: Chroma's ONNX cache must not appear there."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "doc.md").write_text("# Keys\n\nSpare keys are kept in the red box at reception.\n")
    script = (
        "from pathlib import Path\n"
        "from ingest.index import Indexer\n"
        "from rag.retrieve import Retriever\n"
        "from rag.settings import Settings\n"
        "s = Settings()\n"
        "indexer = Indexer.from_settings(s)\n"
        f"indexer.ingest(Path({str(tmp_path / 'doc.md')!r}), 'doc.md')\n"
        "hits = Retriever.from_settings(s, indexer.store, indexer.embedder).retrieve('Where are spare keys?', 3)\n"
        "assert hits and 'red box' in hits[0].chunk.text, hits\n"
    )
    env = os.environ | {
        "HOME": str(home),
        "RAG_DATA_DIR": str(settings.data_dir),
        "RAG_MODELS_DIR": str(settings.models_path),
    }
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not (home / ".cache" / "chroma").exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """A real Chroma server process (the `chroma` CLI shipped with chromadb) on a free local port."""
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_same_code_against_a_chroma_server(
    tmp_path: Path, models_dir: Path, chroma_server: str, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings(tmp_path / "local", models_dir, chroma_url=chroma_server)
    store = open_store(settings)
    store.bind(embedder.name, embedder.dimension)
    put(store, embedder, "zoo.pdf", ["Lions sleep twenty hours a day.", "Penguins cannot fly."], "a" * 64)
    assert search(store, embedder, "Which bird cannot fly?", 1) == ["Penguins cannot fly."]
    assert [d.source for d in open_store(settings).documents()] == ["zoo.pdf"]
    hybrid = Retriever.from_settings(settings, store, embedder)  # its BM25 index is built from the server's chunks
    assert hybrid.retrieve("twenty hours", 1)[0].chunk.text == "Lions sleep twenty hours a day."
    assert not settings.chroma_dir.exists()  # no vectors were written locally
    assert store.delete_document("zoo.pdf") and store.chunks.count() == 0
    assert open_store(settings).is_empty()
    assert hybrid.retrieve("twenty hours", 1) == []


def test_a_complete_reembedded_copy_replaces_the_live_store_and_an_incomplete_one_does_not(
    data_settings: Settings,
) -> None:
    from rag.store import ChromaStore, finish_swap, staging_name

    client = chroma_client(data_settings)
    embedder = FakeEmbedder()
    live = ChromaStore(client, "kb")
    put(live, embedder, "old.pdf", ["Old vectors."], "a" * 64)  # type: ignore[arg-type]
    staged = ChromaStore(client, staging_name("kb"))
    put(staged, embedder, "new.pdf", ["New vectors."], "b" * 64)  # type: ignore[arg-type]
    finish_swap(client, "kb")  # not marked complete: the live store stays
    assert [d.source for d in ChromaStore(client, "kb").documents()] == ["old.pdf"]
    staged.docs.modify(metadata={"complete": True})
    finish_swap(client, "kb")
    assert [d.source for d in ChromaStore(client, "kb").documents()] == ["new.pdf"]
    assert staging_name("kb") + "-docs" not in {c.name for c in client.list_collections()}
