"""Evaluation sets: questions with optional reference answers and sources, in JSONL.

One object per line: {"question": str, "reference": str?, "reference_sources": [str]?, "made_by": str?}.
`made_by` records how the item was made (written by hand, taken from a SQuAD file, built from the store).
"""

import gzip
import json
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.jsonl import read_jsonl
from rag.store import Store


@dataclass(frozen=True)
class EvalItem:
    question: str
    reference: str | None = None
    reference_sources: list[str] = field(default_factory=list)
    made_by: str = "hand-written"


class SetError(ValueError):
    """A set file that cannot be read; the message names the line."""


def _item(row: dict[str, Any]) -> EvalItem:
    question = row["question"]
    if not isinstance(question, str) or not question.strip():
        raise ValueError("'question' must be a non-empty string")
    sources = row.get("reference_sources", [])
    if not isinstance(sources, list):
        raise ValueError("'reference_sources' must be a list of file names")
    return EvalItem(question.strip(), row.get("reference"), [str(s) for s in sources], row.get("made_by", "file"))


def load_set(path: Path) -> list[EvalItem]:
    items = read_jsonl(path, _item, SetError)
    if not items:
        raise SetError(f"{path} has no questions")
    return items


def save_set(items: list[EvalItem], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(asdict(item), ensure_ascii=False) for item in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_squad(path: Path, limit: int | None = None, seed: int = 0) -> tuple[dict[str, str], list[EvalItem]]:
    """Documents ({document id: text}) and questions of a SQuAD-format file (.json or .json.gz); with `limit`,
    a seeded random sample of questions (and only the documents they are about)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    documents: dict[str, str] = {}
    items: list[EvalItem] = []
    for number, article in enumerate(data["data"]):
        for paragraph in article["paragraphs"]:
            doc_id = str(paragraph.get("document_id", article.get("title", number)))
            documents[doc_id] = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa.get("answers", []) if a.get("text")]
                reference = answers[0] if answers else None
                source = f"{doc_id}.txt"
                items.append(EvalItem(qa["question"].strip(), reference, [source], f"squad:{path.name}"))
    if limit is not None and limit < len(items):
        items = random.Random(seed).sample(items, limit)
        wanted = {s.removesuffix(".txt") for item in items for s in item.reference_sources}
        documents = {k: v for k, v in documents.items() if k in wanted}
    return documents, items


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def make_set(store: Store, count: int, seed: int = 0) -> list[EvalItem]:
    """Deterministic items from the store: for sampled chunks, a sentence with a number or a name becomes the
    reference, and the question asks what the document says about the words before it."""
    ids, _ = store.committed_chunk_texts()
    order = list(range(len(ids)))
    random.Random(seed).shuffle(order)
    records = store.chunks_by_id([ids[i] for i in order[: count * 4]])
    items: list[EvalItem] = []
    for chunk, _ in records.values():
        sentences = [s.strip() for s in _SENTENCE.split(chunk.text) if 40 <= len(s.strip()) <= 300]
        factual = [s for s in sentences if re.search(r"\d|\b[A-Z][a-z]+\s+[A-Z]", s)] or sentences
        if not factual:
            continue
        reference = factual[0]
        subject = " ".join(reference.split()[:6]).rstrip(",;:")
        question = f"According to {chunk.source}, what about: {subject}...?"
        made_by = f"deterministic: sentence of chunk {chunk.index} of {chunk.source}"
        items.append(EvalItem(question, reference, [chunk.source], made_by))
        if len(items) == count:
            break
    return items
