"""`python -m eval`: measurements of the product (benchmarks now; answer and retrieval quality later)."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from rag.settings import Settings

app = typer.Typer(help="Measure the product.", no_args_is_help=True, add_completion=False)

DEFAULT_QUESTION = "How do I add my own documents, and which file types are supported?"


@app.callback()
def main() -> None:
    """Measure the product."""


@app.command()
def load(
    url: Annotated[str, typer.Option(help="The API's base URL.")] = "http://127.0.0.1:8000",
    key: Annotated[str | None, typer.Option(help="An API key (`python -m rag keys create USER`).")] = None,
    clients: Annotated[str, typer.Option(help="Concurrency levels, comma-separated.")] = "1,4,8,16",
    question_set: Annotated[Path, typer.Option("--set", help="JSONL with a `question` per line.")] = Path(
        "eval/sets/docs-answers.jsonl"
    ),
    count: Annotated[int, typer.Option(min=1, help="Questions each level answers (shared by its clients).")] = 32,
    generate: Annotated[
        int, typer.Option(help="Send each question as a bare prompt to /generate for this many tokens (admin key).")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The HTTP API under 1, 4, 8, 16 clients at once: answers/s, tokens/s, latency and first token, errors."""
    from eval.load import read_questions, run_load

    levels = [int(level) for level in clients.split(",")]
    report = run_load(url.rstrip("/"), key, read_questions(question_set), levels, count, generate)
    if as_json:
        typer.echo(json.dumps(report))
        return
    batch = report["engine"]["max_batch"] if report["engine"] else "?"
    typer.echo(f"{report['route']} on {report['generator']}, max batch {batch}")
    typer.echo("clients  answers/s  tokens/s  (x first)  latency p50/p95 s  first token p50/p95 s  errors")
    for r in report["levels"]:
        typer.echo(
            f"{r['clients']:7}  {r['answers_per_s']:9.2f}  {r['tokens_per_s']:8.1f}"
            f"  ({r['tokens_per_s_vs_first']:4.2f}x)"
            f"  {r['latency_p50_s']}/{r['latency_p95_s']}  {r['first_token_p50_s']}/{r['first_token_p95_s']}"
            f"  {r['errors'] or 0}"
        )


@app.command()
def bench(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    corpus: Annotated[list[Path] | None, typer.Option(help="Files or folders to ingest (default: docs/).")] = None,
    copies: Annotated[int, typer.Option(min=1, help="Times the corpus is ingested (under new names).")] = 3,
    question: Annotated[str, typer.Option(help="Question for the generation timing.")] = DEFAULT_QUESTION,
    max_new_tokens: Annotated[int, typer.Option(min=8)] = 128,
    rounds: Annotated[int, typer.Option(min=1, help="Generation rounds; medians are reported.")] = 3,
) -> None:
    """Pipeline vs bare library speed (ingestion, generation), first-token latency and peak RSS."""
    from eval.bench import run_bench
    from rag.models import quiet_model_loading

    quiet_model_loading()
    corpus = corpus or [Path("docs")]
    report = run_bench(Settings(), corpus, question, copies, max_new_tokens, rounds)
    if as_json:
        typer.echo(json.dumps(report))
        return
    from eval.bench import summary_lines

    typer.echo("\n".join(summary_lines(report)))


@app.command()
def questions(
    question_set: Annotated[Path, typer.Argument(help="JSONL: {question, pages: [int], source?} per line.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Page hit rate and abstention rate of a question set against the store of RAG_DATA_DIR."""
    from eval.questions import check_questions, load_questions
    from rag.models import quiet_model_loading

    quiet_model_loading()
    report = check_questions(Settings(), load_questions(question_set))
    if as_json:
        typer.echo(json.dumps(report))
        return
    for row in report["questions"]:
        if row["expected_pages"] and not row["page_hit"]:
            typer.echo(f"miss: {row['question']} expected {row['expected_pages']}, got {row['sources']}")
        if not row["expected_pages"] and not row["abstained"]:
            typer.echo(f"answered out of corpus: {row['question']} (best score {row['best_score']})")
    typer.echo(
        f"{report['answerable']} answerable: page among sources {report['page_hit_rate']}, "
        f"abstained {report['false_abstention_rate']}; {report['unanswerable']} unanswerable: abstained "
        f"{report['abstention_rate']} (top-k {report['top_k']}, threshold {report['relevance_threshold']})"
    )


@app.command()
def retrieval(
    beir: Annotated[Path | None, typer.Option(help="A BEIR-format folder (corpus, queries, qrels/).")] = None,
    split: Annotated[str, typer.Option(help="Which qrels/<split>.tsv to score.")] = "test",
    mode: Annotated[list[str] | None, typer.Option(help="dense, bm25 or hybrid; repeat for several.")] = None,
    synthetic_chunks: Annotated[
        int | None, typer.Option(min=1, help="Instead of BEIR: query latency with this many synthetic chunks.")
    ] = None,
    work_dir: Annotated[
        Path | None, typer.Option(help="Keep the index here and reuse it next time (default: a temporary one).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per mode, one per line.")] = False,
) -> None:
    """Retrieval quality (nDCG@10, recall, MRR) and query latency, through the product's own code."""
    import tempfile

    from rag.models import quiet_model_loading

    modes = mode or ["hybrid"]
    for name in modes:
        if name not in ("dense", "bm25", "hybrid"):
            raise typer.BadParameter(f"'{name}' is not one of dense, bm25, hybrid", param_hint="--mode")
    if (beir is None) == (synthetic_chunks is None):
        raise typer.BadParameter("give either --beir DIR or --synthetic-chunks N")
    quiet_model_loading()
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as temporary:
        base = Settings()
        settings = base.model_copy(update={"data_dir": work_dir or Path(temporary)})
        if beir is not None:
            from eval.retrieval import run_beir

            reports = run_beir(settings, beir, split, modes, progress=not as_json)  # type: ignore[arg-type]
        else:
            from eval.scale import run_synthetic

            reports = run_synthetic(settings, synthetic_chunks or 0, modes)  # type: ignore[arg-type]
        for report in reports:
            typer.echo(json.dumps(report) if as_json else "  ".join(f"{k} {v}" for k, v in report.items()))


@app.command("squad-set")
def squad_set(
    squad: Annotated[Path, typer.Argument(help="A SQuAD-format file (.json or .json.gz).")],
    out_set: Annotated[Path, typer.Option(help="Where to write the questions (JSONL).")],
    out_docs: Annotated[Path, typer.Option(help="Folder for the documents, one .txt per context, to ingest.")],
    limit: Annotated[int | None, typer.Option(min=1, help="A seeded sample of this many questions.")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
) -> None:
    """Turn a SQuAD file into an eval set plus the documents it is about (then `python -m ingest add` them)."""
    from eval.sets import load_squad, save_set

    documents, items = load_squad(squad, limit, seed)
    out_docs.mkdir(parents=True, exist_ok=True)
    for doc_id, text in documents.items():
        (out_docs / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    save_set(items, out_set)
    typer.echo(f"{len(items)} questions -> {out_set}; {len(documents)} documents -> {out_docs}")


@app.command("make-set")
def make_set_command(
    out: Annotated[Path, typer.Option(help="Where to write the questions (JSONL).")],
    count: Annotated[int, typer.Option(min=1, help="How many questions.")] = 20,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
) -> None:
    """Build a set deterministically from the documents in the store (each item records how it was made)."""
    from eval.sets import make_set, save_set
    from rag.store import open_store

    items = make_set(open_store(Settings()), count, seed)
    if not items:
        typer.echo("error: the store has no documents to build questions from", err=True)
        raise typer.Exit(1)
    save_set(items, out)
    typer.echo(f"{len(items)} questions -> {out}")


@app.command("feedback-set")
def feedback_set(
    out: Annotated[Path, typer.Option(help="Where to write the eval set (JSONL).")],
    seed_out: Annotated[
        Path | None, typer.Option(help="Also write corrected answers as fine-tuning seed examples (JSONL).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only ratings from this date on (ISO).")] = None,
) -> None:
    """Turn readers' ratings of answers into an eval set (rated-up answers and readers' corrections become
    references) and, with --seed-out, corrections into seed examples for `python -m finetune`."""
    from eval.feedback import write_feedback_set
    from records.activity import ActivityLog

    settings = Settings()
    ratings = ActivityLog(settings.database).ratings(since)
    if not ratings:
        typer.echo("error: no ratings yet (readers rate answers with the thumbs on the Ask page)", err=True)
        raise typer.Exit(1)
    counts = write_feedback_set(ratings, out, seed_out)
    typer.echo(json.dumps(counts))


COLUMNS = ["questions", "f1", "key", "grounded", "echo", "false_abstention", "abstention", "latency_p50_s"]


@app.command()
def answers(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    sets: Annotated[list[str] | None, typer.Option("--set", help="docs, rfaq, covid (repeat; default all).")] = None,
    part: Annotated[str, typer.Option(help="tune, heldout or both.")] = "both",
    rfaq: Annotated[Path, typer.Option(help="R-FAQ.pdf (see eval/sets/README.md).")] = Path(
        "/usr/share/R/doc/manual/R-FAQ.pdf"
    ),
    covid: Annotated[Path, typer.Option(help="COVID-QA (SQuAD format).")] = Path(
        "../shared/data/covid-qa/covid_qa.json.gz"
    ),
    out: Annotated[Path | None, typer.Option(help="Write the report with every answer here (JSON).")] = None,
) -> None:
    """Answer quality of the real pipeline on the shipped sets: F1, key recall, grounded share, echo rate,
    abstention and latency per set, for its tuning and its held-out part."""
    from eval.answers import covid_sets, docs_sets, rfaq_sets, run_sets
    from rag.backends import shared_engine
    from rag.embedder import SentenceTransformerEmbedder
    from rag.models import quiet_model_loading

    wanted = sets or ["docs", "rfaq", "covid"]
    settings = Settings()
    work = settings.data_dir / "eval-answers"
    chosen, skipped = [], []
    if "docs" in wanted:
        chosen += docs_sets()
    if "rfaq" in wanted:
        (chosen.extend(rfaq_sets(rfaq)) if rfaq.is_file() else skipped.append(f"rfaq: {rfaq} not found"))
    if "covid" in wanted:
        (
            chosen.extend(covid_sets(covid, work / "covid-texts"))
            if covid.is_file()
            else skipped.append(f"covid: {covid} not found")
        )
    chosen = [s for s in chosen if part in ("both", s.part)]
    quiet_model_loading()
    embedder, generator = (
        SentenceTransformerEmbedder.from_settings(settings),
        shared_engine(settings),
    )
    reports = run_sets(settings, chosen, embedder, generator, work)
    if out is not None:
        out.write_text(json.dumps({"answer_mode": settings.answer_mode, "sets": reports}, indent=2), encoding="utf-8")
    table = [{k: v for k, v in r.items() if k != "items"} for r in reports]
    if as_json:
        typer.echo(json.dumps({"answer_mode": settings.answer_mode, "sets": table, "skipped": skipped}))
        return
    typer.echo(f"answer mode: {settings.answer_mode}")
    typer.echo("set      part     " + " ".join(f"{c:>16}" for c in COLUMNS) + "  modes")
    for row in table:
        cells = " ".join(f"{row[c]!s:>16}" for c in COLUMNS)
        typer.echo(f"{row['set']:8} {row['part']:8} {cells}  {row['modes']}")
    for reason in skipped:
        typer.echo(f"skipped {reason}", err=True)


@app.command()
def financebench(
    repo: Annotated[Path, typer.Argument(help="A clone of github.com/patronus-ai/financebench (pdfs/, data/).")],
    part: Annotated[str, typer.Option(help="tune (companies 0-9, A-L) or heldout (M-Z).")] = "tune",
    data_dir: Annotated[
        Path | None, typer.Option(help="Store folder (default: data/eval-financebench/<part>).")
    ] = None,
    no_ingest: Annotated[bool, typer.Option("--no-ingest", help="Score the store as it is.")] = False,
    no_scope: Annotated[bool, typer.Option("--no-scope", help="Search all documents for every question.")] = False,
    answers: Annotated[bool, typer.Option("--answers", help="Also answer each question (slow).")] = False,
    out: Annotated[Path | None, typer.Option(help="Write the report with every question here (JSON).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Page hit@5/@10 and right document in the top 5 on FinanceBench's questions, per question type."""
    from eval.financebench import run_financebench
    from rag.models import quiet_model_loading

    if part not in ("tune", "heldout"):
        raise typer.BadParameter("--part must be tune or heldout")
    quiet_model_loading()
    base = Settings()
    settings = Settings(
        data_dir=data_dir or base.data_dir / "eval-financebench" / part,
        models_dir=base.models_path,
        scope_questions=not no_scope,
    )
    report = run_financebench(settings, repo, part, ingest=not no_ingest, answers=answers)
    if out is not None:
        out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    summary = {k: v for k, v in report.items() if k != "rows"}
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(
        f"{part}: {report['documents']} filings, {report['chunks']} chunks; {report['questions']} questions, "
        f"{report['left_out']} left out (filings missing: {', '.join(report['missing_filings']) or 'none'})"
    )
    columns = ["questions", "page_hit_5", "page_hit_10", "document_top_5", "scoped", "scope_has_document"]
    if answers:
        columns.append("states_number")
    typer.echo(f"{'type':18}" + "".join(f"{c:>20}" for c in columns))
    for kind, rates in report["summary"].items():
        typer.echo(f"{kind:18}" + "".join(f"{rates.get(c)!s:>20}" for c in columns))


@app.command("run")
def run_command(
    question_set: Annotated[Path, typer.Option("--set", help="An eval set (JSONL).")],
    out: Annotated[Path, typer.Option(help="Folder for report.json and report.html.")],
    judge: Annotated[
        str, typer.Option(help="none; endpoint (RAG_JUDGE_BASE_URL/MODEL); local (RAG_JUDGE_MODEL served here).")
    ] = "none",
    metrics: Annotated[list[str] | None, typer.Option(help="RAGAS metrics (repeat); default all four.")] = None,
    redact: Annotated[bool, typer.Option("--redact", help="Remove personal data from the reports.")] = False,
) -> None:
    """Answer every question with the real pipeline, score the answers, write the reports, record the run."""
    report = evaluate(question_set, out, judge, metrics, redact)
    summary = "  ".join(f"{k} {v}" for k, v in report["summary"].items())
    typer.echo(f"{summary}\nLLM metrics: {report['llm_metrics']}\n-> {out / 'report.json'}\n-> {out / 'report.html'}")


@app.command()
def redteam(
    out: Annotated[Path, typer.Option(help="Folder for report.json and report.html.")],
    redteam_set: Annotated[
        Path | None, typer.Option("--set", help="A red-team set (default: the shipped one).")
    ] = None,
    docs: Annotated[
        list[Path] | None, typer.Option(help="Folders ingested into a throwaway store (default: shipped + docs/).")
    ] = None,
) -> None:
    """Run hostile and benign prompts through the guardrails and the answer path; write the classification
    report, injection success and personal data leaked."""
    report = run_redteam_once(redteam_set, docs, out)
    typer.echo("  ".join(f"{k} {v}" for k, v in report["summary"].items()))
    typer.echo(f"-> {out / 'report.json'}\n-> {out / 'report.html'}")


def _or_exit(run: Callable[[], dict]) -> dict:
    """A run of eval/runs.py, or the reason it cannot start and exit status 1."""
    from eval.runs import RunError

    try:
        return run()
    except RunError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err


def run_redteam_once(redteam_set: Path | None, docs: list[Path] | None, out: Path) -> dict:
    from eval.runs import redteam as redteam_run

    return _or_exit(lambda: redteam_run(Settings(), redteam_set, docs, out))


def evaluate(question_set: Path, out: Path, judge: str, metrics: list[str] | None, redact: bool = False) -> dict:
    """One evaluation run (eval/runs.py); exits with the reason when it cannot start."""
    from eval.runs import evaluate as evaluate_run

    return _or_exit(lambda: evaluate_run(Settings(), question_set, out, judge, metrics, redact))


@app.command()
def scheduler(
    out_root: Annotated[
        Path | None, typer.Option(help="Each run writes its reports into a new folder here (RAG_DATA_DIR/eval-runs).")
    ] = None,
    poll: Annotated[float, typer.Option(min=0.5, help="Seconds between looks at the schedule and requests.")] = 5.0,
) -> None:
    """The evaluation service: runs what the Reports page starts or schedules, until stopped (run one or more,
    on any host sharing the app's database)."""
    import signal
    import threading

    from eval.scheduler import EvaluationService
    from rag.observe.logs import setup_logging

    settings = Settings()
    setup_logging(settings, "evaluator")
    service = EvaluationService(settings, out_root or settings.data_dir / "eval-runs", poll)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    typer.echo(f"Evaluation service {service.id}: runs what the Reports page asks for (Ctrl+C to stop)", err=True)
    service.run_forever(stop)


@app.command()
def schedule(
    cron: Annotated[str, typer.Option(help="Crontab fields: 5 (minute hour day month weekday) or 6 (seconds first).")],
    question_set: Annotated[Path, typer.Option("--set", help="An eval set (JSONL).")],
    out_root: Annotated[Path, typer.Option(help="Each run writes its reports into a new folder here.")] = Path(
        "data/eval-runs"
    ),
    judge: Annotated[str, typer.Option(help="none, endpoint or local (as for `run`).")] = "none",
    runs: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many runs (default: run until stopped).")
    ] = None,
    redteam: Annotated[bool, typer.Option("--redteam", help="Also run the shipped red-team set each time.")] = False,
) -> None:
    """Run the evaluation on a schedule (APScheduler, in this process) and keep every report."""
    from datetime import datetime

    from apscheduler.schedulers.blocking import BlockingScheduler

    from records.schedule import cron_trigger

    try:
        trigger = cron_trigger(cron)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--cron") from err
    scheduler = BlockingScheduler()
    done = 0

    def run_once() -> None:
        nonlocal done
        folder = out_root / datetime.now().strftime("%Y%m%d-%H%M%S")
        report = evaluate(question_set, folder, judge, None)
        if redteam:
            run_redteam_once(None, None, folder / "redteam")
        done += 1
        typer.echo(f"run {done}: {report['run_id']} -> {folder / 'report.html'}", err=True)
        if runs is not None and done >= runs:
            scheduler.shutdown(wait=False)

    scheduler.add_job(run_once, trigger, max_instances=1, coalesce=True)
    typer.echo(f"Scheduled {question_set} at '{cron}' (Ctrl+C to stop)", err=True)
    try:
        scheduler.start()
    except KeyboardInterrupt:
        scheduler.shutdown(wait=False)
