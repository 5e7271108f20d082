"""Speed and memory of the pipeline, each measured side by side with the bare library call it wraps.

- ingestion: chunks/s of `Indexer.ingest` (load, clean, chunk, embed, store) vs bare `SentenceTransformer.encode`
  of the same chunk texts;
- generation: tokens/s of `RagPipeline.answer` (retrieve, pack, stream, on the configured backend) vs bare
  `model.generate` on the same prompt, forced to the same number of new tokens;
- backends: the same prompt streamed through the engine on each backend (transformers, llamacpp), beside bare
  `model.generate`: first-token time, tokens/s overall and while decoding;
- first token: seconds from the question to the first streamed piece, with a 5-passage prompt;
- peak RSS of this process, which holds everything the app holds.
"""

import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from eval.observability import observability_cost
from ingest.index import Indexer
from ingest.loaders import is_supported
from rag.backends import build_backend, llamacpp_installed
from rag.batching import TransformersBackend
from rag.engine import Engine
from rag.generator import Messages, TransformersGenerator
from rag.pipeline import RagPipeline
from rag.prompt import pack_context
from rag.settings import Settings

TARGETS = {"generation_ratio": 0.9, "ingestion_ratio": 0.8, "first_token_s": 2.0, "peak_rss_mb": 1536}


def corpus_files(corpus: list[Path], copies: int) -> list[tuple[Path, str]]:
    """The corpus files, each named `copy<i>/<name>` `copies` times, to give the timing enough chunks."""
    files = sorted(f for root in corpus for f in ([root] if root.is_file() else root.rglob("*")) if is_supported(f))
    return [(f, f"copy{i}/{f.name}") for i in range(copies) for f in files]


def bench_ingestion(pipeline: RagPipeline, settings: Settings, files: list[tuple[Path, str]]) -> dict[str, Any]:
    indexer = Indexer(pipeline.store, pipeline.embedder, settings.chunk_size, settings.chunk_overlap)
    model = pipeline.embedder.model  # type: ignore[attr-defined]
    model.encode(["warm up"] * 8)
    started = time.perf_counter()
    chunks = sum(outcome.chunks for _, outcome in indexer.ingest_files(files))  # type: ignore[union-attr]
    pipeline_s = time.perf_counter() - started
    _, texts = pipeline.store.committed_chunk_texts()  # what the pipeline embedded
    started = time.perf_counter()
    model.encode(texts, batch_size=pipeline.embedder.batch_size, normalize_embeddings=True)  # type: ignore[attr-defined]
    bare_s = time.perf_counter() - started
    return {
        "chunks": chunks,
        "pipeline_chunks_s": round(chunks / pipeline_s, 2),
        "bare_encode_chunks_s": round(len(texts) / bare_s, 2),
        "ratio": round(bare_s / pipeline_s, 3),
    }


def read_cold(engine: Any) -> None:
    """Time prompts as read the first time: without llama.cpp's prefix cache of the last prompt."""
    getattr(getattr(engine, "backend", None), "forget_prefix", lambda: None)()


def timed_stream(engine: Engine, messages: Messages, max_new_tokens: int) -> dict[str, float]:
    read_cold(engine)
    started = time.perf_counter()
    stream = engine.stream(messages, max_new_tokens=max_new_tokens, temperature=0.0, top_p=1.0)
    first = None
    for _ in stream:
        first = first or time.perf_counter()
    ended = time.perf_counter()
    first = first or ended
    decoding = (stream.new_tokens - 1) / (ended - first) if stream.new_tokens > 1 and ended > first else 0.0
    total = ended - started
    return {"first_token_s": first - started, "tokens": stream.new_tokens, "tok_s": stream.new_tokens / total,
            "decode_tok_s": decoding}  # fmt: skip


def bench_backends(
    settings: Settings, transformers: TransformersGenerator, messages: Messages, max_new_tokens: int, rounds: int
) -> dict[str, Any]:
    """Each backend's engine on the same prompt (medians of `rounds`), and bare generate for as many tokens."""
    engines = {"transformers": Engine(TransformersBackend(transformers), max_batch=1)}
    if llamacpp_installed():
        engines["llamacpp"] = Engine(build_backend(settings.model_copy(update={"generator_backend": "llamacpp"})), 1)
    results: dict[str, Any] = {}
    for name, engine in engines.items():
        timed_stream(engine, messages, 4)  # warm up
        runs = [timed_stream(engine, messages, max_new_tokens) for _ in range(rounds)]
        results[name] = {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
    tokens = int(results["transformers"]["tokens"])
    bare = [tokens / transformers.plain_generate_seconds(messages, tokens) for _ in range(rounds)]
    results["bare_generate"] = {"tokens": tokens, "tok_s": round(statistics.median(bare), 3)}
    if "llamacpp" in results:
        results["llamacpp_vs_transformers"] = round(results["llamacpp"]["tok_s"] / results["transformers"]["tok_s"], 2)
        results["llamacpp_vs_bare_generate"] = round(
            results["llamacpp"]["tok_s"] / results["bare_generate"]["tok_s"], 2
        )
    return results


def bench_generation(
    pipeline: RagPipeline, transformers: TransformersGenerator, question: str, max_new_tokens: int, rounds: int
) -> dict[str, Any]:
    generator = pipeline.generator
    hits = pipeline.retriever.retrieve(question, 5)
    budget = pipeline.prompt_budget(max_new_tokens)
    messages, used = pack_context(question, hits, generator.count_tokens, budget)
    plain_seconds = transformers.plain_generate_seconds
    plain_seconds(messages, 4)  # warm up
    pipeline_rates, bare_rates, first_tokens, answer_seconds, new_tokens = [], [], [], [], 0
    for round_number in range(rounds):
        # Alternate which one goes first, so warm-up or frequency drift favours neither.
        order = ("pipeline", "bare") if round_number % 2 == 0 else ("bare", "pipeline")
        for which in order:
            if which == "pipeline":  # round 0 runs it first, so the bare run knows how many tokens to make
                read_cold(generator)
                started = time.perf_counter()
                answer = pipeline.answer(question, top_k=5, max_new_tokens=max_new_tokens, temperature=0.0)
                for _ in answer.stream():
                    pass
                elapsed = time.perf_counter() - started
                answer_seconds.append(elapsed)
                new_tokens = answer.new_tokens
                pipeline_rates.append(new_tokens / elapsed)
                first_tokens.append(answer.first_token_s or elapsed)
            else:
                bare_rates.append(new_tokens / plain_seconds(messages, new_tokens))
    pipeline_tok_s, bare_tok_s = statistics.median(pipeline_rates), statistics.median(bare_rates)
    return {
        "question": question,
        "context_passages": len(used),
        "prompt_tokens": generator.count_tokens(messages),
        "new_tokens": new_tokens,
        "pipeline_tok_s": round(pipeline_tok_s, 2),
        "bare_generate_tok_s": round(bare_tok_s, 2),
        "ratio": round(pipeline_tok_s / bare_tok_s, 3),
        "first_token_s_p50": round(statistics.median(first_tokens), 3),
        "first_token_s_max": round(max(first_tokens), 3),
        "answer": answer.text,
        "backends": bench_backends(pipeline.settings, transformers, messages, max_new_tokens, rounds),
        "logs_and_metrics": observability_cost(pipeline, answer, statistics.median(answer_seconds)),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_bench(
    settings: Settings, corpus: list[Path], question: str, copies: int, max_new_tokens: int, rounds: int
) -> dict[str, Any]:
    """Everything in a temporary store, so the user's store is never touched."""
    workdir = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        # Relevance filters off: every timed prompt holds all 5 passages, in the pipeline and in the bare run.
        update = {"relevance_threshold": -1.0, "relevance_margin": 2.0}
        update |= {"data_dir": workdir, "models_dir": settings.models_path}
        bench_settings = settings.model_copy(update=update)
        pipeline = RagPipeline.from_settings(bench_settings)
        transformers = TransformersGenerator.from_settings(bench_settings)
        ingestion = bench_ingestion(pipeline, bench_settings, corpus_files(corpus, copies))
        generation = bench_generation(pipeline, transformers, question, max_new_tokens, rounds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rss = round(peak_rss_mb(), 1)
    checks = {
        "generation_ratio": generation["ratio"] >= TARGETS["generation_ratio"],
        "ingestion_ratio": ingestion["ratio"] >= TARGETS["ingestion_ratio"],
        "first_token_s": generation["first_token_s_p50"] < TARGETS["first_token_s"],
        "peak_rss_mb": rss < TARGETS["peak_rss_mb"],
    }
    return {
        "device": transformers.device,
        "torch_threads": torch.get_num_threads(),
        "generator": pipeline.generator.name,
        "embedder": pipeline.embedder.name,
        "ingestion": ingestion,
        "generation": generation,
        "peak_rss_mb": rss,
        "targets": TARGETS,
        "meets_targets": checks,
    }


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report as `eval bench` prints it."""
    lines: list[str] = []
    ing, gen = report["ingestion"], report["generation"]
    lines.append(f"device {report['device']}, {report['torch_threads']} threads")
    lines.append(
        f"ingestion   {ing['pipeline_chunks_s']:8.1f} chunks/s  vs bare encode {ing['bare_encode_chunks_s']:8.1f}"
        f"  ratio {ing['ratio']:.2f} ({ing['chunks']} chunks)"
    )
    lines.append(
        f"generation  {gen['pipeline_tok_s']:8.1f} tok/s     vs bare generate {gen['bare_generate_tok_s']:6.1f}"
        f"  ratio {gen['ratio']:.2f} ({gen['new_tokens']} tokens)"
    )
    lines.append(f"first token {gen['first_token_s_p50']:.3f} s (median; {gen['context_passages']} passages)")
    lines.append(f"backends, same {gen['prompt_tokens']}-token prompt (engine, batch of 1):")
    for name, row in gen["backends"].items():
        if isinstance(row, dict):
            first = f"first token {row['first_token_s']:.2f} s, " if "first_token_s" in row else ""
            lines.append(f"  {name:14} {row['tok_s']:7.1f} tok/s  ({first}{row['tokens']} tokens)")
    if "llamacpp_vs_transformers" in gen["backends"]:
        lines.append(f"  llamacpp vs transformers {gen['backends']['llamacpp_vs_transformers']}x, "
                     f"vs bare generate {gen['backends']['llamacpp_vs_bare_generate']}x")  # fmt: skip
    cost = gen["logs_and_metrics"]
    lines.append(f"logs+metrics {cost['per_answer_ms']:.3f} ms per answer = {cost['share_of_answer']:.3%} of "
                 f"{cost['answer_s']:.2f} s")  # fmt: skip
    lines.append(f"peak RSS    {report['peak_rss_mb']:.0f} MB")
    lines.append(f"meets targets: {report['meets_targets']}")
    return lines
