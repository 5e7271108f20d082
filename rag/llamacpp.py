"""The llama.cpp backend: a GGUF model run by llama-cpp-python with continuous batching.

One llama.cpp context holds a KV cache for RAG_MAX_BATCH sequences. Each engine step builds one llama.cpp batch
of the next token of every running reply plus as much of newly admitted prompts as fits (`PROMPT_CHUNK`), decodes
it once, and samples each reply's next token with its own sampler chain (greedy, or temperature + top-p, and a
JSON-schema grammar for `complete_json`). A reply that ends or whose caller left frees its sequence at once, and
the next request in the queue takes it at the next step.

Prompts share their opening (the system prompt, the first lines of the user's turn): the KV cache of the last
prompt read is kept under a sequence of its own, and a new prompt starts from the part it has in common with it
(the cache's cells are shared, not copied), so only the rest is read.

Prompts are rendered and tokenized by the model's Hugging Face chat template (rag.generator.ChatTemplate), the same
ids the transformers backend reads, so both backends see the same prompt and count tokens the same way.
"""

import codecs
import ctypes
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.engine import Job, reply_ends
from rag.generator import ChatTemplate, Messages

PROMPT_CHUNK = 512  # prompt tokens read per step beside the running replies: bounds their per-token latency
MIN_SHARED = 16  # a shared opening shorter than this is read again rather than taken from the prefix cache


class LlamaCppError(RuntimeError):
    """The GGUF model or adapter could not be loaded; the message says what to do."""


@dataclass(eq=False)
class _Sequence:
    job: Job
    seq_id: int
    prompt: list[int]
    sampler: Any
    fed: int = 0  # prompt tokens decoded so far
    last: int = -1  # the token to decode next once the prompt is read
    generated: list[int] = field(default_factory=list)
    text: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace"))

    @property
    def reading(self) -> bool:
        return self.fed < len(self.prompt)

    @property
    def position(self) -> int:
        """Where the last sampled token goes (once the prompt is read)."""
        return len(self.prompt) + len(self.generated) - 1


class LlamaCppBackend:
    """A GGUF model behind the engine (rag/engine.py). Not thread-safe: only the engine's thread calls it."""

    def __init__(
        self,
        gguf: Path,
        template: ChatTemplate,
        *,
        max_batch: int = 8,
        context_tokens: int = 2048,
        threads: int | None = None,
        adapter: Path | None = None,
        seed: int = 0,
    ) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaBatch, LlamaContext, LlamaModel

        if not gguf.is_file():
            raise LlamaCppError(f"No GGUF model at {gguf}: run `python -m rag provision`, or set RAG_GENERATOR_GGUF.")
        from llama_cpp._logger import set_verbose

        set_verbose(False)  # llama.cpp logs every load at length; errors still reach the exception raised
        llama_cpp.llama_backend_init()
        self.template = template
        self.name = f"{gguf} (llama.cpp)" if adapter is None else f"{gguf} (llama.cpp) + adapter {adapter}"
        self.seed = seed
        self.model = LlamaModel(path_model=str(gguf), params=llama_cpp.llama_model_default_params(), verbose=False)
        self.context_window = min(int(self.model.n_ctx_train()), template.context_window)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = context_tokens * (max_batch + 1)
        params.n_batch = params.n_ubatch = PROMPT_CHUNK + max_batch
        params.n_seq_max = max_batch + 1  # the replies, and the prefix cache
        params.kv_unified = True  # one cache shared by the sequences: a long prompt may use more than its share
        params.n_threads = params.n_threads_batch = threads or max(1, os.cpu_count() or 1)
        params.no_perf = True
        self.context = LlamaContext(model=self.model, params=params, verbose=False)
        if adapter is not None:
            self._attach_adapter(adapter)
        self.batch = LlamaBatch(n_tokens=PROMPT_CHUNK + max_batch, embd=0, n_seq_max=1, verbose=False)
        self.free_ids = list(range(max_batch))
        self.prefix_id, self.prefix = max_batch, list[int]()  # the prefix cache: its sequence and its tokens
        self.reused_tokens = 0  # prompt tokens taken from the prefix cache instead of read
        self.sequences: list[_Sequence] = []
        self.context_tokens = context_tokens
        self._llama = llama_cpp

    def _attach_adapter(self, adapter: Path) -> None:
        import llama_cpp

        handle = llama_cpp.llama_adapter_lora_init(self.model.model, str(adapter).encode("utf-8"))
        if not handle:
            raise LlamaCppError(
                f"llama.cpp could not load the LoRA adapter {adapter}: give it a GGUF adapter made for this model "
                "(`python -m finetune export-gguf ADAPTER_DIR`)."
            )
        self.model._exit_stack.callback(llama_cpp.llama_adapter_lora_free, handle)  # freed with the model
        adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(handle)
        scales = (ctypes.c_float * 1)(1.0)
        if llama_cpp.llama_set_adapters_lora(self.context.ctx, adapters, 1, scales) != 0:
            raise LlamaCppError(f"llama.cpp could not apply the LoRA adapter {adapter} to {self.name}.")

    @property
    def running(self) -> int:
        return len(self.sequences)

    def count_tokens(self, messages: Messages) -> int:
        return self.template.count_tokens(messages)

    def count_text_tokens(self, text: str) -> int:
        return len(self.template.tokenizer.encode(text, add_special_tokens=False))

    def add(self, job: Job) -> None:
        prompt = self.template.prompt_ids(job.messages)
        room = self.context_tokens - job.max_new_tokens
        if len(prompt) > room:
            job.finish(ValueError(f"The prompt has {len(prompt)} tokens; at most {room} fit (RAG_CONTEXT_TOKENS)."))
            return
        sequence = _Sequence(job, self.free_ids.pop(), prompt, self._sampler(job))
        sequence.fed = self._reuse_prefix(sequence)
        self.sequences.append(sequence)

    def _reuse_prefix(self, sequence: _Sequence) -> int:
        """Give a new sequence the cached KV of the opening it shares with the last prompt read; its length."""
        shared = 0
        for cached, token in zip(self.prefix, sequence.prompt[:-1], strict=False):  # the last token is read anew
            if cached != token:
                break
            shared += 1
        if shared < MIN_SHARED:
            return 0
        self._llama.llama_memory_seq_cp(self.context.memory, self.prefix_id, sequence.seq_id, 0, shared)
        self.reused_tokens += shared
        return shared

    def forget_prefix(self) -> None:
        """The next prompt is read whole (benchmarks time a prompt read cold)."""
        self.prefix = []

    def _remember_prefix(self, sequence: _Sequence) -> None:
        """A prompt has been read: keep its KV cells (shared) as the prefix cache for the next ones."""
        memory = self.context.memory
        self._llama.llama_memory_seq_rm(memory, self.prefix_id, -1, -1)
        self._llama.llama_memory_seq_cp(memory, sequence.seq_id, self.prefix_id, 0, len(sequence.prompt))
        self.prefix = sequence.prompt

    def _sampler(self, job: Job) -> Any:
        from llama_cpp._internals import LlamaSampler
        from llama_cpp.llama_grammar import LlamaGrammar

        sampler = LlamaSampler()
        if job.schema is not None:
            sampler.add_grammar(self.model, LlamaGrammar.from_json_schema(json.dumps(job.schema), verbose=False))
        if job.temperature > 0 and job.schema is None:
            sampler.add_top_p(job.top_p, 1)
            sampler.add_temp(job.temperature)
            sampler.add_dist(self.seed)
        else:
            sampler.add_greedy()
        return sampler

    def step(self) -> None:
        for sequence in [s for s in self.sequences if s.job.cancelled]:
            self._release(sequence)
        sampled = self._fill_batch()
        if self.batch.n_tokens() == 0:
            return
        status = self._llama.llama_decode(self.context.ctx, self.batch.batch)
        if status != 0:  # 1: no room in the KV cache; <0: a failure. Either way the batch's replies fail.
            error = RuntimeError(f"llama.cpp could not decode the batch (status {status}); try again.")
            for sequence in list(self.sequences):
                self._release(sequence, error)
            return
        for sequence, index in sampled:
            if not sequence.generated:  # its prompt was read in this batch
                self._remember_prefix(sequence)
            token = int(sequence.sampler.sample(self.context, index))
            self._take(sequence, token)

    def _fill_batch(self) -> list[tuple[_Sequence, int]]:
        """The next token of each running reply, then prompt tokens up to PROMPT_CHUNK; which outputs to sample."""
        self.batch.reset()
        sampled: list[tuple[_Sequence, int]] = []
        for sequence in self.sequences:
            if not sequence.reading:
                sampled.append((sequence, self._put(sequence.last, sequence.position, sequence.seq_id, True)))
        budget = PROMPT_CHUNK
        for sequence in self.sequences:
            if not sequence.reading or budget == 0:
                continue
            end = min(len(sequence.prompt), sequence.fed + budget)
            last = len(sequence.prompt) - 1
            for position in range(sequence.fed, end):
                index = self._put(sequence.prompt[position], position, sequence.seq_id, position == last)
            budget -= end - sequence.fed
            sequence.fed = end
            if not sequence.reading:
                sampled.append((sequence, index))
        return sampled

    def _put(self, token: int, position: int, seq_id: int, wants_output: bool) -> int:
        batch, index = self.batch.batch, self.batch.batch.n_tokens
        batch.token[index] = token
        batch.pos[index] = position
        batch.n_seq_id[index] = 1
        batch.seq_id[index][0] = seq_id
        batch.logits[index] = wants_output
        batch.n_tokens = index + 1
        return index

    def _take(self, sequence: _Sequence, token: int) -> None:
        job = sequence.job
        if self._llama.llama_vocab_is_eog(self.model.vocab, token):
            self._release(sequence)
            return
        sequence.generated.append(token)
        sequence.last = token
        job.new_tokens = len(sequence.generated)
        job.emit(sequence.text.decode(self._piece(token)))
        if reply_ends(sequence.generated, job.max_new_tokens):
            self._release(sequence)

    def abort(self, error: BaseException) -> None:
        for sequence in list(self.sequences):
            self._release(sequence, error)

    def _piece(self, token: int) -> bytes:
        """The token's bytes (control tokens: none); a character may span tokens, hence bytes."""
        size = 64
        while True:
            buffer = ctypes.create_string_buffer(size)
            length = self._llama.llama_token_to_piece(self.model.vocab, token, buffer, size, 0, False)
            if length >= 0:
                return buffer.raw[:length]
            size = -length

    def _release(self, sequence: _Sequence, error: BaseException | None = None) -> None:
        self._llama.llama_memory_seq_rm(self.context.memory, sequence.seq_id, -1, -1)
        sequence.sampler.close()
        self.sequences.remove(sequence)
        self.free_ids.append(sequence.seq_id)
        if error is None:
            sequence.job.emit(sequence.text.decode(b"", final=True))
        sequence.job.finish(error)
