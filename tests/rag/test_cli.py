"""`python -m rag ask --json` (contract in DESIGN.md), run as a real subprocess with the bundled model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.settings import ABSTAIN_ANSWER, Settings

REPO = Path(__file__).resolve().parents[2]


def ask(env: dict[str, str], question: str, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "rag", "ask", question, "--json", *options]
    return subprocess.run(command, cwd=REPO, env=os.environ | env, capture_output=True, text=True, timeout=300)


def test_ask_json_matches_the_contract(handbook_env: dict[str, str]) -> None:
    result = ask(handbook_env, "How much does a monthly parking permit cost?")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) == {"id", "answer", "abstained", "refused", "sources", "mode", "guard", "citations"}
    cited = {n for citation in answer["citations"] for n in citation["sources"]}
    assert cited and cited <= set(range(1, len(answer["sources"]) + 1))  # markers point at listed sources
    assert answer["mode"] in ("generated", "quoted")
    assert isinstance(answer["answer"], str) and "40" in answer["answer"]
    assert answer["abstained"] is False
    assert 1 <= len(answer["sources"]) <= 5
    for source in answer["sources"]:
        assert set(source) == {"source", "page", "score", "text"}
        assert source["source"] == "handbook.pdf"
        assert isinstance(source["page"], int) and 1 <= source["page"] <= 6
        assert isinstance(source["score"], float) and isinstance(source["text"], str)
    assert answer["sources"][0]["page"] == 3


def test_ask_json_abstains_out_of_corpus(handbook_env: dict[str, str]) -> None:
    result = ask(handbook_env, "Who won the 2018 FIFA World Cup?")
    answer = json.loads(result.stdout)
    assert len(answer.pop("id")) == 16  # the answer's id: its log lines and ratings name it
    assert answer == {
        "answer": ABSTAIN_ANSWER,
        "abstained": True,
        "refused": False,
        "sources": [],
        "mode": "generated",
        "guard": [],
        "citations": [],
    }


def test_a_question_over_the_limit_is_refused_with_what_to_do(handbook_env: dict[str, str]) -> None:
    result = ask(handbook_env | {"RAG_MAX_QUESTION_CHARS": "100"}, "Where do I park? " * 10)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: The question is 169 characters long; the limit is 100 (RAG_MAX_QUESTION_CHARS)" in result.stderr


def test_ask_searches_only_the_documents_given(reports_settings: Settings) -> None:
    env = {"RAG_DATA_DIR": str(reports_settings.data_dir), "RAG_MODELS_DIR": str(reports_settings.models_path)}
    question = "What were the purchases of property, plant and equipment in 2018?"
    result = ask(env, question, "--source", "globex-2018.pdf")
    assert result.returncode == 0, result.stderr
    assert {s["source"] for s in json.loads(result.stdout)["sources"]} == {"globex-2018.pdf"}
    unknown = ask(env, question, "--source", "initech-2018.pdf")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "error: No document named initech-2018.pdf: see `python -m ingest list`." in unknown.stderr


@pytest.mark.slow  # a subprocess
def test_missing_model_exits_with_the_command_to_fix_it(tmp_path: Path) -> None:
    env = {"RAG_DATA_DIR": str(tmp_path), "RAG_MODELS_DIR": str(tmp_path / "no-models")}
    result = ask(env, "Anything?")
    assert result.returncode == 2
    assert "python -m rag provision" in result.stderr
    assert result.stdout == ""
