"""One evaluation run and one red-team run, as `eval run`, `eval redteam`, `eval schedule` and the evaluation
service (eval/scheduler.py) do them: the real pipeline, the reports written, the run kept in the eval history."""

import logging
from pathlib import Path
from typing import Any

from rag.settings import Settings

log = logging.getLogger(__name__)


class RunError(ValueError):
    """A run that cannot start: a set that cannot be read, a metric that does not exist. The message says which."""


def evaluate(
    settings: Settings, question_set: Path, out: Path, judge: str, metrics: list[str] | None, redact: bool = False
) -> dict[str, Any]:
    """Answer every question of the set, score the answers (with `judge`: none, endpoint or local), write
    report.json and report.html into `out`; the report. Without a reachable judge the LLM metrics say why."""
    from eval.report import write_report
    from eval.run import run_set
    from eval.sets import SetError, load_set
    from rag.models import quiet_model_loading
    from rag.pipeline import RagPipeline
    from records.eval_history import History

    try:
        items = load_set(question_set)
    except (SetError, OSError) as err:
        raise RunError(str(err)) from err
    quiet_model_loading()
    chosen, problem = None, "no judge configured (--judge endpoint or local)"
    if judge != "none":
        from eval.judge import METRICS, JudgeUnavailableError, make_judge

        unknown = sorted(set(metrics or []) - set(METRICS))
        if unknown:
            raise RunError(f"unknown metrics {unknown}; choose from {METRICS}")
        try:
            chosen = make_judge(settings, judge, metrics)
        except JudgeUnavailableError as err:
            problem = str(err)
            log.warning("LLM metrics not computed: %s", problem)
    report = run_set(settings, RagPipeline.from_settings(settings), items, question_set.name, chosen, problem)
    if redact:
        from rag.safety.pii import redact_all

        report["items"] = redact_all(report["items"], settings.pii_region)
    write_report(report, out, History.from_settings(settings))
    return report


def redteam(settings: Settings, redteam_set: Path | None, docs: list[Path] | None, out: Path) -> dict[str, Any]:
    """The red-team set (default: the shipped one) through the guardrails and the answer path, on a throwaway
    store of `docs` (default: the shipped documents and docs/); the report, also written into `out`."""
    from eval.redteam import SHIPPED, SHIPPED_DOCS, RedteamSetError, evaluate_redteam, render_redteam_html
    from eval.report import write_report
    from rag.models import quiet_model_loading
    from records.eval_history import History

    quiet_model_loading()
    folders = docs or [SHIPPED_DOCS, *([Path("docs")] if Path("docs").is_dir() else [])]
    try:
        report = evaluate_redteam(redteam_set or SHIPPED, folders, settings)
    except (RedteamSetError, OSError) as err:
        raise RunError(str(err)) from err
    write_report(report, out, History.from_settings(settings), render_redteam_html)
    return report
