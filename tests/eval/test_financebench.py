import json
from pathlib import Path

from eval.financebench import load_questions, numbers, run_financebench, states_number
from rag.settings import Settings
from tests.filings import write_annual_report
from tests.helpers import make_settings


def write_repo(folder: Path) -> Path:
    """A FinanceBench-shaped folder: two look-alike filings, three questions (one about a missing filing)."""
    (folder / "pdfs").mkdir(parents=True)
    (folder / "data").mkdir()
    write_annual_report(folder / "pdfs" / "ACME_2018_10K.pdf", "Acme Corporation", 2018)
    write_annual_report(folder / "pdfs" / "ACME_2019_10K.pdf", "Acme Corporation", 2019, factor=2)
    rows = [
        (
            "Acme",
            "ACME_2018_10K",
            1,
            "What is the FY2018 capital expenditure amount (in USD millions) for Acme?",
            "$1577.00",
        ),
        ("Acme", "ACME_2019_10K", 1, "What were Acme's FY2019 dividends paid to shareholders?", "$6386"),
        ("Acme", "ACME_2020_10K", 1, "What was Acme's FY2020 net income?", "$5000"),
        ("Zenith", "ZENITH_2020_10K", 1, "What was Zenith's FY2020 net income?", "$1"),
    ]
    with (folder / "data" / "financebench_open_source.jsonl").open("w") as out:
        for number, (company, document, page, question, answer) in enumerate(rows):
            evidence = [{"doc_name": document, "evidence_page_num": page, "evidence_text": ""}]
            row = {"financebench_id": f"id_{number}", "company": company, "doc_name": document}
            row |= {"question_type": "metrics-generated", "question": question, "answer": answer, "evidence": evidence}
            out.write(json.dumps(row) + "\n")
    return folder


def test_questions_are_split_by_company_and_pages_made_one_based(tmp_path: Path) -> None:
    questions = load_questions(write_repo(tmp_path))
    assert [q.part for q in questions] == ["tune", "tune", "tune", "heldout"]
    assert questions[0].document == "ACME_2018_10K.pdf" and questions[0].pages == frozenset({2})


def test_the_answer_states_the_gold_number() -> None:
    assert numbers("Capex was $(1,577) million, or 1.5%") == [-1577.0, 1.5]
    assert states_number("It was 1,577 million dollars.", "$1577.00") is True
    assert states_number("It was 1,373 million dollars.", "$1577.00") is False
    assert states_number("Yes, it did.", "Yes, it is a capital-intensive business.") is None


def test_a_part_is_ingested_and_scored(tmp_path: Path, models_dir: Path) -> None:
    repo = write_repo(tmp_path / "repo")
    settings: Settings = make_settings(tmp_path / "data", models_dir)
    report = run_financebench(settings, repo, "tune")
    assert report["questions"] == 3 and report["left_out"] == 1
    assert report["missing_filings"] == ["ACME_2020_10K.pdf"]
    assert report["documents"] == 2 and report["ingested"] == {"added": 2}
    summary = report["summary"]["all"]
    assert summary["questions"] == 2
    assert summary["page_hit_5"] == 1.0 and summary["document_top_5"] == 1.0 and summary["scoped"] == 1.0
    unscoped = run_financebench(settings.model_copy(update={"scope_questions": False}), repo, "tune", ingest=False)
    assert unscoped["ingested"] == {} and unscoped["summary"]["all"]["scoped"] == 0.0
