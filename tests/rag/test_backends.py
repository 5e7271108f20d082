"""The llamacpp and openai backends through the whole answer path. The openai backend talks to a real
OpenAI-compatible server started here: llama-cpp-python's own, on the bundled GGUF."""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.backends import build_backend, chosen_backend
from rag.components import Components
from rag.embedder import SentenceTransformerEmbedder
from rag.llamacpp import LlamaCppBackend
from rag.pipeline import RagPipeline
from rag.remote import OpenAIBackend, estimate_tokens
from rag.settings import Settings
from tests.app.test_browser import free_port
from tests.helpers import HANDBOOK_FACTS

QUESTION, PAGE, EXPECTED = HANDBOOK_FACTS[1]  # the parking permit: 40 euros, page 3


def pipeline_for(settings: Settings, embedder: SentenceTransformerEmbedder) -> RagPipeline:
    return RagPipeline(Components(settings, embedder=embedder))


def answered_from_its_context(pipeline: RagPipeline) -> None:
    answer = pipeline.answer(QUESTION)
    pieces = list(answer.stream())
    assert len(pieces) > 1 and answer.new_tokens > 0  # streamed by the backend
    assert EXPECTED in answer.text and not answer.abstained
    assert answer.sources[0].page == PAGE


def test_the_llamacpp_backend_answers_the_handbook_question(
    handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    settings = handbook_settings.model_copy(update={"generator_backend": "llamacpp"})
    pipeline = pipeline_for(settings, embedder)
    assert isinstance(pipeline.generator.backend, LlamaCppBackend)  # type: ignore[attr-defined]
    answered_from_its_context(pipeline)


@pytest.fixture(scope="module")
def llama_server(models_dir: Path) -> Iterator[str]:
    port = free_port()
    gguf = models_dir / "SmolLM2-135M-Instruct" / "model.gguf"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/models", timeout=2).raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        server.kill()
        raise RuntimeError("llama_cpp.server did not start")
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_the_openai_backend_answers_through_a_real_server(
    llama_server: str, handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    update = {"generator_backend": "openai", "generator_base_url": llama_server, "generator_model": "smollm2",
              "generator_tokenizer": "bundled"}  # fmt: skip
    settings = handbook_settings.model_copy(update=update)
    pipeline = pipeline_for(settings, embedder)
    assert isinstance(pipeline.generator.backend, OpenAIBackend)  # type: ignore[attr-defined]
    answered_from_its_context(pipeline)


def test_without_a_tokenizer_the_openai_backend_over_counts(
    llama_server: str, handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    """The stated estimate never counts fewer tokens than the model's tokenizer, so packed prompts fit."""
    update = {"generator_backend": "openai", "generator_base_url": llama_server, "generator_model": "smollm2"}
    settings = handbook_settings.model_copy(update=update)
    backend = build_backend(settings)
    assert chosen_backend(settings) == "openai" and isinstance(backend, OpenAIBackend) and backend.template is None
    pipeline = pipeline_for(settings, embedder)
    answer = pipeline.answer(QUESTION)
    assert EXPECTED in "".join(answer.stream())


def test_the_estimate_is_above_the_real_count(models_dir: Path) -> None:
    from rag.generator import ChatTemplate

    template = ChatTemplate(str(models_dir / "SmolLM2-135M-Instruct"))
    texts = [Path("README.md").read_text()[:6000], Path("docs/adding-documents.md").read_text()[:6000]]
    for text in texts:
        messages = [{"role": "system", "content": "Answer from the passages."}, {"role": "user", "content": text}]
        assert estimate_tokens(messages) >= template.count_tokens(messages)


def test_openai_settings_need_a_server_url() -> None:
    with pytest.raises(ValueError, match="RAG_GENERATOR_BASE_URL"):
        Settings(_env_file=None, generator_backend="openai")  # type: ignore[call-arg]
