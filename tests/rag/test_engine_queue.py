"""The engine's queue and batching rules, driven with a backend that emits each prompt's words one per step."""

import threading
import time

import pytest

from rag.engine import Engine, EngineBusyError, Job


class WordBackend:
    """Each step gives every running job its next word; `gate` holds the steps back when a test needs it."""

    name, context_window = "words", 1000

    def __init__(self) -> None:
        self.jobs: list[tuple[Job, list[str]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.batch_sizes: list[int] = []

    @property
    def running(self) -> int:
        return len(self.jobs)

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(len(m["content"].split()) for m in messages)

    def add(self, job: Job) -> None:
        self.jobs.append((job, job.messages[-1]["content"].split()))

    def abort(self, error: BaseException) -> None:
        for job, _ in self.jobs:
            job.finish(error)
        self.jobs.clear()

    def step(self) -> None:
        self.gate.wait()
        self.batch_sizes.append(len(self.jobs))
        for job, words in list(self.jobs):
            if job.cancelled or not words or job.new_tokens >= job.max_new_tokens:
                self.jobs.remove((job, words))
                job.finish()
                continue
            job.new_tokens += 1
            job.emit(words.pop(0) + " ")
        time.sleep(0.005)


def say(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_each_caller_gets_its_own_reply_and_they_share_batches() -> None:
    backend = WordBackend()
    engine = Engine(backend, max_batch=4, max_queue=16)
    texts = [" ".join(f"w{n}-{i}" for i in range(20)) for n in range(8)]
    results: dict[int, str] = {}

    def ask(n: int) -> None:
        results[n] = "".join(engine.stream(say(texts[n]), max_new_tokens=50, temperature=0, top_p=1)).strip()

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results == dict(enumerate(texts))
    assert max(backend.batch_sizes) == 4  # never more than RAG_MAX_BATCH at once
    assert engine.stats()["mean_batch"] > 1


def test_the_token_limit_and_the_count_reach_the_caller() -> None:
    engine = Engine(WordBackend(), max_batch=2)
    stream = engine.stream(say("a b c d e f"), max_new_tokens=3, temperature=0, top_p=1)
    assert "".join(stream).split() == ["a", "b", "c"] and stream.new_tokens == 3


def test_a_full_queue_is_busy_with_a_retry_time_and_a_caller_who_left_is_skipped() -> None:
    backend = WordBackend()
    engine = Engine(backend, max_batch=1, max_queue=2)
    backend.gate.clear()
    running = engine.stream(say("x " * 50), max_new_tokens=50, temperature=0, top_p=1)
    time.sleep(0.2)  # the first job is taken into the batch; the next two wait in the queue
    left, waiting = Job(say("gone"), 5), Job(say("kept words"), 5)
    engine.submit(left)
    engine.submit(waiting)
    with pytest.raises(EngineBusyError) as busy:
        engine.submit(Job(say("one too many"), 5))
    assert busy.value.retry_after_s >= 1 and "RAG_MAX_QUEUE" in str(busy.value)
    left.stop.set()  # its caller went away while it waited
    backend.gate.set()
    iter(running).close()  # and the running one's caller too
    assert "".join(waiting.pieces()).split() == ["kept", "words"]
    assert "".join(left.pieces()) == ""


def test_a_step_that_raises_fails_its_batch_and_the_engine_goes_on() -> None:
    class Crashing(WordBackend):
        crashed = False

        def step(self) -> None:
            if not self.crashed:
                self.crashed = True
                raise MemoryError("the machine ran out of memory")
            super().step()

    engine = Engine(Crashing(), max_batch=2)
    with pytest.raises(RuntimeError, match="ran out of memory"):
        "".join(engine.stream(say("a b"), max_new_tokens=2, temperature=0, top_p=1))
    assert "".join(engine.stream(say("c d"), max_new_tokens=2, temperature=0, top_p=1)).split() == ["c", "d"]


def test_a_job_the_backend_refuses_fails_alone() -> None:
    class Picky(WordBackend):
        def add(self, job: Job) -> None:
            if "refuse" in job.messages[-1]["content"]:
                raise ValueError("a schema the grammar cannot express")
            super().add(job)

    engine = Engine(Picky(), max_batch=2)
    with pytest.raises(RuntimeError, match="grammar cannot express"):
        "".join(engine.stream(say("refuse me"), max_new_tokens=2, temperature=0, top_p=1))
    assert "".join(engine.stream(say("fine"), max_new_tokens=2, temperature=0, top_p=1)).strip() == "fine"


def test_a_failing_backend_fails_the_job_not_the_engine() -> None:
    class Broken(WordBackend):
        def step(self) -> None:
            for job, _ in self.jobs:
                job.finish(RuntimeError("out of memory"))
            self.jobs.clear()

    engine = Engine(Broken(), max_batch=2)
    with pytest.raises(RuntimeError, match="Generation failed: out of memory"):
        "".join(engine.stream(say("a"), max_new_tokens=2, temperature=0, top_p=1))
    with pytest.raises(RuntimeError, match="out of memory"):  # the engine still takes work
        "".join(engine.stream(say("b"), max_new_tokens=2, temperature=0, top_p=1))
