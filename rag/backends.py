"""Which backend generates (RAG_GENERATOR_BACKEND), built from the settings, and the one engine per process.

auto          llamacpp on a CPU when llama-cpp-python is installed and a GGUF is at hand (the bundled model
              ships as one; a served adapter needs its GGUF export), else transformers
transformers  the model in-process with torch: GPUs (bitsandbytes nf4), adapters with an answerability head
llamacpp      a GGUF file with llama.cpp: several times faster on CPUs
openai        an OpenAI-compatible server (vLLM, llama.cpp server, Ollama, TGI)
"""

import threading
from pathlib import Path

from rag.adapter import AdapterError, adapter_head
from rag.engine import Backend, Engine
from rag.generator import ChatTemplate, TransformersGenerator
from rag.models import BUNDLED_GGUF, BUNDLED_GGUF_Q8, bundled_generator_dir, generator_model_path, resolve_device
from rag.settings import BUNDLED, Settings

ADAPTER_GGUF = "adapter.gguf"  # written into the adapter folder by `finetune export-gguf`

_engines: dict[tuple[object, ...], Engine] = {}
_engines_lock = threading.Lock()


def gguf_path(settings: Settings) -> Path | None:
    """The GGUF llamacpp runs: RAG_GENERATOR_GGUF, or the bundled model's (its Q8_0 copy when provisioning made
    one, else the file as shipped)."""
    if settings.generator_gguf is not None:
        return settings.generator_gguf
    if settings.generator_model == BUNDLED:
        folder = bundled_generator_dir(settings)
        return folder / BUNDLED_GGUF_Q8 if (folder / BUNDLED_GGUF_Q8).is_file() else folder / BUNDLED_GGUF
    return None


def adapter_gguf(settings: Settings) -> Path | None:
    return settings.adapter / ADAPTER_GGUF if settings.adapter is not None else None


def llamacpp_installed() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


def chosen_backend(settings: Settings) -> str:
    """RAG_GENERATOR_BACKEND with `auto` decided."""
    if settings.generator_backend != "auto":
        return settings.generator_backend
    gguf, adapter = gguf_path(settings), adapter_gguf(settings)
    fits = (
        resolve_device(settings.device) == "cpu"
        and llamacpp_installed()
        and gguf is not None
        and gguf.is_file()
        and (adapter is None or (adapter.is_file() and adapter_head(settings.adapter) is None))  # type: ignore[arg-type]
    )
    return "llamacpp" if fits else "transformers"


def build_backend(settings: Settings) -> Backend:
    kind = chosen_backend(settings)
    if kind == "openai":
        from rag.remote import OpenAIBackend

        assert settings.generator_base_url is not None  # Settings checks it
        template = None
        if settings.generator_tokenizer:
            named = settings.model_copy(update={"generator_model": settings.generator_tokenizer})
            template = ChatTemplate(generator_model_path(named))
        key = settings.generator_api_key.get_secret_value() if settings.generator_api_key else None
        return OpenAIBackend(
            settings.generator_base_url, settings.generator_model, api_key=key, template=template,
            context_window=settings.context_tokens,
        )  # fmt: skip
    if kind == "llamacpp":
        from rag.llamacpp import LlamaCppBackend

        gguf = gguf_path(settings)
        if gguf is None:
            raise AdapterError("RAG_GENERATOR_BACKEND=llamacpp needs a GGUF: set RAG_GENERATOR_GGUF.")
        adapter = adapter_gguf(settings)
        if adapter is not None and not adapter.is_file():
            raise AdapterError(
                f"llama.cpp serves adapters as GGUF: run `python -m finetune export-gguf {settings.adapter}`, or "
                "set RAG_GENERATOR_BACKEND=transformers."
            )
        return LlamaCppBackend(
            gguf, ChatTemplate.from_settings(settings), max_batch=settings.max_batch,
            context_tokens=settings.context_tokens, threads=settings.generator_threads, adapter=adapter,
        )  # fmt: skip
    from rag.batching import TransformersBackend

    return TransformersBackend(TransformersGenerator.from_settings(settings))


def _engine_key(settings: Settings) -> tuple[object, ...]:
    fields = (
        "generator_model", "generator_gguf", "generator_base_url", "generator_tokenizer", "generator_threads",
        "adapter", "device", "quantization", "dtype", "max_batch", "max_queue", "context_tokens", "models_dir",
    )  # fmt: skip
    return (chosen_backend(settings), *(str(getattr(settings, name)) for name in fields))


def shared_engine(settings: Settings) -> Engine:
    """The process's engine for these settings: built once, shared by every caller (app sessions, API, CLI)."""
    key = _engine_key(settings)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = Engine(build_backend(settings), settings.max_batch, settings.max_queue)
        return _engines[key]
