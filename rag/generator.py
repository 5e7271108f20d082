"""Chat messages -> streamed answer text. One Protocol, one transformers implementation."""

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from rag.adapter import AdapterError, adapter_head, attach_adapter
from rag.answerability import AnswerabilityHead
from rag.models import generator_model_path, resolve_device
from rag.settings import ABSTAIN_ANSWER, Settings

Messages = list[dict[str, str]]
STREAM_TIMEOUT_S = 600.0
WORD_JOINER = "\u2060"  # invisible; placed inside a token's text it stops the tokenizer from matching it


def control_token_splitter(tokenizer: Any) -> Callable[[str], str]:
    """A function that turns the tokenizer's control tokens (`<|im_start|>`, `<|endoftext|>` ...) inside a text
    into plain text, so a document or a question cannot open a chat turn of its own: the tokenizer matches those
    strings anywhere in the rendered prompt, so they are split by an invisible character after their first one.
    """
    tokens = sorted({t.content for t in tokenizer.added_tokens_decoder.values() if len(t.content) > 1}, key=len)
    if not tokens:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(token) for token in reversed(tokens)))
    return lambda text: pattern.sub(lambda m: m.group(0)[0] + WORD_JOINER + m.group(0)[1:], text)


class Generator(Protocol):
    name: str
    context_window: int

    def count_tokens(self, messages: Messages) -> int: ...

    def stream(
        self, messages: Messages, *, max_new_tokens: int, temperature: float, top_p: float, grounded: bool = False
    ) -> "TokenStream": ...


class TokenStream:
    """Text pieces as the model produces them; `new_tokens` counts the generated tokens so far;
    `p_unanswerable` is the answerability head's verdict when one read the prompt."""

    def __init__(self, pieces: Iterator[str], count: Callable[[], int], p_unanswerable: float | None = None) -> None:
        self._pieces = pieces
        self._count = count
        self.p_unanswerable = p_unanswerable

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    @property
    def new_tokens(self) -> int:
        return self._count()


class _CountingStreamer(TextIteratorStreamer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.new_tokens = 0

    def put(self, value: torch.Tensor) -> None:
        if not self.next_tokens_are_prompt:
            self.new_tokens += int(value.numel())
        super().put(value)


class _StopWhenSet(StoppingCriteria):
    """Stops generation when the reader goes away (e.g. a browser tab closed mid-answer)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class _StopOnLoop(StoppingCriteria):
    """Stops when the last `span` generated tokens already appeared earlier in the answer.

    Small models decoding greedily tend to repeat a sentence until the token limit; this ends the answer
    after the first repeat instead of streaming the loop for the rest of `max_new_tokens`.
    """

    def __init__(self, prompt_length: int, span: int = 16) -> None:
        self.prompt_length = prompt_length
        self.span = span

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        looping = [self._repeats(row[self.prompt_length :].tolist()) for row in input_ids]
        return torch.tensor(looping, dtype=torch.bool, device=input_ids.device)

    def _repeats(self, generated: list[int]) -> bool:
        if len(generated) < 2 * self.span:
            return False
        tail = generated[-self.span :]
        earlier = generated[:-1]
        return any(earlier[i : i + self.span] == tail for i in range(len(earlier) - self.span + 1))


def quantization_config(quantization: str, device: str) -> BitsAndBytesConfig | None:
    """`auto` means bitsandbytes nf4 on CUDA and full bf16 weights elsewhere (4-bit on CPU is slow and worse)."""
    if quantization == "auto":
        quantization = "nf4" if device == "cuda" else "none"
    if quantization == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def checked_head(adapter: Path, config: Any) -> AnswerabilityHead | None:
    """The adapter's answerability head, if it has one that fits the model."""
    head = adapter_head(adapter)
    if head is None:
        return None
    if head.layer > config.num_hidden_layers or len(head.coef) != config.hidden_size:
        raise AdapterError(
            f"The answerability head in {adapter} reads layer {head.layer} of size {len(head.coef)}; the model has "
            f"{config.num_hidden_layers} layers of size {config.hidden_size}. Refit it with `finetune head`."
        )
    return head


def weight_dtype(dtype: str, device: str) -> torch.dtype:
    """`auto` means bfloat16 on GPUs and float32 on CPUs.

    On CPUs without AVX512-BF16/AMX, bfloat16 matrix products are slow: reading a 1,000-token prompt took
    11.3 s in bfloat16 and 1.9 s in float32 (SmolLM2-135M, 2 AVX2 cores), while decoding speed was similar.
    """
    if dtype == "auto":
        dtype = "float32" if device == "cpu" else "bfloat16"
    return getattr(torch, dtype)


class TransformersGenerator:
    """A causal LM from a folder or hub id, run in-process with streaming."""

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        quantization: str = "none",
        dtype: str = "auto",
        adapter: Path | None = None,
    ) -> None:
        self.name = model if adapter is None else f"{model} + adapter {adapter}"
        self.quantization = quantization_config(quantization, device)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        if self.tokenizer.chat_template is None:
            raise ValueError(f"{model} has no chat template: use an instruction-tuned (chat) model.")
        self.as_plain_text = control_token_splitter(self.tokenizer)
        load_args: dict[str, Any] = {"dtype": weight_dtype(dtype, device)}
        if self.quantization is not None:
            load_args |= {"quantization_config": self.quantization, "device_map": device}
        self.model = AutoModelForCausalLM.from_pretrained(model, **load_args)
        if self.quantization is None:
            self.model.to(device)
        self.head: AnswerabilityHead | None = None
        if adapter is not None:
            self.model = attach_adapter(self.model, adapter, merge=self.quantization is None)
            self.head = checked_head(adapter, self.model.config)
        self.model.eval()
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 2048))
        # The abstention sentence's first token, bare and after a space: what an answer may not open with.
        openings = [ABSTAIN_ANSWER, f" {ABSTAIN_ANSWER}"]
        self.abstain_openings = [int(self.tokenizer(o, add_special_tokens=False)["input_ids"][0]) for o in openings]

    @classmethod
    def from_settings(cls, settings: Settings) -> "TransformersGenerator":
        device = resolve_device(settings.device)
        return cls(generator_model_path(settings), device, settings.quantization, settings.dtype, settings.adapter)

    def encode(self, messages: Messages) -> dict[str, torch.Tensor]:
        """Render the chat template (system + user) and tokenize, ready for `generate`. Control tokens written
        inside the messages (by a document, a question, an API client) are read as plain text."""
        safe = [{**message, "content": self.as_plain_text(message["content"])} for message in messages]
        encoded = self.tokenizer.apply_chat_template(
            safe, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        return {name: tensor.to(self.model.device) for name, tensor in encoded.items()}

    def count_tokens(self, messages: Messages) -> int:
        return int(self.encode(messages)["input_ids"].shape[1])

    def generation_args(self, max_new_tokens: int, temperature: float, top_p: float) -> dict[str, Any]:
        args: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": self.tokenizer.pad_token_id}
        if temperature > 0:
            return args | {"do_sample": True, "temperature": temperature, "top_p": top_p}
        return args | {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}

    def prefill(self, inputs: dict[str, torch.Tensor], head: AnswerabilityHead) -> tuple[float, Any]:
        """One forward pass over the prompt: the head's P(unanswerable), and the cache of all but the last
        prompt token, from which `generate` goes on without reading the prompt again."""
        with torch.inference_mode():
            out = self.model(**inputs, output_hidden_states=True, use_cache=True)
        cache = out.cache
        cache.crop(-1)  # the last prompt token is read again by generate, which needs one uncached token
        return head.probability(out.hidden_states[head.layer][0, -1]), cache

    def stream(
        self,
        messages: Messages,
        *,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        grounded: bool = False,
        stop: threading.Event | None = None,
    ) -> TokenStream:
        """Start generating in a background thread and return the text pieces as they come.

        `grounded` marks the app's answer prompt (context passages and a question). Only there does an
        answerability head decide: unanswerable -> the abstention sentence, without generating; answerable ->
        the model answers, and may not open with the abstention sentence. Other prompts (follow-up rewriting,
        the judge, `rag serve`) never meet the head. Setting `stop` ends generation early (a caller that went
        away, a deadline)."""
        inputs = self.encode(messages)
        prefilled: dict[str, Any] = {}
        p_unanswerable = None
        if grounded and self.head is not None:
            p_unanswerable, cache = self.prefill(inputs, self.head)
            if p_unanswerable >= self.head.threshold:
                return TokenStream(iter([ABSTAIN_ANSWER]), lambda: 0, p_unanswerable)
            prefilled = {"cache": cache, "begin_suppress_tokens": self.abstain_openings}
        streamer = _CountingStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=STREAM_TIMEOUT_S
        )
        stop = stop or threading.Event()
        failure: list[BaseException] = []
        kwargs = inputs | self.generation_args(max_new_tokens, temperature, top_p) | prefilled
        stopping = StoppingCriteriaList([_StopWhenSet(stop), _StopOnLoop(int(inputs["input_ids"].shape[1]))])
        kwargs |= {"streamer": streamer, "stopping_criteria": stopping}

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs)
            except BaseException as err:  # handed to the reading thread below
                failure.append(err)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True, name="generate")

        def pieces() -> Iterator[str]:
            thread.start()
            try:
                yield from (piece for piece in streamer if piece)
            finally:
                stop.set()  # the reader stopped early or finished: let generate() return
                thread.join()
            if failure:
                raise RuntimeError(f"Generation failed: {failure[0]}") from failure[0]

        return TokenStream(pieces(), lambda: streamer.new_tokens, p_unanswerable)

    def complete_json(
        self, messages: Messages, schema: dict[str, Any], *, max_new_tokens: int, stop: threading.Event | None = None
    ) -> str:
        """A greedy reply constrained to JSON valid for `schema` (cut short at `max_new_tokens` or by `stop`, it
        may be incomplete: callers check it)."""
        from transformers import LogitsProcessorList

        from rag.constrained import JsonSchemaLogitsProcessor

        inputs = self.encode(messages)
        prompt_length = int(inputs["input_ids"].shape[1])
        constrained = JsonSchemaLogitsProcessor(self.tokenizer, schema, prompt_length)
        kwargs = inputs | self.generation_args(max_new_tokens, 0.0, 1.0)
        stopping = StoppingCriteriaList([_StopWhenSet(stop or threading.Event())])
        with torch.inference_mode():
            output = self.model.generate(
                **kwargs, logits_processor=LogitsProcessorList([constrained]), stopping_criteria=stopping
            )
        return str(self.tokenizer.decode(output[0, prompt_length:], skip_special_tokens=True)).strip()
