"""`python -m eval retrieval` on a small BEIR-format folder written here, and its metrics checked by hand."""

import gzip
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eval.retrieval import ir_metrics, load_beir
from rag.settings import Settings

REPO = Path(__file__).resolve().parents[2]

CORPUS = {
    "d1": ("Cafeteria hours", "The staff cafeteria opens at 7:30 and closes at 15:00 on weekdays."),
    "d2": ("Parking", "A monthly parking permit costs 40 euros and is sold at the front desk."),
    "d3": ("Vacation", "Every new employee receives 28 days of paid vacation per year."),
    "d4": ("Helpdesk", "The IT helpdesk answers calls on extension 4321 from Monday to Friday."),
    "d5": ("Travel", "Travel expenses must be claimed within 30 days of the trip."),
    "d6": ("Bicycles", "Bicycles can be left in the covered shed behind the main building."),
    "d7": ("", ""),  # an empty record is skipped, not an error
}
QUERIES = {
    "q1": "When does the cafeteria close?",
    "q2": "How much is a parking permit?",
    "q3": "How many vacation days do new employees get?",
    "q4": "What is the helpdesk phone extension?",
    "q9": "A query without judgements is not evaluated.",
}
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q3", "d3", 1), ("q4", "d4", 1)]


def write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        for doc_id, (title, text) in CORPUS.items():
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    lines = [json.dumps({"_id": qid, "text": text}) for qid, text in QUERIES.items()]
    (folder / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in QRELS]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def run_cli(settings: Settings, *args: str) -> list[dict]:
    env = os.environ | {"RAG_DATA_DIR": str(settings.data_dir), "RAG_MODELS_DIR": str(settings.models_path)}
    command = [sys.executable, "-m", "eval", "retrieval", *args, "--json"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_load_beir_reads_gzip_skips_the_header_and_unjudged_queries(tmp_path: Path) -> None:
    data = load_beir(write_beir(tmp_path / "beir"))
    assert set(data.queries) == {"q1", "q2", "q3", "q4"}
    assert data.qrels["q2"] == {"d2": 1}
    assert data.corpus["d4"] == CORPUS["d4"]
    with pytest.raises(FileNotFoundError):
        load_beir(tmp_path / "beir", split="dev")


def test_ir_metrics_match_the_definitions() -> None:
    qrels = {"a": {"d1": 1, "d2": 1}, "b": {"d4": 1}, "c": {"d9": 1}}
    run = {"a": {"d3": 1.0, "d1": 0.5, "d2": 0.25}, "b": {"d4": 1.0}}  # nothing found for "c": it counts as 0
    ndcg_a = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    metrics = ir_metrics(qrels, run)
    assert metrics["ndcg@10"] == pytest.approx((ndcg_a + 1 + 0) / 3, abs=1e-4)
    assert metrics["recall@10"] == pytest.approx((1 + 1 + 0) / 3, abs=1e-4)
    assert metrics["recall@100"] == pytest.approx(2 / 3, abs=1e-4)
    assert metrics["mrr@10"] == pytest.approx((1 / 2 + 1 + 0) / 3, abs=1e-4)


def test_beir_benchmark_reports_every_number_per_mode(tmp_path: Path, settings: Settings) -> None:
    folder = write_beir(tmp_path / "beir")
    reports = run_cli(settings, "--beir", str(folder), "--mode", "hybrid", "--mode", "bm25")
    assert [r["mode"] for r in reports] == ["hybrid", "bm25"]
    for report in reports:
        expected = {"ndcg@10", "recall@10", "recall@100", "mrr@10", "queries", "index_seconds"}
        assert expected | {"query_p50_ms", "query_p95_ms"} <= set(report)
        assert report["queries"] == 4
        assert report["documents"] == 6
        assert report["ndcg@10"] > 0.9  # each query names its one document plainly
        assert 0 < report["query_p50_ms"] <= report["query_p95_ms"]
    assert not settings.data_dir.exists()  # indexed into a temporary store


def test_synthetic_scale_check_reports_latency(settings: Settings, tmp_path: Path) -> None:
    work = tmp_path / "scale"
    everything, one = run_cli(settings, "--synthetic-chunks", "400", "--mode", "hybrid", "--work-dir", str(work))
    assert (everything["collections"], one["collections"]) == ("all", "one of two")
    for report in (everything, one):
        assert report["chunks"] == 400 and report["mode"] == "hybrid"
        assert 0 < report["query_p50_ms"] <= report["query_p95_ms"]
    assert one["hits_outside_the_collection"] == 0
    assert (work / "keyword").is_dir()


def test_bad_arguments_are_refused(settings: Settings) -> None:
    env = os.environ | {"RAG_DATA_DIR": str(settings.data_dir), "RAG_MODELS_DIR": str(settings.models_path)}
    command = [sys.executable, "-m", "eval", "retrieval", "--synthetic-chunks", "10", "--mode", "sparse"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "sparse" in result.stderr
