"""The generation engine with its real backends: the bundled GGUF on llama.cpp, the bundled model on transformers."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rag.backends import build_backend, chosen_backend
from rag.engine import Engine, EngineBusyError, Job
from rag.generator import ChatTemplate
from rag.llamacpp import PROMPT_CHUNK
from tests.helpers import make_settings

COUNTRIES = ["France", "Germany", "Italy", "Spain", "Japan", "China", "Egypt", "Peru",
             "Chile", "Canada", "India", "Kenya", "Greece", "Norway", "Poland", "Cuba"]  # fmt: skip


def capital(country: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"What is the capital of {country}?"}]


def engine_of(models_dir: Path, backend: str, max_batch: int, max_queue: int = 64) -> Engine:
    settings = make_settings(Path("unused"), models_dir, generator_backend=backend, max_batch=max_batch)
    return Engine(build_backend(settings), max_batch=max_batch, max_queue=max_queue)


@pytest.fixture(scope="module")
def llama_engine(models_dir: Path) -> Engine:
    return engine_of(models_dir, "llamacpp", max_batch=8)


def test_auto_picks_llamacpp_on_a_cpu_with_the_bundled_gguf(models_dir: Path) -> None:
    assert chosen_backend(make_settings(Path("unused"), models_dir)) == "llamacpp"
    assert chosen_backend(make_settings(Path("unused"), models_dir, generator_gguf=Path("/nowhere.gguf"))) == (
        "transformers"
    )


def test_sixteen_threads_at_once_each_get_their_own_answer(llama_engine: Engine) -> None:
    """Greedy replies generated together are the replies generated alone. llama.cpp's sums depend on the shape
    of the batch, so a reply at a near tie between two tokens may take the other one: a few may differ, but
    none is another caller's."""

    def ask(country: str) -> tuple[str, int]:
        stream = llama_engine.stream(capital(country), max_new_tokens=12, temperature=0.0, top_p=1.0)
        return "".join(stream), stream.new_tokens

    alone = [ask(country) for country in COUNTRIES]
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(ask, COUNTRIES))
    assert sum(a == b for a, b in zip(alone, together, strict=True)) >= 13
    for i, (text, _) in enumerate(together):
        assert all(text != other for j, (other, _) in enumerate(alone) if j != i)
    assert len(set(alone)) == 16 and all(0 < tokens <= 12 for _, tokens in alone)
    assert "Berlin" in alone[1][0]
    assert llama_engine.stats()["mean_batch"] > 1  # they were generated together, not one after another


def test_one_question_asked_by_many_at_once_gets_one_answer(llama_engine: Engine) -> None:
    alone = "".join(llama_engine.stream(capital("Germany"), max_new_tokens=16, temperature=0.0, top_p=1.0))
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda _: "".join(llama_engine.stream(
            capital("Germany"), max_new_tokens=16, temperature=0.0, top_p=1.0)), range(8)))  # fmt: skip
    assert together == [alone] * 8 and "Berlin" in alone


def test_long_prompts_are_read_in_chunks_and_share_their_opening(models_dir: Path) -> None:
    """A prompt longer than a step's chunk is read over several steps; a second prompt with the same opening
    (a long system prompt) takes it from the prefix cache and gets the answer it gets alone."""
    rules = "You are a helpful assistant. " + " ".join(f"Rule {n}: be brief and polite." for n in range(150))
    questions = [[{"role": "system", "content": rules}, *capital(country)] for country in ("Germany", "France")]
    engine = engine_of(models_dir, "llamacpp", max_batch=2)
    assert engine.count_tokens(questions[0]) > 2 * PROMPT_CHUNK
    first, second = ("".join(engine.stream(q, max_new_tokens=12, temperature=0.0, top_p=1.0)) for q in questions)
    assert engine.backend.reused_tokens > PROMPT_CHUNK  # type: ignore[attr-defined]
    fresh = engine_of(models_dir, "llamacpp", max_batch=2)
    assert second == "".join(fresh.stream(questions[1], max_new_tokens=12, temperature=0.0, top_p=1.0))
    assert "Berlin" in first and "Paris" in second


def test_a_cancelled_request_frees_its_place_in_the_batch(models_dir: Path) -> None:
    engine = engine_of(models_dir, "llamacpp", max_batch=1)
    long = [{"role": "user", "content": "Write a long story about a dragon and a knight."}]
    stream = iter(engine.stream(long, max_new_tokens=2000 - 600, temperature=0.0, top_p=1.0))
    next(stream)  # it runs, and holds the only place
    started = time.perf_counter()
    waiting = ThreadPoolExecutor(1).submit(
        lambda: "".join(engine.stream(capital("Peru"), max_new_tokens=8, temperature=0.0, top_p=1.0))
    )
    time.sleep(0.5)
    assert not waiting.done() and engine.stats()["running"] == 1
    stream.close()  # the caller goes away (a closed tab)
    assert "lima" in waiting.result(timeout=30).lower()
    assert time.perf_counter() - started < 30


def test_a_full_queue_says_busy_and_when_to_retry(models_dir: Path) -> None:
    engine = engine_of(models_dir, "llamacpp", max_batch=1, max_queue=1)
    stop = threading.Event()
    running = engine.stream(capital("France"), max_new_tokens=1000, temperature=0.0, top_p=1.0, stop=stop)
    next(iter(running))
    engine.submit(Job(capital("Spain"), 4))  # waits in the queue's one place
    with pytest.raises(EngineBusyError, match=r"busy .*retry in \d+ s") as busy:
        engine.stream(capital("Chile"), max_new_tokens=4, temperature=0.0, top_p=1.0)
    assert busy.value.retry_after_s >= 1
    stop.set()


def test_json_replies_follow_the_schema_on_llamacpp(llama_engine: Engine) -> None:
    import json

    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    reply = llama_engine.complete_json(
        [{"role": "user", "content": "Which city is the capital of France? Reply in JSON."}], schema, max_new_tokens=32
    )
    assert isinstance(json.loads(reply)["city"], str)


def test_transformers_backend_batches_padded_requests(models_dir: Path) -> None:
    engine = engine_of(models_dir, "transformers", max_batch=4)
    words = COUNTRIES[:4]
    alone = {w: "".join(engine.stream(capital(w), max_new_tokens=10, temperature=0.0, top_p=1.0)) for w in words}
    with ThreadPoolExecutor(4) as pool:
        together = dict(zip(words, pool.map(lambda w: "".join(engine.stream(
            capital(w), max_new_tokens=10, temperature=0.0, top_p=1.0)), words), strict=True))  # fmt: skip
    assert together == alone
    assert len(set(alone.values())) == 4
    assert engine.stats()["mean_batch"] > 1


def test_the_chat_template_counts_from_many_threads_at_once(models_dir: Path) -> None:
    template = ChatTemplate(str(models_dir / "SmolLM2-135M-Instruct"))
    messages = [[{"role": "user", "content": f"{w} " * (i + 1)}] for i, w in enumerate(COUNTRIES * 8)]
    expected = [template.count_tokens(m) for m in messages]
    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(template.count_tokens, messages)) == expected
