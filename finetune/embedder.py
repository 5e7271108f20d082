"""Adapt the retriever: fine-tune the embedder on (query, passage) pairs with MultipleNegativesRankingLoss.

Every other passage in a batch serves as a negative for a query, so bigger batches teach more per step; with
`mini_batch_size` the loss is computed GradCache-style (CachedMultipleNegativesRankingLoss), so a batch of 128 or
more costs the memory of a mini-batch.
Pairs come from a JSONL file, a BEIR split (its queries and judged documents; never pass the test split), or
the corpus itself (one sentence of a chunk as the query, the rest of the chunk as its passage: the inverse
cloze task, for corpora without any questions). The result is a sentence-transformers folder that
`RAG_EMBEDDING_MODEL` can name; a store built with another embedder must be re-embedded
(`python -m ingest reembed`).
"""

import json
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.jsonl import read_jsonl
from rag.models import embedding_model_path, resolve_device
from rag.settings import BUNDLED, Settings
from rag.store import Store

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from ingest.chunk import Chunker
    from rag.embedder import Embedder

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


@dataclass(frozen=True)
class EmbedderTrainConfig:
    epochs: int = 3
    batch_size: int = 128  # 128 beat 32 by +0.019 dense nDCG@10 on SciFact (docs/fine-tuning.md)
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    hard_negatives: int = 0
    mini_batch_size: int = 32  # GradCache in mini-batches of this size; 0 (or >= batch_size): plain MNRL
    seed: int = 13

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2 (in-batch negatives need a batch)")
        if self.hard_negatives < 0:
            raise ValueError("hard_negatives must be >= 0")
        if self.mini_batch_size < 0:
            raise ValueError("mini_batch_size must be >= 0 (0: the whole batch at once)")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate {self.learning_rate} is not a learning rate")


Pair = tuple[str, str]


def pairs_from_jsonl(path: Path) -> list[Pair]:
    """Lines of {"query": ..., "passage": ...}; a bad line raises ValueError naming it."""

    def pair(record: dict[str, Any]) -> Pair:
        query, passage = str(record["query"]).strip(), str(record["passage"]).strip()
        if not query or not passage:
            raise ValueError("query and passage must not be empty")
        return query, passage

    return read_jsonl(path, pair, expected="expected {'query': ..., 'passage': ...}: ")


def pairs_from_beir(
    folder: Path, split: str, chunker: "Chunker | None" = None, embedder: "Embedder | None" = None
) -> list[Pair]:
    """(query, title + newline + text) for every judged relevant document of the split.

    With a chunker and an embedder, each judgement also gives (query, the document's chunk most similar to the
    query): the store holds chunks, so that is what a query must learn to find.
    """
    from eval.retrieval import load_beir, loaded_record

    if split == "test":
        raise ValueError("Refusing to train on the test split: its queries are what the embedder is measured on.")
    data = load_beir(folder, split)
    pairs = []
    for query_id, judged in data.qrels.items():
        query = data.queries[query_id]
        for doc_id, relevance in judged.items():
            if relevance <= 0 or doc_id not in data.corpus:
                continue
            title, text = data.corpus[doc_id]
            pairs.append((query, f"{title}\n{text}".strip()))
            if chunker is not None and embedder is not None and text.strip():
                chunks = [c.search_text for c in chunker.split(loaded_record(title, text), doc_id)]
                if len(chunks) > 1:
                    scores = embedder.embed(chunks) @ embedder.embed_query(query)
                    pairs.append((query, chunks[int(scores.argmax())]))
    return pairs


def beir_passages(folder: Path, split: str) -> list[str]:
    """Every document of a BEIR corpus as title + newline + text: the pool hard negatives are mined from."""
    from eval.retrieval import load_beir

    return [f"{title}\n{text}".strip() for title, text in load_beir(folder, split).corpus.values()]


def cloze_pairs(passages: list[tuple[str | None, str]], limit: int, seed: int) -> list[Pair]:
    """Inverse cloze task on (heading, text) passages: a random sentence is the query, the rest its passage."""
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for heading, text in passages:
        sentences = SENTENCE_END.split(text)
        long_enough = [i for i, s in enumerate(sentences) if len(s.split()) >= 5]
        if len(sentences) < 3 or not long_enough:
            continue
        pick = rng.choice(long_enough)
        rest = " ".join(s for i, s in enumerate(sentences) if i != pick)
        pairs.append((sentences[pick], f"{heading}\n{rest}" if heading else rest))
    rng.shuffle(pairs)
    return pairs[:limit]


def pairs_from_store(store: Store, limit: int, seed: int) -> list[Pair]:
    """Inverse cloze pairs from the store's chunks: for corpora without any questions."""
    return cloze_pairs([(chunk.heading, chunk.text) for _, chunk in store.committed_chunks()], limit, seed)


def pairs_from_beir_corpus(folder: Path, split: str, limit: int, seed: int) -> list[Pair]:
    """Inverse cloze pairs from a BEIR corpus (its documents, never its queries): in-domain text for free."""
    from eval.retrieval import load_beir

    corpus = load_beir(folder, split).corpus.values()
    return cloze_pairs([(title or None, text) for title, text in corpus], limit, seed)


def add_hard_negatives(
    model: "SentenceTransformer", pairs: list[Pair], corpus: list[str] | None, count: int
) -> "Dataset":
    """(anchor, positive, negative) rows: for each pair, passages the model ranks high but nobody judged relevant.

    Skips the 3 closest candidates and any within 5% of the positive's score (NV-Retriever's TopK-PercPos): in a
    corpus with unjudged relevant passages, the very closest "negatives" are often positives.
    """
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    data = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [p for _, p in pairs]})
    return mine_hard_negatives(
        data,
        model,
        corpus=corpus,
        range_min=3,
        relative_margin=0.05,
        num_negatives=count,
        sampling_strategy="top",
        output_format="triplet",
        batch_size=64,
        verbose=False,
    )


def train_embedder(
    settings: Settings,
    pairs: list[Pair],
    out: Path,
    config: EmbedderTrainConfig,
    corpus: list[str] | None = None,
) -> dict:
    """Fine-tune the settings' embedder on `pairs` and save it to `out`; returns a summary.

    With `config.hard_negatives`, each pair also gets that many mined negatives from `corpus` (default: the
    positives themselves).
    """
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    base = embedding_model_path(settings)
    model = SentenceTransformer(base, device=resolve_device(settings.device))
    if config.hard_negatives:
        data = add_hard_negatives(model, pairs, corpus, config.hard_negatives)
    else:
        data = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [p for _, p in pairs]})
    if len(data) < 2:
        raise ValueError(f"{len(data)} training rows: in-batch negatives need at least 2 pairs.")
    if len(data) < config.batch_size:  # a small set trains as one batch rather than not at all
        config = replace(config, batch_size=len(data))
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of the steps
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        seed=config.seed,
        save_strategy="no",
        logging_steps=10,
        report_to="none",
    )
    if 0 < config.mini_batch_size < config.batch_size:
        loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=config.mini_batch_size)
    else:
        loss = MultipleNegativesRankingLoss(model)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss)
    result = trainer.train()
    model.save_pretrained(str(out))
    summary = {
        "base_model": "all-MiniLM-L6-v2 (bundled)" if settings.embedding_model == BUNDLED else settings.embedding_model,
        "pairs": len(pairs),
        "rows": len(data),
        "steps": result.global_step,
        "train_loss": round(float(result.training_loss), 4),
        "seconds": round(float(result.metrics.get("train_runtime", 0.0)), 1),
        **{k: v for k, v in vars(config).items()},
    }
    (out / "finetune.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
