"""IR benchmark on a BEIR-format folder, through the product's own ingestion and retrieval code.

Each corpus record becomes a document (source = its id, title as the heading path, abstract as the text), goes
through chunking, embedding, the store and the keyword index like any uploaded file, and each query through
`Retriever`. Chunks are turned into a document ranking by each document's best chunk. Metrics come from
pytrec_eval (the evaluation code BEIR itself uses).
"""

import gzip
import hashlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytrec_eval

from ingest.index import Indexer
from ingest.loaders import LoadedFile, LoadError, Section
from rag.components import Components
from rag.embedder import Embedder, SentenceTransformerEmbedder
from rag.keyword import KeywordIndex
from rag.retrieve import Retriever
from rag.settings import RetrievalMode, Settings
from rag.store import Store, open_store

DOC_DEPTH = 100  # documents ranked per query (recall@100)
CHUNKS_PER_DOC = 3  # chunks retrieved per wanted document, since a document can have several


@dataclass(frozen=True)
class BeirData:
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]  # only the queries that have judgements in the split
    qrels: dict[str, dict[str, int]]  # query id -> {document id: relevance}


def _jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load_beir(folder: Path, split: str = "test") -> BeirData:
    """Read corpus.jsonl[.gz], queries.jsonl and qrels/<split>.tsv; a missing file raises FileNotFoundError."""
    corpus_path = next((p for p in (folder / "corpus.jsonl", folder / "corpus.jsonl.gz") if p.is_file()), None)
    if corpus_path is None:
        raise FileNotFoundError(f"{folder} has no corpus.jsonl or corpus.jsonl.gz")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(qrels_path.read_text(encoding="utf-8").splitlines()):
        fields = line.split("\t")
        if number == 0 and not fields[-1].strip().lstrip("-").isdigit():
            continue  # the header line
        if len(fields) >= 3:
            qrels.setdefault(fields[0], {})[fields[1]] = int(fields[2])
    corpus = {str(r["_id"]): (r.get("title") or "", r.get("text") or "") for r in _jsonl(corpus_path)}
    queries = {str(r["_id"]): r["text"] for r in _jsonl(folder / "queries.jsonl") if str(r["_id"]) in qrels}
    return BeirData(corpus, queries, {q: qrels[q] for q in queries})


def loaded_record(title: str, text: str) -> LoadedFile:
    """A corpus record as a loaded file: its title becomes the heading path of its one section."""
    return LoadedFile([Section(text.strip(), heading=title.strip() or None)], pages=None)


def index_corpus(indexer: Indexer, corpus: dict[str, tuple[str, str]], progress: bool = False) -> int:
    """Ingest every record with text; returns how many were skipped as empty."""
    items = []
    for doc_id, (title, text) in corpus.items():
        if text.strip() or title.strip():
            content = f"{title}\n{text}".encode()
            body = text if text.strip() else title
            items.append((loaded_record(title, body), doc_id, hashlib.sha256(content).hexdigest(), len(content)))
    for done, (_, outcome) in enumerate(indexer.ingest_loaded(items), start=1):
        if isinstance(outcome, LoadError):
            raise outcome
        if progress and done % 500 == 0:
            print(f"indexed {done}/{len(items)} documents", file=sys.stderr, flush=True)
    return len(corpus) - len(items)


def document_ranking(retriever: Retriever, query: str, depth: int) -> dict[str, float]:
    """Documents by their best chunk, as {id: score} with strictly decreasing scores (pytrec_eval sorts by it)."""
    ranking: dict[str, float] = {}
    for hit in retriever.retrieve(query, depth * CHUNKS_PER_DOC):
        if hit.chunk.source not in ranking and len(ranking) < depth:
            ranking[hit.chunk.source] = 1.0 / (len(ranking) + 1)
    return ranking


def ir_metrics(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean nDCG@10, recall@10, recall@100 and MRR@10 over the judged queries (pytrec_eval)."""
    measures = {"ndcg_cut.10", "recall.10", "recall.100"}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    top10 = {q: dict(sorted(docs.items(), key=lambda kv: -kv[1])[:10]) for q, docs in run.items()}
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(qrels), 4) if qrels else 0.0  # queries with no results count as 0

    return {
        "ndcg@10": mean([m["ndcg_cut_10"] for m in per_query.values()]),
        "recall@10": mean([m["recall_10"] for m in per_query.values()]),
        "recall@100": mean([m["recall_100"] for m in per_query.values()]),
        "mrr@10": mean([m["recip_rank"] for m in mrr.values()]),
    }


def latency_ms(retriever: Retriever, queries: list[str], k: int) -> dict[str, float]:
    """Median and 95th percentile of one `retrieve` call as the app makes it (query embedding included)."""
    retriever.retrieve(queries[0], k)  # warm-up
    times = []
    for query in queries:
        started = time.perf_counter()
        retriever.retrieve(query, k)
        times.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(times, n=20, method="inclusive") if len(times) > 1 else times * 19
    return {"query_p50_ms": round(statistics.median(times), 2), "query_p95_ms": round(cuts[18], 2)}


def run_beir(
    settings: Settings, folder: Path, split: str, modes: list[RetrievalMode], progress: bool = False
) -> Iterator[dict]:
    """Index the corpus into the store of `settings` once, then evaluate each mode; one report per mode."""
    data = load_beir(folder, split)
    embedder = SentenceTransformerEmbedder.from_settings(settings)
    store = open_store(settings)
    keywords = KeywordIndex(settings.keyword_dir, settings.bm25_k1, settings.bm25_b)
    indexer = Indexer(store, embedder, settings.chunk_size, settings.chunk_overlap, keywords)
    started = time.perf_counter()
    skipped = index_corpus(indexer, data.corpus, progress)
    index_seconds = round(time.perf_counter() - started, 1)
    chunks = store.count_chunks()
    for mode in modes:
        yield evaluate_mode(settings, store, embedder, keywords, data, mode) | {
            "documents": len(data.corpus) - skipped,
            "chunks": chunks,
            "index_seconds": index_seconds,
        }


def evaluate_mode(
    settings: Settings, store: Store, embedder: Embedder, keywords: KeywordIndex, data: BeirData, mode: RetrievalMode
) -> dict:
    deep = settings.model_copy(update={"retrieval_mode": mode, "candidates": DOC_DEPTH * CHUNKS_PER_DOC})
    retriever = Components(deep, embedder=embedder, store=store, keywords=keywords).retriever
    run = {qid: document_ranking(retriever, query, DOC_DEPTH) for qid, query in data.queries.items()}
    as_app = settings.model_copy(update={"retrieval_mode": mode})
    app = Components(as_app, embedder=embedder, store=store, keywords=keywords).retriever
    return {
        "mode": mode,
        **ir_metrics(data.qrels, run),
        "queries": len(data.queries),
        **latency_ms(app, list(data.queries.values()), settings.top_k),
    }
