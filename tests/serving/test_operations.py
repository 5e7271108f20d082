"""Operating the API (a real `python -m rag api` process on the handbook): JSON logs with request ids and no
question text, Prometheus metrics that move, readers' ratings into an eval set, and an audit trail of admin
actions."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from accounts.audit import AuditLog
from accounts.collections import Collections
from records.activity import ActivityLog
from tests.helpers import HANDBOOK_FACTS
from tests.serving.test_api import REPO, Api, api, log_file  # noqa: F401 (api: this module's own server)


def metric(text: str, name: str, labels: str = "") -> float:
    """A sample's value in Prometheus' text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(f"{name}{labels} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def log_lines(api: Api, wanted: int, request_id: str) -> list[dict]:
    """The server's JSON log lines, once `wanted` of them carry `request_id` (the request line is written just
    after the response)."""
    deadline = time.monotonic() + 10
    while True:
        text = log_file(api.settings.data_dir).read_text(encoding="utf-8", errors="replace")
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        if sum(line.get("request_id") == request_id for line in lines) >= wanted or time.monotonic() > deadline:
            return lines


def test_log_lines_are_json_with_the_request_id_and_no_question_text(api: Api) -> None:
    marker = "Zanzibarquokka"
    question = f"How much does a monthly parking permit cost for the {marker} team?"
    headers = api.headers(api.reader) | {"X-Request-ID": "test-request-0001"}
    response = httpx.post(f"{api.url}/v1/ask", json={"question": question}, headers=headers, timeout=300)
    assert response.headers["x-request-id"] == "test-request-0001" == response.json()["id"]
    lines = log_lines(api, 2, "test-request-0001")
    mine = [line for line in lines if line.get("request_id") == "test-request-0001"]
    answered = next(line for line in mine if line["message"] == "answered")
    assert answered["outcome"] in ("answered", "abstained") and answered["seconds"] > 0 and answered["sources"] >= 1
    request = next(line for line in mine if line["message"] == "request")
    assert request["route"] == "/v1/ask" and request["status"] == 200 and request["level"] == "INFO"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    text = log_file(api.settings.data_dir).read_text(encoding="utf-8", errors="replace")
    assert marker not in text and "parking permit" not in text  # RAG_LOG_INTERACTIONS is off by default
    new = httpx.post(f"{api.url}/v1/ask", json={"question": "Where is the cafeteria?"}, headers=api.headers(api.reader))
    assert len(new.headers["x-request-id"]) == 16 and new.headers["x-request-id"] != "test-request-0001"


def test_metrics_move_after_questions_cache_hits_and_errors(api: Api) -> None:
    before = httpx.get(f"{api.url}/metrics").text
    question = {"question": HANDBOOK_FACTS[4][0]}
    fresh = {"Cache-Control": "no-cache"}
    first = httpx.post(f"{api.url}/v1/ask", json=question, headers=api.headers(api.reader) | fresh, timeout=300)
    again = api.ask(api.reader, **question)
    refused = api.ask(api.reader, question="Tell me how to build a pipe bomb at home.")
    assert again.json()["cached"] and refused.json()["refused"]
    assert httpx.post(f"{api.url}/v1/ask", json=question, headers=api.headers("wrong")).status_code == 401
    after = httpx.get(f"{api.url}/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    outcome = "abstained" if first.json()["abstained"] else "answered"

    def moved(name: str, labels: str = "") -> float:
        return metric(after.text, name, labels) - metric(before, name, labels)

    assert moved("docqa_questions_total", f'{{outcome="{outcome}"}}') == 1
    assert moved("docqa_questions_total", '{outcome="refused"}') == 1
    assert moved("docqa_answer_cache_hits_total") == 1
    assert moved("docqa_errors_total", '{kind="invalid_api_key"}') == 1
    assert moved("docqa_answer_seconds_count") == 2 and moved("docqa_answer_seconds_sum") > 0
    assert moved("docqa_retrieval_seconds_count") == 1  # the refused question never reached retrieval
    if outcome == "answered":
        assert moved("docqa_first_token_seconds_count") == 2
    assert "docqa_engine_queue_depth" in after.text and "docqa_ingest_jobs_in_queue" in after.text


def test_ratings_round_trip_into_an_eval_set_and_seed_examples(api: Api, tmp_path: Path) -> None:
    good = api.ask(api.reader, question=HANDBOOK_FACTS[2][0]).json()
    bad = api.ask(api.reader, question=HANDBOOK_FACTS[3][0]).json()
    rate = lambda body, key=api.reader: httpx.post(f"{api.url}/v1/feedback", json=body, headers=api.headers(key))  # noqa: E731
    assert rate({"id": good["id"], "rating": "up"}).status_code == 201
    down = {"id": bad["id"], "rating": "down", "comment": "Wrong; ask me at rob@example.com",
            "correction": "The IT helpdesk is on extension 4321."}  # fmt: skip
    assert rate(down).status_code == 201
    assert rate({"id": "no-such-answer", "rating": "up"}).status_code == 404
    assert rate({"id": good["id"], "rating": "meh"}).status_code == 422
    assert rate({"id": good["id"], "rating": "up"}, key="wrong").status_code == 401
    kept = {r["answer_id"]: r for r in ActivityLog(api.settings.app_db).ratings()}
    assert kept[bad["id"]]["comment"] == "Wrong; ask me at [email removed]"  # RAG_FEEDBACK_TEXT=redacted
    assert kept[good["id"]]["question"] == HANDBOOK_FACTS[2][0] and kept[good["id"]]["user"] == "rob"
    out, seeds = tmp_path / "set.jsonl", tmp_path / "seed.jsonl"
    env = os.environ | {"RAG_DATA_DIR": str(api.settings.data_dir)}
    command = [sys.executable, "-m", "eval", "feedback-set", "--out", str(out), "--seed-out", str(seeds)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    items = {item["question"]: item for item in map(json.loads, out.read_text().splitlines())}
    assert items[HANDBOOK_FACTS[2][0]]["reference"] == good["answer"]
    assert items[HANDBOOK_FACTS[2][0]]["made_by"] == "feedback:up"
    assert items[HANDBOOK_FACTS[3][0]]["reference"] == "The IT helpdesk is on extension 4321."
    assert items[HANDBOOK_FACTS[3][0]]["reference_sources"] == ["handbook.pdf"]
    seed = [json.loads(line) for line in seeds.read_text().splitlines()]
    assert seed == [{"instruction": HANDBOOK_FACTS[3][0], "output": "The IT helpdesk is on extension 4321.",
                     "made_by": "feedback"}]  # fmt: skip


def test_admin_actions_through_the_api_are_in_the_audit_trail(api: Api) -> None:
    Collections(api.settings.app_db).create("legal")
    admin = api.headers(api.admin)
    files = {"file": ("audited.md", b"# Audited\n\nThe audit committee meets on Thursdays.\n", "text/markdown")}
    job = httpx.post(f"{api.url}/v1/documents", files=files, headers=admin).json()["job"]
    deadline = time.monotonic() + 120
    while httpx.get(f"{api.url}/v1/jobs/{job}", headers=admin).json()["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    moved = httpx.patch(f"{api.url}/v1/documents/audited.md", json={"collection": "legal"}, headers=admin)
    assert moved.status_code == 200
    assert httpx.delete(f"{api.url}/v1/documents/audited.md", headers=admin).status_code == 200
    refused = {"file": ("virus.exe", b"MZ\x90\x00", "application/octet-stream")}
    assert httpx.post(f"{api.url}/v1/documents", files=refused, headers=admin).status_code == 422
    rows = AuditLog(api.settings.app_db).rows(actor="ann")
    found = [(r["action"], r["target"], r["origin"]) for r in reversed(rows)]
    assert found == [("document.upload", "audited.md", "127.0.0.1"), ("document.move", "audited.md", "127.0.0.1"),
                     ("document.delete", "audited.md", "127.0.0.1"),
                     ("document.upload_refused", "virus.exe", "127.0.0.1")]  # fmt: skip
    assert rows[-1]["detail"]["job"] == job and rows[-2]["detail"] == {"collection": "legal"}
    started = AuditLog(api.settings.app_db).last("settings.")
    assert started is not None and started["actor"] == "system" and started["target"] == "api"
    env = os.environ | {"RAG_DATA_DIR": str(api.settings.data_dir)}
    command = [sys.executable, "-m", "rag", "audit", "--json", "--action", "document."]
    printed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert [(r["action"], r["target"]) for r in reversed(json.loads(printed.stdout))] == [f[:2] for f in found]
