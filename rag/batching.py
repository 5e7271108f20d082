"""The transformers backend: dynamic batching of padded requests on an in-process model.

When the engine's batch starts, the jobs waiting are left-padded to one length and generated together by one
`model.generate` call; each row's tokens are streamed to its own caller as they come, and a row stops on its own
(end of turn, its token limit, a loop, or its caller gone) while the others go on. Jobs arriving meanwhile wait for
the next batch. A job that needs more than plain sampling (the answerability head's resumed prompt, a forbidden
opening, a JSON schema) is generated alone by the generator's own path.

Why not transformers' continuous batching (`generate_batch`): on CPUs it was slower. The same 8 prompts, 64
tokens each, greedy, on 2 cores: `generate_batch` 28.9 tokens/s, this engine's padded batches 38.7, one at a
time 17.0 (README, "Serving").
"""

from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from rag.engine import Job, reply_ends
from rag.generator import Messages, PromptRead, TransformersGenerator


class _RowStreamer(BaseStreamer):
    """Hands each row's new tokens to its job as text."""

    def __init__(self, generator: TransformersGenerator, jobs: list[Job]) -> None:
        self.tokenizer = generator.tokenizer
        self.jobs = jobs
        self.tokens: list[list[int]] = [[] for _ in jobs]
        self.sent = [0] * len(jobs)  # characters of each row's text already emitted
        eos = generator.model.generation_config.eos_token_id
        self.end_ids = {*(eos if isinstance(eos, list) else [eos]), self.tokenizer.eos_token_id} - {None}
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        for row, token in enumerate(value.reshape(-1).tolist()):
            job = self.jobs[row]
            if job.done:
                continue
            if token in self.end_ids:
                job.finish()
                continue
            self.tokens[row].append(token)
            job.new_tokens = len(self.tokens[row])
            text = self.tokenizer.decode(self.tokens[row], skip_special_tokens=True)
            if not text.endswith("\ufffd"):  # a character cut between tokens: wait for its rest
                job.emit(text[self.sent[row] :])
                self.sent[row] = len(text)
            if reply_ends(self.tokens[row], job.max_new_tokens):
                job.finish()

    def end(self) -> None:
        for job in self.jobs:
            job.finish()


class _StopFinishedRows(StoppingCriteria):
    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        done = [job.done or job.cancelled for job in self.jobs]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class TransformersBackend:
    """A TransformersGenerator behind the engine. Only the engine's thread calls `add` and `step`."""

    def __init__(self, generator: TransformersGenerator) -> None:
        self.generator = generator
        self.name = generator.name
        self.context_window = generator.context_window
        self.jobs: list[Job] = []

    @property
    def running(self) -> int:
        return len(self.jobs)

    def count_tokens(self, messages: Messages) -> int:
        return self.generator.count_tokens(messages)

    def count_text_tokens(self, text: str) -> int:
        return self.generator.count_text_tokens(text)

    def read_prompt(self, messages: Messages, layers: list[int]) -> PromptRead:
        return self.generator.read_prompt(messages, layers)

    def add(self, job: Job) -> None:
        self.jobs.append(job)

    def abort(self, error: BaseException) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            job.finish(error)

    def step(self) -> None:
        jobs, self.jobs = self.jobs, []
        alone = [job for job in jobs if job.resume is not None or job.avoid_opening or job.schema is not None]
        together = [job for job in jobs if job not in alone]
        try:
            for job in alone:
                self._generate_alone(job)
            for group in _by_sampling(together):
                self._generate_together(group) if len(group) > 1 else self._generate_alone(group[0])
        except Exception as err:
            for job in jobs:
                job.finish(err)

    def _generate_alone(self, job: Job) -> None:
        if job.schema is not None:
            reply = self.generator.complete_json(
                job.messages, job.schema, max_new_tokens=job.max_new_tokens, stop=job.stop
            )
            job.emit(reply)
            job.finish()
            return
        stream = self.generator.stream(
            job.messages, max_new_tokens=job.max_new_tokens, temperature=job.temperature, top_p=job.top_p,
            resume=job.resume, avoid_opening=job.avoid_opening, stop=job.stop,
        )  # fmt: skip
        for piece in stream:
            job.new_tokens = stream.new_tokens
            job.emit(piece)
        job.new_tokens = stream.new_tokens
        job.finish()

    def _generate_together(self, jobs: list[Job]) -> None:
        g = self.generator
        rows = [g.template.encode(job.messages)["input_ids"][0] for job in jobs]
        width = max(len(row) for row in rows)
        pad = g.tokenizer.pad_token_id if g.tokenizer.pad_token_id is not None else g.tokenizer.eos_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):  # left padding: every row's next token is at the end
            input_ids[i, width - len(row) :] = row
            attention[i, width - len(row) :] = 1
        first = jobs[0]
        args = g.generation_args(max(job.max_new_tokens for job in jobs), first.temperature, first.top_p)
        args["pad_token_id"] = pad
        streamer = _RowStreamer(g, jobs)
        with torch.inference_mode():
            g.model.generate(
                input_ids=input_ids.to(g.model.device), attention_mask=attention.to(g.model.device), **args,
                streamer=streamer, stopping_criteria=StoppingCriteriaList([_StopFinishedRows(jobs)]),
            )  # fmt: skip
        streamer.end()


def _by_sampling(jobs: list[Job]) -> list[list[Job]]:
    """Jobs that can share one `generate` call: the same temperature and top-p."""
    groups: dict[tuple[float, float], list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.temperature, job.top_p if job.temperature > 0 else 1.0), []).append(job)
    return list(groups.values())
