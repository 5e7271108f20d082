"""`python -m eval answers`: answer quality of the real pipeline on the shipped question sets, in one table.

Sets (each with a tuning part and a held-out part that changes are not tuned on):
- docs: questions about this project's own guide (docs/), written by hand with references, and questions the
  guide does not answer (eval/sets/docs-answers*.jsonl).
- rfaq: the R FAQ questions with references, and the unanswerable ones (eval/sets/r-faq*.jsonl); needs
  R-FAQ.pdf (`--rfaq`, see eval/sets/README.md).
- covid: questions of COVID-QA articles (../shared/data/covid-qa, `--covid`), four articles per part.

Per set and part: token F1 and key recall (the share of the reference's content words the answer contains)
on answerable questions; the share of answers the grounding check backs in full; the echo rate (answers that
copy prompt markup, or generated answers that restate more than rag.echo.ECHO_WORDS consecutive words of
one passage); false abstention; abstention on unanswerable questions; the answer modes; median latency.
"""

import random
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.run import normalise, score_item
from eval.sets import EvalItem, load_set, load_squad
from ingest.index import Indexer
from ingest.loaders import is_supported
from rag.components import Components
from rag.echo import echoes, has_markup
from rag.embedder import Embedder
from rag.generator import Generator
from rag.pipeline import RagPipeline
from rag.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SETS = REPO / "eval" / "sets"
COVID_ARTICLES, COVID_QUESTIONS = 4, 10  # per part
_STOP = frozenset(normalise("a an the of to in on at for and or is are was were be by with from as it this that"))


@dataclass(frozen=True)
class AnswerSet:
    name: str
    part: str  # "tune" or "heldout"
    items: list[EvalItem]
    files: list[tuple[Path, str]]  # (path, source name) to ingest


def docs_sets() -> list[AnswerSet]:
    files = [(p, p.name) for p in sorted((REPO / "docs").glob("*.md"))]
    return [
        AnswerSet("docs", "tune", load_set(SETS / "docs-answers.jsonl"), files),
        AnswerSet("docs", "heldout", load_set(SETS / "docs-answers-heldout.jsonl"), files),
    ]


def rfaq_sets(pdf: Path) -> list[AnswerSet]:
    answerable = load_set(SETS / "r-faq-answers.jsonl")
    questions = [EvalItem(q.question, None, []) for q in _unanswerable_rfaq()]
    items = answerable + questions
    files = [(pdf, "R-FAQ.pdf")]
    return [
        AnswerSet("rfaq", "tune", [item for i, item in enumerate(items) if i % 3 != 2], files),
        AnswerSet("rfaq", "heldout", [item for i, item in enumerate(items) if i % 3 == 2], files),
    ]


def _unanswerable_rfaq() -> list[Any]:
    from eval.questions import load_questions

    return [q for q in load_questions(SETS / "r-faq.jsonl") if not q.pages]


def covid_sets(path: Path, folder: Path) -> list[AnswerSet]:
    """Four articles per part, chosen with a fixed seed, and their first ten questions each."""
    documents, items = load_squad(path)
    articles = sorted(documents)
    random.Random(7).shuffle(articles)
    folder.mkdir(parents=True, exist_ok=True)
    sets = []
    for part, chosen in (
        ("tune", articles[:COVID_ARTICLES]),
        ("heldout", articles[COVID_ARTICLES : 2 * COVID_ARTICLES]),
    ):
        files = []
        for article in chosen:
            text = folder / f"{article}.txt"
            if not text.is_file():
                text.write_text(documents[article], encoding="utf-8")
            files.append((text, text.name))
        picked = [
            i for a in chosen for i in [x for x in items if x.reference_sources == [f"{a}.txt"]][:COVID_QUESTIONS]
        ]
        sets.append(AnswerSet("covid", part, picked, files))
    return sets


def key_recall(answer: str, reference: str) -> float:
    """The share of the reference's content words that the answer contains."""
    wanted = [w for w in normalise(reference) if w not in _STOP] or normalise(reference)
    said = set(normalise(answer))
    return sum(w in said for w in wanted) / len(wanted) if wanted else 0.0


def score(pipeline: RagPipeline, item: EvalItem) -> dict[str, Any]:
    """`eval run`'s row for the item, reduced to what the answer table needs, plus key recall and echo."""
    full = score_item(pipeline, item)
    answer, abstained, mode = full["answer"], full["abstained"], full["mode"]
    passages = [source["text"] for source in full["sources"]]
    row: dict[str, Any] = {
        "question": item.question,
        "reference": item.reference,
        "answer": answer,
        "abstained": abstained,
        "mode": "abstained" if abstained else mode,
        "grounded": (not abstained) and full["scores"]["grounding_check"] == 1.0,
        "echo": (not abstained) and (echoes(answer, passages) if mode == "generated" else has_markup(answer)),
        "seconds": full["seconds"],
    }
    if item.reference is not None:
        row |= {"f1": full["scores"]["token_f1"], "key": key_recall(answer, item.reference)}
    return row


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["reference"] is not None]
    unanswerable = [r for r in rows if r["reference"] is None]
    answered = [r for r in rows if not r["abstained"]]
    modes = {mode: sum(r["mode"] == mode for r in rows) for mode in ("generated", "quoted", "abstained")}
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "f1": _mean([r["f1"] for r in answerable]),
        "key": _mean([r["key"] for r in answerable]),
        "grounded": _mean([float(r["grounded"]) for r in answered]),
        "echo": _mean([float(r["echo"]) for r in answered]),
        "false_abstention": _mean([float(r["abstained"]) for r in answerable]),
        "unanswerable": len(unanswerable),
        "abstention": _mean([float(r["abstained"]) for r in unanswerable]),
        "modes": modes,
        "latency_p50_s": round(statistics.median(r["seconds"] for r in rows), 2) if rows else None,
    }


def run_sets(
    settings: Settings, sets: list[AnswerSet], embedder: Embedder, generator: Generator, work: Path
) -> list[dict[str, Any]]:
    """Each set's documents (of all its parts) in one store under `work`, kept so that the next run only
    ingests what changed; then each part's questions through the real pipeline."""
    reports = []
    for name in dict.fromkeys(s.name for s in sets):
        chosen = settings.model_copy(update={"data_dir": work / name, "models_dir": settings.models_path})
        parts = Components(chosen, embedder=embedder, generator=generator)
        indexer = Indexer(parts.store, embedder, chosen.chunk_size, chosen.chunk_overlap, parts.keywords)
        files = dict.fromkeys(f for s in sets if s.name == name for f in s.files if is_supported(f[0]))
        list(indexer.ingest_files(files))
        pipeline = RagPipeline(parts)
        for answer_set in (s for s in sets if s.name == name):
            rows = [score(pipeline, item) for item in answer_set.items]
            reports.append({"set": name, "part": answer_set.part, **summarise(rows), "items": rows})
    return reports
