"""`python -m eval run` and `schedule` on the handbook store: reports, history, and the judge paths for real
(the project's own model behind `python -m rag serve`, and served in-process as the local judge)."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.judge import JudgeUnavailableError, make_judge
from eval.run import run_set
from eval.sets import EvalItem, save_set
from rag.components import Components
from rag.embedder import SentenceTransformerEmbedder
from rag.generator import TransformersGenerator
from rag.pipeline import RagPipeline
from rag.settings import Settings
from records.eval_history import History
from tests.serving.test_generator_server import start_server

REPO = Path(__file__).resolve().parents[2]
ITEMS = [
    EvalItem("How much does a monthly parking permit cost?", "40 euros", ["handbook.pdf"]),
    EvalItem("Who won the 2018 FIFA World Cup?", None, []),
]


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "eval", *args]
    return subprocess.run(command, cwd=REPO, env=os.environ | env, capture_output=True, text=True, timeout=900)


@pytest.fixture
def question_set(tmp_path: Path) -> Path:
    save_set(ITEMS, tmp_path / "handbook-set.jsonl")
    return tmp_path / "handbook-set.jsonl"


@pytest.fixture
def judge_server(models_dir: Path, tmp_path: Path) -> Iterator[str]:
    server, url = start_server(models_dir, tmp_path / "judge")
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_run_without_judge_writes_both_reports(
    handbook_env: dict[str, str], question_set: Path, tmp_path: Path
) -> None:
    secrets = {"RAG_JUDGE_BASE_URL": "https://judge-user:judge-pass@judge.example/v1?key=url-key",
               "RAG_JUDGE_API_KEY": "sk-judge-secret", "RAG_ADMIN_PASSWORD": "admin-secret-1"}  # fmt: skip
    result = run_cli(handbook_env | secrets, "run", "--set", str(question_set), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "run" / "report.json").read_text() + (tmp_path / "run" / "report.html").read_text()
    for secret in ("judge-user", "judge-pass", "url-key", "sk-judge-secret", "admin-secret-1"):
        assert secret not in written
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["settings"]["judge_base_url"] == "https://judge.example/v1"
    assert report["judge"] is None and report["llm_metrics"].startswith("not computed: no judge configured")
    answered, abstained = report["items"]
    assert answered["scores"]["source_hit"] == 1.0 and answered["scores"]["grounding_check"] is not None
    assert "40" in answered["answer"] and answered["claims"]
    assert abstained["abstained"] and abstained["scores"]["grounding_check"] is None
    assert report["summary"]["abstention_rate"] == 0.5 and report["summary"]["questions"] == 2
    assert report["settings"]["retrieval_mode"] == "hybrid" and "ragas" in report["versions"]
    page = (tmp_path / "run" / "report.html").read_text()
    assert "Evaluation of handbook-set.jsonl" in page and "<svg" in page and "not computed" in page
    assert "How much does a monthly parking permit cost?" in page  # among the weakest (only) answers


def test_endpoint_judge_scores_or_records_failures(
    handbook_env: dict[str, str], question_set: Path, tmp_path: Path, judge_server: str
) -> None:
    env = handbook_env | {
        "RAG_JUDGE_BASE_URL": judge_server,
        "RAG_JUDGE_MODEL": "smollm2",
        "RAG_JUDGE_MAX_TOKENS": "96",
    }
    out = tmp_path / "judged"
    result = run_cli(env, "run", "--set", str(question_set), "--out", str(out), "--judge", "endpoint",
                     "--metrics", "faithfulness")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["judge"] == f"openai-compatible {judge_server}, smollm2"
    answered, abstained = report["items"]
    value = answered["llm_scores"]["faithfulness"]
    assert isinstance(value, float) or value.startswith("failed: "), value
    assert abstained["llm_scores"]["faithfulness"] == "skipped: abstained"
    assert "faithfulness_failed" in report["summary"]
    assert judge_server in (out / "report.html").read_text()


def test_unreachable_judge_is_reported_not_replaced(
    handbook_env: dict[str, str], question_set: Path, tmp_path: Path
) -> None:
    env = handbook_env | {"RAG_JUDGE_BASE_URL": "http://127.0.0.1:9/v1", "RAG_JUDGE_MODEL": "none"}
    result = run_cli(env, "run", "--set", str(question_set), "--out", str(tmp_path / "r"), "--judge", "endpoint")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["judge"] is None and "unreachable" in report["llm_metrics"]
    assert "faithfulness" not in report["summary"]


def test_local_judge_end_to_end_on_one_item(
    handbook_settings: Settings, embedder: SentenceTransformerEmbedder, generator: TransformersGenerator
) -> None:
    settings = handbook_settings.model_copy(update={"judge_max_tokens": 96})
    judge = make_judge(settings, "local", ["context_recall"])
    assert judge.identity.startswith("local (served in-process) http://127.0.0.1:")
    pipeline = RagPipeline(Components(settings, embedder=embedder, generator=generator))
    report = run_set(settings, pipeline, ITEMS[:1], "one.jsonl", judge)
    value = report["items"][0]["llm_scores"]["context_recall"]
    assert isinstance(value, float) or value.startswith("failed: "), value
    assert report["judge"] == judge.identity
    with pytest.raises(JudgeUnavailableError, match="no judge configured"):
        make_judge(handbook_settings, "endpoint")


def test_schedule_runs_twice_and_the_trend_shows_both(
    handbook_env: dict[str, str], question_set: Path, tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    result = run_cli(handbook_env, "schedule", "--cron", "*/3 * * * * *", "--set", str(question_set),
                     "--out-root", str(root), "--runs", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    folders = sorted(p for p in root.iterdir() if (p / "report.json").is_file())
    assert len(folders) == 2
    runs = History(Path(handbook_env["RAG_DATA_DIR"]) / "app.db").runs("handbook-set.jsonl")
    assert len(runs) >= 2
    assert f"Trend over {len(runs)} run(s)" in (folders[-1] / "report.html").read_text()
    bad = run_cli(handbook_env, "schedule", "--cron", "every day", "--set", str(question_set))
    assert bad.returncode == 2 and "fields" in bad.stderr
