"""`python -m finetune`: build training data, train and merge LoRA adapters, evaluate them, adapt the embedder."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.settings import Settings

app = typer.Typer(help="Adapt the models to your documents.", no_args_is_help=True, add_completion=False)


@app.callback()
def main() -> None:
    """Adapt the models to your documents."""


@app.command()
def embedder(
    out: Annotated[Path, typer.Option(help="Folder for the fine-tuned embedder.")],
    pairs: Annotated[Path | None, typer.Option(help="JSONL of {query, passage} pairs.")] = None,
    beir: Annotated[Path | None, typer.Option(help="A BEIR folder: train on its judged pairs.")] = None,
    split: Annotated[str, typer.Option(help="BEIR split to train on (never test).")] = "train",
    from_store: Annotated[
        int, typer.Option(help="Generate this many pairs from the store's chunks (inverse cloze task).")
    ] = 0,
    corpus_pairs: Annotated[
        int, typer.Option(min=0, help="With --beir: also this many inverse-cloze pairs from its corpus.")
    ] = 0,
    epochs: Annotated[int, typer.Option(min=1)] = 3,
    batch_size: Annotated[int, typer.Option(min=2, help="Pairs per step: more in-batch negatives.")] = 128,
    learning_rate: float = 5e-5,
    hard_negatives: Annotated[
        int, typer.Option(min=0, help="Mine this many hard negatives per pair with the base embedder.")
    ] = 0,
    mini_batch_size: Annotated[
        int, typer.Option(min=0, help="Cached loss in mini-batches of this size (0: plain loss, whole batch).")
    ] = 32,
    seed: int = 13,
) -> None:
    """Fine-tune the embedder (MultipleNegativesRankingLoss) and save it as a folder RAG_EMBEDDING_MODEL can name."""
    from finetune.embedder import (
        EmbedderTrainConfig,
        beir_passages,
        pairs_from_beir,
        pairs_from_beir_corpus,
        pairs_from_jsonl,
        pairs_from_store,
        train_embedder,
    )
    from ingest.chunk import Chunker
    from rag.embedder import SentenceTransformerEmbedder
    from rag.store import open_store

    settings = Settings()
    config = EmbedderTrainConfig(
        epochs, batch_size, learning_rate, hard_negatives=hard_negatives, mini_batch_size=mini_batch_size, seed=seed
    )
    found, corpus = [], None
    try:
        if pairs is not None:
            found += pairs_from_jsonl(pairs)
        if beir is not None:
            base = SentenceTransformerEmbedder.from_settings(settings)
            chunker = Chunker(base.tokenizer(), settings.chunk_size, settings.chunk_overlap)
            found += pairs_from_beir(beir, split, chunker, base)
            corpus = beir_passages(beir, split) if hard_negatives else None
            found += pairs_from_beir_corpus(beir, split, corpus_pairs, seed) if corpus_pairs else []
        if from_store:
            found += pairs_from_store(open_store(settings), from_store, seed)
        if not found:
            raise ValueError("No training pairs: give --pairs, --beir or --from-store N.")
        summary = train_embedder(settings, found, out, config, corpus)
    except (ValueError, FileNotFoundError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(json.dumps(summary))
    typer.echo(f"Use it with RAG_EMBEDDING_MODEL={out.resolve()} and re-embed the store: python -m ingest reembed")


@app.command()
def data(
    out: Annotated[Path, typer.Option(help="Folder for train.jsonl, heldout.jsonl and data.json.")],
    qa: Annotated[
        Path | None, typer.Option(help="Questions with reference answers and sources (eval set JSONL).")
    ] = None,
    seed_file: Annotated[
        Path | None, typer.Option("--seed-file", help="JSONL of {instruction, input?, output} or {messages}.")
    ] = None,
    generate: Annotated[int, typer.Option(min=0, help="Generate this many QA pairs from the store.")] = 0,
    limit: Annotated[int | None, typer.Option(min=1, help="Use a seeded sample of this many questions.")] = None,
    unanswerable_share: Annotated[float, typer.Option(min=0.0, max=0.9)] = 0.35,
    held_out_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of documents held out (1: an evaluation-only set).")
    ] = 0.2,
    passages: Annotated[int, typer.Option(min=1, max=20, help="Context passages per example.")] = 3,
    paired: Annotated[
        bool, typer.Option(help="Train on unanswerable questions with their answerable context too.")
    ] = False,
    seed: int = 13,
    redact: Annotated[bool, typer.Option("--redact", help="Remove personal data from the examples written.")] = False,
) -> None:
    """Build training examples rendered exactly as the app prompts, with a held-out split by document."""
    from finetune.build import build_data_folder
    from rag.safety.pii import redact_jsonl

    settings = Settings()
    try:
        report = build_data_folder(
            settings, out, qa, seed_file, generate, limit, unanswerable_share, held_out_share, passages, seed, paired
        )
    except (ValueError, FileNotFoundError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    if redact:
        for written in sorted(out.glob("*.jsonl")):
            redact_jsonl(written, settings.pii_region)
    typer.echo(json.dumps(report))


@app.command()
def train(
    data_file: Annotated[Path, typer.Option("--data", help="train.jsonl from `finetune data`.")],
    out: Annotated[Path, typer.Option(help="Folder for the adapter (a standard PEFT folder).")],
    config: Annotated[str, typer.Option(help="Preset (cpu, gpu) or a TOML file.")] = "cpu",
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint in OUT.")] = False,
    max_steps: Annotated[int | None, typer.Option(help="Override the config's max_steps.")] = None,
    fit_head: Annotated[
        bool, typer.Option("--head/--no-head", help="Then fit the answerability head (see `finetune head`).")
    ] = True,
) -> None:
    """Train a LoRA (or QLoRA, on CUDA) adapter; serve it with RAG_ADAPTER=OUT."""
    from finetune.config import LoraTrainConfig
    from finetune.data import read_examples
    from finetune.train import train_adapter, write_model_card
    from rag.models import BUNDLED_GENERATOR_DIR, generator_model_path, resolve_device
    from rag.settings import BUNDLED

    settings = Settings()
    try:
        loaded = LoraTrainConfig.load(config)
        if max_steps is not None:
            loaded = loaded.model_copy(update={"max_steps": max_steps})
        examples = read_examples(data_file)
        report = train_adapter(
            generator_model_path(settings),
            f"{BUNDLED_GENERATOR_DIR} (bundled)" if settings.generator_model == BUNDLED else settings.generator_model,
            examples,
            out,
            loaded,
            resolve_device(settings.device),
            resume,
        )
    except (ValueError, FileNotFoundError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(json.dumps(report))
    kinds = report["data"]["kinds"]
    unanswerable = kinds.get("unanswerable", 0)
    if fit_head and min(unanswerable, report["data"]["examples"] - unanswerable) >= 4:
        typer.echo(json.dumps({"answerability_head": fit_head_command(settings, out, data_file, 800, 0.85)}))
        write_model_card(out, report)  # now with the head
    elif fit_head:
        typer.echo("No answerability head: that needs answerable and unanswerable examples (`finetune data`).")
    typer.echo(f"Serve it with RAG_ADAPTER={out.resolve()}")


@app.command()
def head(
    adapter: Annotated[Path, typer.Option(help="The adapter folder (the head is saved in it).")],
    data_file: Annotated[Path, typer.Option("--data", help="train.jsonl the adapter was trained on.")],
    limit: Annotated[int | None, typer.Option(min=4, help="Fit on a seeded sample of this many examples.")] = 800,
    recall: Annotated[
        float, typer.Option(min=0.5, max=0.99, help="Share of unanswerable questions to abstain on (cross-validated).")
    ] = 0.85,
) -> None:
    """Fit the answerability head: served with the adapter, it decides when to abstain."""
    typer.echo(json.dumps(fit_head_command(Settings(), adapter, data_file, limit, recall)))


def fit_head_command(
    settings: Settings, adapter: Path, data_file: Path, limit: int | None, recall: float
) -> dict[str, Any]:
    """Fit and save the head; its layer, threshold and cross-validated rates (exits with a message on bad input)."""
    from finetune.data import read_examples
    from finetune.head import fit_adapter_head
    from rag.adapter import AdapterError
    from rag.generator import TransformersGenerator
    from rag.models import quiet_model_loading

    quiet_model_loading()
    try:
        generator = TransformersGenerator.from_settings(settings.model_copy(update={"adapter": adapter}))
        fitted = fit_adapter_head(generator, adapter, read_examples(data_file), limit, recall)
    except (AdapterError, ValueError, FileNotFoundError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    return {"layer": fitted.layer, "threshold": round(fitted.threshold, 4)} | (fitted.fitted_on or {})


@app.command()
def merge(
    adapter: Annotated[Path, typer.Option(help="The adapter folder.")],
    out: Annotated[Path, typer.Option(help="Folder for the merged model.")],
) -> None:
    """Write base + adapter as one plain model folder (RAG_GENERATOR_MODEL can name it; so can vLLM)."""
    from finetune.merge import merge_adapter
    from rag.adapter import AdapterError
    from rag.models import generator_model_path

    try:
        origin = merge_adapter(generator_model_path(Settings()), adapter, out)
    except (AdapterError, FileNotFoundError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(json.dumps(origin | {"out": str(out)}))


@app.command("export-gguf")
def export_gguf(adapter: Annotated[Path, typer.Argument(help="The adapter folder (`finetune train`).")]) -> None:
    """Write the adapter as ADAPTER/adapter.gguf, which the llamacpp backend serves (RAG_ADAPTER=ADAPTER)."""
    from finetune.gguf_export import base_config, export_gguf_adapter
    from rag.adapter import AdapterError
    from rag.models import generator_model_path

    try:
        out = export_gguf_adapter(adapter, base_config(generator_model_path(Settings())))
    except AdapterError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(f"Wrote {out}: served by the llamacpp backend with RAG_ADAPTER={adapter}")


@app.command()
def evaluate(
    adapter: Annotated[Path, typer.Option(help="The adapter folder to compare with its base.")],
    data_files: Annotated[
        list[Path], typer.Option("--data", help="Held-out examples (JSONL from `finetune data`); repeatable.")
    ],
    out: Annotated[Path | None, typer.Option(help="Report folder (default: the adapter folder).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="A seeded sample of this many examples per file.")] = None,
    max_new_tokens: Annotated[int, typer.Option(min=8)] = 96,
) -> None:
    """Base vs base + adapter on held-out examples: token F1, exact match, abstention, citations, latency."""
    from finetune.data import read_examples
    from finetune.evaluate import compare, sample, set_names, write_report
    from finetune.train import write_model_card
    from rag.decide import Decider
    from rag.generator import TransformersGenerator
    from rag.models import quiet_model_loading

    quiet_model_loading()
    settings = Settings()
    names = set_names(data_files)
    sets = {name: sample(read_examples(path), limit) for name, path in zip(names, data_files, strict=True)}
    models = []
    for adapter_or_none in (None, adapter):
        chosen = settings.model_copy(update={"adapter": adapter_or_none})
        generator = TransformersGenerator.from_settings(chosen)
        models.append((generator, Decider.from_settings(chosen, generator)))  # the adapter's head decides too
    report = compare(models[0], models[1], sets, max_new_tokens)
    report["held_out"] = next(iter(report["sets"].values()))["after"]  # the first set: shown on the Admin page
    write_report(report, out or adapter)
    training = adapter / "training.json"
    if (out is None or out == adapter) and training.is_file():
        write_model_card(adapter, json.loads(training.read_text(encoding="utf-8")), report["held_out"])
    for name, result in report["sets"].items():
        typer.echo(json.dumps({"set": name, "before": result["before"], "after": result["after"]}))


@app.command("step-bench")
def step_bench(
    shape: Annotated[str, typer.Option(help="llama-3.2-1b, llama-3.2-3b or tiny.")] = "llama-3.2-1b",
    config: Annotated[str, typer.Option(help="Preset (cpu: LoRA, gpu: QLoRA) or a TOML file.")] = "gpu",
    batch: Annotated[int, typer.Option(min=1)] = 4,
    tokens: Annotated[int, typer.Option(min=8)] = 512,
) -> None:
    """One LoRA/QLoRA step on a random-weight model of a real shape: step time and peak GPU memory."""
    from finetune.config import LoraTrainConfig
    from finetune.step_bench import SHAPES, one_step
    from rag.models import resolve_device

    if shape not in SHAPES:
        typer.echo(f"Error: unknown shape '{shape}': one of {', '.join(SHAPES)}", err=True)
        raise typer.Exit(1)
    loaded = LoraTrainConfig.load(config)
    try:
        report = one_step(shape, loaded, resolve_device(Settings().device), batch, tokens)
    except ValueError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(json.dumps(report))
