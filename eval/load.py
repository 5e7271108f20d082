"""`python -m eval load`: the HTTP API under N clients at once (a benchmark that prints numbers, not a test).

For each level of concurrency, N client threads share the same questions (the set's first `count`, streamed,
`Cache-Control: no-cache` so every answer is generated): each client asks the next question not yet taken
until none is left, so every level answers the same questions. Reported per level: answers/s, generated
tokens/s, p50/p95 latency and time to first token, and errors by kind.
"""

import json
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Outcome:
    latency_s: float = 0.0
    first_token_s: float | None = None
    tokens: int = 0
    error: str | None = None


@dataclass
class Level:
    clients: int
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def report(self) -> dict[str, Any]:
        good = [o for o in self.outcomes if o.error is None]
        latencies = sorted(o.latency_s for o in good)
        firsts = sorted(o.first_token_s for o in good if o.first_token_s is not None)
        return {
            "clients": self.clients,
            "answers": len(good),
            "answers_per_s": round(len(good) / self.seconds, 3),
            "tokens_per_s": round(sum(o.tokens for o in good) / self.seconds, 1),
            "latency_p50_s": _percentile(latencies, 50),
            "latency_p95_s": _percentile(latencies, 95),
            "first_token_p50_s": _percentile(firsts, 50),
            "first_token_p95_s": _percentile(firsts, 95),
            "errors": dict(Counter(o.error for o in self.outcomes if o.error is not None)),
            "seconds": round(self.seconds, 1),
        }


def _percentile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 3)


def read_questions(path: Path) -> list[str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [json.loads(line)["question"] for line in lines]


def ask_streamed(http: httpx.Client, question: str) -> Outcome:
    started = time.perf_counter()
    outcome = Outcome()
    try:
        body = {"question": question, "stream": True}
        with http.stream("POST", "/v1/ask", json=body, headers={"Cache-Control": "no-cache"}) as response:
            if response.status_code != 200:
                response.read()
                return Outcome(error=f"HTTP {response.status_code}")
            event = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "token" and outcome.first_token_s is None:
                    outcome.first_token_s = time.perf_counter() - started
                elif line.startswith("data:") and event == "usage":
                    outcome.tokens = int(json.loads(line.split(":", 1)[1])["generated_tokens"])
                elif line.startswith("data:") and event == "answer":
                    json.loads(line.split(":", 1)[1])  # the whole object arrived and parses
                    outcome.latency_s = time.perf_counter() - started
                    return outcome
        return Outcome(error="stream ended without an answer")
    except httpx.HTTPError as err:
        return Outcome(error=type(err).__name__)


def generate_bare(http: httpx.Client, prompt: str, max_new_tokens: int) -> Outcome:
    """The bare model through the engine (`POST /generate`, admins): what batching does for decoding alone."""
    started = time.perf_counter()
    try:
        response = http.post("/generate", json={"prompt": prompt, "max_new_tokens": max_new_tokens})
    except httpx.HTTPError as err:
        return Outcome(error=type(err).__name__)
    if response.status_code != 200:
        return Outcome(error=f"HTTP {response.status_code}")
    return Outcome(time.perf_counter() - started, None, int(response.json()["new_tokens"]))


def run_level(url: str, key: str | None, questions: list[str], clients: int, generate: int = 0) -> Level:
    level = Level(clients)
    lock = threading.Lock()
    waiting = iter(questions)
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    def next_question() -> str | None:
        with lock:
            return next(waiting, None)

    def client(number: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=900) as http:
            while (question := next_question()) is not None:
                outcome = generate_bare(http, question, generate) if generate else ask_streamed(http, question)
                with lock:
                    level.outcomes.append(outcome)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    level.seconds = time.perf_counter() - started
    return level


def run_load(
    url: str, key: str | None, questions: list[str], levels: list[int], count: int, generate: int = 0
) -> dict[str, Any]:
    """`generate` > 0: each question is a bare prompt to `/generate` for that many new tokens, not a question."""
    health = httpx.get(f"{url}/healthz", timeout=30).json()
    asked = (questions * (count // len(questions) + 1))[:count]
    reports = [run_level(url, key, asked, clients, generate).report() for clients in levels]
    base = reports[0]["tokens_per_s"] or 1.0
    for report in reports:
        report["tokens_per_s_vs_first"] = round(report["tokens_per_s"] / base, 2)
    route = f"/generate ({generate} new tokens)" if generate else "/v1/ask"
    return {"url": url, "route": route, "generator": health.get("generator"), "engine": health.get("engine"),
            "levels": reports}  # fmt: skip
