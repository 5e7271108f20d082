"""Chat messages -> streamed answer text. One Protocol, one transformers implementation.

Callers use the Protocol only: counting tokens, streaming a reply, and reading a prompt once (its hidden states,
for the answerability head in rag/decide.py, and the state a reply then continues from). Nothing outside this
module touches the model or its tokenizer, except the training code in finetune/.
"""

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from rag.adapter import attach_adapter
from rag.models import generator_model_path, resolve_device
from rag.settings import Settings

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


@dataclass
class PromptRead:
    """A prompt read once: the hidden state at its last token for the layers asked for, and what a reply
    continues from without reading the prompt again (opaque to callers)."""

    hidden: dict[int, torch.Tensor]
    resume: Any


class TokenStream:
    """Text pieces as the model produces them; `new_tokens` counts the generated tokens so far."""

    def __init__(self, pieces: Iterator[str], count: Callable[[], int]) -> None:
        self._pieces = pieces
        self._count = count

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    @property
    def new_tokens(self) -> int:
        return self._count()


class Generator(Protocol):
    name: str
    context_window: int

    def count_tokens(self, messages: Messages) -> int: ...

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
    ) -> TokenStream: ...

    def read_prompt(self, messages: Messages, layers: Sequence[int]) -> PromptRead: ...


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


def loops(generated: list[int], span: int = 16) -> bool:
    """The last `span` generated tokens already appeared earlier in the reply.

    Small models decoding greedily tend to repeat a sentence until the token limit; generation ends after the
    first repeat instead of streaming the loop for the rest of `max_new_tokens`."""
    if len(generated) < 2 * span:
        return False
    tail = generated[-span:]
    earlier = generated[:-1]
    return any(earlier[i : i + span] == tail for i in range(len(earlier) - span + 1))


class _StopOnLoop(StoppingCriteria):
    """Stops a row when its reply loops (see `loops`)."""

    def __init__(self, prompt_length: int) -> None:
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        looping = [loops(row[self.prompt_length :].tolist()) for row in input_ids]
        return torch.tensor(looping, dtype=torch.bool, device=input_ids.device)


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


def weight_dtype(dtype: str, device: str) -> torch.dtype:
    """`auto` means bfloat16 on GPUs and float32 on CPUs.

    On CPUs without AVX512-BF16/AMX, bfloat16 matrix products are slow: reading a 1,000-token prompt took
    11.3 s in bfloat16 and 1.9 s in float32 (SmolLM2-135M, 2 AVX2 cores), while decoding speed was similar.
    """
    if dtype == "auto":
        dtype = "float32" if device == "cpu" else "bfloat16"
    return getattr(torch, dtype)


class ChatTemplate:
    """A chat model's tokenizer and template without its weights: renders and counts prompts exactly as the
    generator reads them (control tokens inside message text are read as plain text)."""

    def __init__(self, model: str) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self._lock = threading.Lock()  # a fast tokenizer used from several threads at once can raise
        if self.tokenizer.chat_template is None:
            raise ValueError(f"{model} has no chat template: use an instruction-tuned (chat) model.")
        self.as_plain_text = control_token_splitter(self.tokenizer)
        config = AutoConfig.from_pretrained(model)
        self.context_window = int(getattr(config, "max_position_embeddings", 2048))

    @classmethod
    def from_settings(cls, settings: Settings) -> "ChatTemplate":
        return cls(generator_model_path(settings))

    def encode(self, messages: Messages) -> dict[str, torch.Tensor]:
        """The prompt's token ids (and attention mask), ready for the model, the assistant's turn opened."""
        safe = [{**message, "content": self.as_plain_text(message["content"])} for message in messages]
        with self._lock:
            encoded = self.tokenizer.apply_chat_template(
                safe, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        return dict(encoded)

    def prompt_ids(self, messages: Messages) -> list[int]:
        return [int(token) for token in self.encode(messages)["input_ids"][0]]

    def count_tokens(self, messages: Messages) -> int:
        return int(self.encode(messages)["input_ids"].shape[1])


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
        self.template = ChatTemplate(model)
        self.tokenizer = self.template.tokenizer
        load_args: dict[str, Any] = {"dtype": weight_dtype(dtype, device)}
        if self.quantization is not None:
            load_args |= {"quantization_config": self.quantization, "device_map": device}
        self.model = AutoModelForCausalLM.from_pretrained(model, **load_args)
        if self.quantization is None:
            self.model.to(device)
        if adapter is not None:
            self.model = attach_adapter(self.model, adapter, merge=self.quantization is None)
        self.model.eval()
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self.depth = int(self.model.config.num_hidden_layers)  # hidden states: embeddings + one per layer
        self.hidden_size = int(self.model.config.hidden_size)

    @classmethod
    def from_settings(cls, settings: Settings) -> "TransformersGenerator":
        device = resolve_device(settings.device)
        return cls(generator_model_path(settings), device, settings.quantization, settings.dtype, settings.adapter)

    @property
    def device(self) -> str:
        return str(self.model.device)

    def encode(self, messages: Messages) -> dict[str, torch.Tensor]:
        """The rendered prompt (see ChatTemplate) on the model's device, ready for `generate`."""
        return {name: tensor.to(self.model.device) for name, tensor in self.template.encode(messages).items()}

    def count_tokens(self, messages: Messages) -> int:
        return self.template.count_tokens(messages)

    def count_text_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def opening_ids(self, text: str) -> list[int]:
        """The first token of `text`, bare and after a space: the ids a reply opening with it starts with."""
        return sorted({int(self.tokenizer(o, add_special_tokens=False)["input_ids"][0]) for o in (text, f" {text}")})

    def generation_args(self, max_new_tokens: int, temperature: float, top_p: float) -> dict[str, Any]:
        args: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": self.tokenizer.pad_token_id}
        if temperature > 0:
            return args | {"do_sample": True, "temperature": temperature, "top_p": top_p}
        return args | {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}

    def read_prompt(self, messages: Messages, layers: Sequence[int]) -> PromptRead:
        """One forward pass over the prompt: the hidden state at its last token for each of `layers` (0: the
        embeddings), and the cache of all but the last prompt token, from which `stream` goes on."""
        inputs = self.encode(messages)
        with torch.inference_mode():
            out = self.model(**inputs, output_hidden_states=True, use_cache=True)
        cache = out.cache
        cache.crop(-1)  # the last prompt token is read again by generate, which needs one uncached token
        hidden = {layer: out.hidden_states[layer][0, -1] for layer in layers}
        return PromptRead(hidden, {"inputs": inputs, "cache": cache})

    def opening_probability(self, messages: Messages, text: str) -> float:
        """The probability that the reply's first token is the first token of `text`."""
        with torch.inference_mode():
            logits = self.model(**self.encode(messages)).logits[0, -1]
        return float(torch.softmax(logits.float(), dim=-1)[self.opening_ids(text)[0]])

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
        """Start generating in a background thread and return the text pieces as they come.

        `resume`: the prompt as `read_prompt` read it (not read again). `avoid_opening`: a text the reply may
        not start with. Setting `stop` ends generation early (a caller that went away, a deadline)."""
        inputs = resume.resume["inputs"] if resume is not None else self.encode(messages)
        extra: dict[str, Any] = {"cache": resume.resume["cache"]} if resume is not None else {}
        if avoid_opening:
            extra["begin_suppress_tokens"] = self.opening_ids(avoid_opening)
        streamer = _CountingStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=STREAM_TIMEOUT_S
        )
        stop = stop or threading.Event()
        failure: list[BaseException] = []
        kwargs = inputs | self.generation_args(max_new_tokens, temperature, top_p) | extra
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

        return TokenStream(pieces(), lambda: streamer.new_tokens)

    def plain_generate_seconds(self, messages: Messages, new_tokens: int) -> float:
        """Seconds plain `generate` takes for exactly `new_tokens` greedy tokens, no streaming (the baseline
        `eval bench` compares the product's streaming path with)."""
        inputs = self.encode(messages)
        started = time.perf_counter()
        with torch.inference_mode():
            self.model.generate(
                **inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
            )  # fmt: skip
        return time.perf_counter() - started

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
