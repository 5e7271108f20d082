"""The benchmark is a script, not a test of speed: this only checks that it runs and reports every number."""

import json
import os
import subprocess
import sys
from pathlib import Path

from rag.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_bench_reports_side_by_side_numbers(settings: Settings) -> None:
    env = os.environ | {"RAG_DATA_DIR": str(settings.data_dir), "RAG_MODELS_DIR": str(settings.models_path)}
    command = [sys.executable, "-m", "eval", "bench", "--json", "--copies", "1", "--rounds", "1"]
    command += ["--max-new-tokens", "16"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ingestion"]["chunks"] > 10
    for number in ("pipeline_chunks_s", "bare_encode_chunks_s", "ratio"):
        assert report["ingestion"][number] > 0
    generation = report["generation"]
    assert 1 <= generation["new_tokens"] <= 16
    assert generation["pipeline_tok_s"] > 0 and generation["bare_generate_tok_s"] > 0
    assert generation["context_passages"] >= 1 and generation["first_token_s_p50"] > 0
    cost = generation["logs_and_metrics"]
    assert cost["per_answer_ms"] > 0 and 0 < cost["share_of_answer"] < 1 and cost["observations_per_answer"] > 6
    assert 100 < report["peak_rss_mb"] < 100_000
    assert set(report["meets_targets"]) == {"generation_ratio", "ingestion_ratio", "first_token_s", "peak_rss_mb"}
    assert not settings.data_dir.exists()  # the bench works in a temporary store
