"""The HTML report quotes questions, answers, passages and run metadata: none of it may run in a browser."""

from pathlib import Path

from eval.report import CSP, write_report
from records.eval_history import History

SCRIPT = "<script>alert(1)</script>"


def test_every_value_is_escaped_and_the_page_forbids_scripts(tmp_path: Path) -> None:
    history = History(tmp_path / "eval_history.db")
    item = {"question": SCRIPT, "reference": SCRIPT, "answer": SCRIPT, "abstained": False,
            "scores": {"grounding_check": 0.1, "token_f1": 0.0}, "claims": [{"text": SCRIPT, "supported": False,
            "reason": SCRIPT}], "sources": [{"source": SCRIPT, "page": None, "text": SCRIPT}]}  # fmt: skip
    for number in range(2):  # two runs: the trend chart quotes each run's time
        report = {"run_id": f"run-{number}", "created_at": f"2026-11-2{number}T02:00{SCRIPT}", "set": SCRIPT,
                  "settings": {"retrieval_mode": SCRIPT}, "generator": SCRIPT, "embedder": SCRIPT,
                  "judge": SCRIPT, "llm_metrics": SCRIPT, "summary": {"grounding_check": 0.5, SCRIPT: SCRIPT},
                  "items": [item]}  # fmt: skip
        _, html_path = write_report(report, tmp_path / f"run-{number}", history)
    page = html_path.read_text()
    assert "<script" not in page and page.count("&lt;script&gt;") >= 10
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page and "script-src" not in CSP
