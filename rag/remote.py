"""The openai backend: any OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, TGI ...) as the generator.

Replies are streamed with the official openai client; the server batches on its side, and the engine bounds how
many requests are sent at once (RAG_MAX_BATCH) and how many wait (RAG_MAX_QUEUE). Prompts are packed to fit the
model: tokens are counted by the model's tokenizer when RAG_GENERATOR_TOKENIZER names it (a hub id or folder),
else estimated at `CHARS_PER_TOKEN` characters per token plus `TOKENS_PER_MESSAGE` for each message's markup,
which over-counts English text (about 4 characters per token) so that a packed prompt fits.
"""

import re
import threading
from typing import Any

from rag.engine import Job
from rag.generator import WORD_JOINER, ChatTemplate, Messages

CHARS_PER_TOKEN = 3.0
TOKENS_PER_MESSAGE = 8
CONTROL_MARKUP = re.compile(r"<\||\|>|</?s>|\[/?INST\]")  # chat-turn markup of common templates


def estimate_tokens(messages: Messages) -> int:
    """A conservative token count for a model whose tokenizer is not at hand."""
    characters = sum(len(message["content"]) for message in messages)
    return int(characters / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * (len(messages) + 1)


def as_plain_text(text: str) -> str:
    """Chat markup inside a message split by an invisible character, so a document cannot open a turn of its own
    on a server whose template we do not know (see rag.generator.control_token_splitter)."""
    return CONTROL_MARKUP.sub(lambda m: m.group(0)[0] + WORD_JOINER + m.group(0)[1:], text)


class OpenAIBackend:
    """Streams each job from the server in its own thread; `step` waits until one of them ends."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        template: ChatTemplate | None = None,
        context_window: int = 4096,
        timeout_s: float = 300.0,
    ) -> None:
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout_s, max_retries=1)
        self.model = model
        self.template = template
        self.name = f"{model} at {base_url}"
        self.context_window = template.context_window if template is not None else context_window
        self.threads: set[threading.Thread] = set()
        self._ended = threading.Event()

    @property
    def running(self) -> int:
        self.threads = {thread for thread in self.threads if thread.is_alive()}
        return len(self.threads)

    def count_tokens(self, messages: Messages) -> int:
        return self.template.count_tokens(messages) if self.template is not None else estimate_tokens(messages)

    def add(self, job: Job) -> None:
        thread = threading.Thread(target=self._generate, args=(job,), daemon=True, name="openai-backend")
        self.threads.add(thread)
        thread.start()

    def step(self) -> None:
        self._ended.wait(timeout=0.05)
        self._ended.clear()

    def abort(self, error: BaseException) -> None:
        """Each request runs in its own thread and finishes on its own (a failure there fails only that job)."""

    def _request(self, job: Job) -> dict[str, Any]:
        plain = self.template.as_plain_text if self.template is not None else as_plain_text
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{**message, "content": plain(message["content"])} for message in job.messages],
            "max_tokens": job.max_new_tokens,
            "temperature": job.temperature,
            "top_p": job.top_p,
        }
        if job.schema is not None:
            schema = {"name": "reply", "schema": job.schema, "strict": True}
            request |= {"temperature": 0.0, "response_format": {"type": "json_schema", "json_schema": schema}}
        return request

    def _generate(self, job: Job) -> None:
        try:
            stream = self.client.chat.completions.create(
                **self._request(job), stream=True, stream_options={"include_usage": True}
            )
            with stream:
                for chunk in stream:
                    if job.cancelled:
                        break  # closing the stream closes the connection: the server stops generating
                    if chunk.choices and chunk.choices[0].delta.content:
                        job.new_tokens += 1  # a piece is about a token; the usage at the end is exact
                        job.emit(chunk.choices[0].delta.content)
                    if chunk.usage is not None:
                        job.new_tokens = chunk.usage.completion_tokens
            job.finish()
        except Exception as err:
            job.finish(RuntimeError(f"The model server failed: {type(err).__name__}: {err}"))
        finally:
            self._ended.set()
