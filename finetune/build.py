"""`finetune data`: gather questions, render grounded examples with the app's retriever and prompt, split."""

import json
import random
from pathlib import Path
from typing import Any

from rich.progress import Progress

from eval.sets import EvalItem, load_set
from finetune.data import Example, GroundedBuilder, build_grounded, load_seed, split_by_source, summary, write_examples
from rag.components import Components
from rag.settings import Settings


def build_data_folder(
    settings: Settings,
    out: Path,
    qa: Path | None,
    seed_file: Path | None,
    generate: int,
    limit: int | None,
    unanswerable_share: float,
    held_out_share: float,
    passages: int,
    seed: int,
    paired: bool = False,
) -> dict[str, Any]:

    if qa is None and seed_file is None and not generate:
        raise ValueError("Nothing to build from: give --qa, --seed-file or --generate N.")
    items: list[EvalItem] = load_set(qa) if qa else []
    train: list[Example] = []
    held: list[Example] = []
    if seed_file:
        seeds = load_seed(seed_file)
        random.Random(seed).shuffle(seeds)
        cut = round(len(seeds) * held_out_share)
        held, train = seeds[:cut], seeds[cut:]
    if items or generate:
        parts = Components(settings)  # the app's retriever, decide stage and prompt, from the same settings
        if parts.store.is_empty():
            raise ValueError("The store is empty: ingest the documents the questions are about first.")
        if generate:
            from finetune.generate import generate_items

            items += generate_items(parts.store, parts.generator, generate, seed)  # type: ignore[arg-type]
        if limit is not None and limit < len(items):
            items = random.Random(seed).sample(items, limit)
        builder = GroundedBuilder.from_components(parts)
        train_items, held_items = split_by_source(items, held_out_share, seed)
        with Progress(transient=True) as progress:
            task = progress.add_task("Rendering examples", total=len(items))
            tick = lambda done: progress.advance(task)  # noqa: E731
            train += build_grounded(builder, train_items, unanswerable_share, passages, seed, tick, paired)
            held += build_grounded(builder, held_items, unanswerable_share, passages, seed + 1, tick)
    random.Random(seed).shuffle(train)
    random.Random(seed).shuffle(held)
    write_examples(train, out / "train.jsonl")
    write_examples(held, out / "heldout.jsonl")
    report = {
        "train": summary(train),
        "held_out": summary(held),
        "questions": len(items),
        "skipped": len(items) - sum(1 for e in train + held if e.meta.get("kind") != "seed" and "paired" not in e.meta),
        "held_out_sources": sorted({s for e in held for s in e.meta.get("sources", [])}),
        "unanswerable_share": unanswerable_share,
        "paired": paired,
        "passages": passages,
        "seed": seed,
    }
    (out / "data.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report
