"""One generation engine per process: a bounded queue in front of a batching backend.

Everything in a process that answers (browser sessions, the HTTP API, `rag ask`, eval runs) generates through
its engine. A request waits in a queue of at most RAG_MAX_QUEUE (full: EngineBusyError, which says when to try
again; HTTP 503 + Retry-After); one thread feeds up to RAG_MAX_BATCH requests at a time to the backend, which
generates them together and streams each one's text to its own caller. A caller that stops reading (a closed
tab, an HTTP client gone) sets its stop event and leaves the batch at the next step.

Backends (chosen by RAG_GENERATOR_BACKEND, see rag/backends.py):
    llamacpp      continuous batching: every step decodes one token of each running request in one llama.cpp
                  batch, and a new request joins at the next step (rag/llamacpp.py)
    transformers  dynamic batching: the requests waiting when a batch starts are padded and generated together
                  (rag/batching.py)
    openai        an OpenAI-compatible server batches on its side; the engine bounds what is sent to it
                  (rag/remote.py)
"""

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rag.generator import STREAM_TIMEOUT_S, Messages, PromptRead, TokenStream, loops
from rag.observe import metrics

log = logging.getLogger(__name__)


class EngineBusyError(RuntimeError):
    """The queue is full: the message says when to try again (`retry_after_s`)."""

    def __init__(self, waiting: int, retry_after_s: int) -> None:
        super().__init__(
            f"The model is busy ({waiting} requests waiting): retry in {retry_after_s} s. An admin can raise "
            "RAG_MAX_QUEUE or RAG_MAX_BATCH, or point RAG_GENERATOR_BACKEND at a faster engine."
        )
        self.retry_after_s = retry_after_s


@dataclass(eq=False)
class Job:
    """One request to generate: the prompt and how, and the pieces of text the backend hands back."""

    messages: Messages
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    avoid_opening: str | None = None  # a text the reply may not start with (transformers only)
    resume: PromptRead | None = None  # the prompt as read by read_prompt (transformers only)
    schema: dict[str, Any] | None = None  # the reply is JSON valid for this schema
    stop: threading.Event = field(default_factory=threading.Event)
    new_tokens: int = 0
    queued_at: float = field(default_factory=time.monotonic)
    _out: "queue.SimpleQueue[str | BaseException | None]" = field(default_factory=queue.SimpleQueue)
    _done: bool = False

    @property
    def cancelled(self) -> bool:
        return self.stop.is_set()

    @property
    def done(self) -> bool:
        return self._done

    def emit(self, piece: str) -> None:
        if piece and not self._done:
            self._out.put(piece)

    def finish(self, error: BaseException | None = None) -> None:
        """The reply is complete (or failed): the caller's stream ends (or raises)."""
        if not self._done:
            self._done = True
            self._out.put(error)

    def pieces(self, timeout_s: float = STREAM_TIMEOUT_S) -> Iterator[str]:
        """The reply's text as it comes; leaving early (or an error) cancels the job."""
        try:
            while True:
                try:
                    item = self._out.get(timeout=timeout_s)
                except queue.Empty:
                    raise TimeoutError(f"No reply from the model within {timeout_s:.0f} s: try again.") from None
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise RuntimeError(f"Generation failed: {item}") from item
                yield item
        finally:
            self.stop.set()


def reply_ends(generated: list[int], max_new_tokens: int) -> bool:
    """The reply has its tokens, or loops: small models decoding greedily tend to repeat a sentence until the
    token limit, so a reply ends after its first repeat (see rag.generator.loops)."""
    return len(generated) >= max_new_tokens or loops(generated)


class Backend(Protocol):
    """A model that generates several jobs together, driven by the engine's one thread."""

    name: str
    context_window: int

    def count_tokens(self, messages: Messages) -> int: ...

    def add(self, job: Job) -> None:
        """Take a job into the running batch (its prompt is read at the next step)."""

    def step(self) -> None:
        """Advance the batch: finished, failed and cancelled jobs are finished and leave it."""

    def abort(self, error: BaseException) -> None:
        """Fail every job in the batch with `error` and empty it (the backend failed outside any one job)."""

    @property
    def running(self) -> int: ...


class Engine:
    """The Generator of a process: `stream` and `complete_json` queue a job and stream its reply."""

    def __init__(self, backend: Backend, max_batch: int = 8, max_queue: int = 64) -> None:
        self.backend = backend
        self.name = backend.name
        self.context_window = backend.context_window
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=max_queue)
        self._wait_s = 1.0  # running mean of how long admitted jobs waited in the queue, for Retry-After
        self._batch_sizes: deque[int] = deque(maxlen=200)  # the running batch's size at each recent step
        metrics.ENGINE_WAITING.set_function(self._queue.qsize)  # the process's engine (one per process)
        metrics.ENGINE_RUNNING.set_function(lambda: self.backend.running)
        threading.Thread(target=self._run, daemon=True, name="engine").start()

    # The Generator protocol ----------------------------------------------------------------------------------

    def count_tokens(self, messages: Messages) -> int:
        return self.backend.count_tokens(messages)

    def count_text_tokens(self, text: str) -> int:
        """Tokens of a plain text (a reply), by the backend's tokenizer, or about 4 characters each."""
        count = getattr(self.backend, "count_text_tokens", None)
        return int(count(text)) if count is not None else max(1, len(text) // 4)

    def read_prompt(self, messages: Messages, layers: Sequence[int]) -> PromptRead:
        read = getattr(self.backend, "read_prompt", None)
        if read is None:
            raise NotImplementedError(f"The {self.name} backend cannot read hidden states: use transformers.")
        return read(messages, layers)  # type: ignore[no-any-return]

    def stream(
        self,
        messages: Messages,
        *,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        resume: PromptRead | None = None,
        avoid_opening: str | None = None,
        stop: threading.Event | None = None,
    ) -> TokenStream:
        job = Job(messages, max_new_tokens, temperature, top_p, avoid_opening, resume)
        if stop is not None:
            job.stop = stop
        self.submit(job)
        return TokenStream(job.pieces(), lambda: job.new_tokens)

    def complete_json(
        self, messages: Messages, schema: dict[str, Any], *, max_new_tokens: int, stop: threading.Event | None = None
    ) -> str:
        """A greedy reply constrained to JSON valid for `schema` (possibly cut short: callers check it)."""
        job = Job(messages, max_new_tokens, schema=schema)
        if stop is not None:
            job.stop = stop
        self.submit(job)
        return "".join(job.pieces()).strip()

    # Queueing ------------------------------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise EngineBusyError(self._queue.qsize(), self.retry_after_s()) from None

    def retry_after_s(self) -> int:
        """About when a place in the queue frees up: how long the jobs taken lately had waited."""
        return max(1, math.ceil(self._wait_s))

    def stats(self) -> dict[str, Any]:
        """Queue depth and batch sizes, for /healthz and metrics."""
        recent = self._batch_sizes
        return {
            "backend": self.name,
            "waiting": self._queue.qsize(),
            "running": self.backend.running,
            "max_batch": self.max_batch,
            "max_queue": self.max_queue,
            "mean_batch": round(sum(recent) / len(recent), 2) if recent else 0.0,
        }

    def _admit(self) -> None:
        """Fill the batch from the queue; wait for a job only when nothing is running."""
        while self.backend.running < self.max_batch:
            try:
                job = self._queue.get(block=self.backend.running == 0, timeout=1.0)
            except queue.Empty:
                return
            if job.cancelled:
                job.finish()
                continue
            self._wait_s = 0.8 * self._wait_s + 0.2 * (time.monotonic() - job.queued_at)
            try:
                self.backend.add(job)
            except Exception as err:  # this job cannot be generated (a schema the grammar refuses, say)
                job.finish(err)

    def _run(self) -> None:
        pause = 0.5
        while True:
            try:
                self._admit()
                if self.backend.running:
                    self._batch_sizes.append(self.backend.running)
                    metrics.ENGINE_BATCH.observe(self.backend.running)
                    self.backend.step()
                pause = 0.5
            except Exception as err:  # the backend failed outside any one job: fail the batch, pause, go on
                log.exception("generation engine step failed; retrying in %.1f s", pause)
                self.backend.abort(err)
                time.sleep(pause)
                pause = min(pause * 2, 30.0)
