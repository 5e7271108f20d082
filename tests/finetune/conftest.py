"""Grounded examples from the handbook store and one adapter trained for a few real CPU steps, shared."""

from pathlib import Path

import pytest

from eval.sets import EvalItem
from finetune.config import LoraTrainConfig
from finetune.data import Example, GroundedBuilder
from finetune.train import train_adapter
from rag.components import Components
from rag.embedder import SentenceTransformerEmbedder
from rag.generator import TransformersGenerator
from rag.models import generator_model_path
from rag.settings import Settings
from tests.helpers import HANDBOOK_FACTS, HANDBOOK_SECTIONS

# Small and fast, with a learning rate high enough for the loss to move in a handful of steps.
TINY = LoraTrainConfig(
    r=8, alpha=16, learning_rate=2e-3, max_steps=6, batch_size=2, logging_steps=1, save_steps=3, warmup_ratio=0.0
)


@pytest.fixture(scope="session")
def handbook_items() -> list[EvalItem]:
    """The handbook questions, each with its fact sentence as the reference answer."""
    return [
        EvalItem(question, fact, ["handbook.pdf"], "test")
        for (question, _, _), (_, fact, _) in zip(HANDBOOK_FACTS, HANDBOOK_SECTIONS, strict=True)
    ]


@pytest.fixture(scope="session")
def builder(
    handbook_settings: Settings, embedder: SentenceTransformerEmbedder, generator: TransformersGenerator
) -> GroundedBuilder:
    return GroundedBuilder.from_components(Components(handbook_settings, embedder=embedder, generator=generator))


@pytest.fixture(scope="session")
def short_examples(builder: GroundedBuilder, handbook_items: list[EvalItem]) -> list[Example]:
    """One passage each (short, so training steps are quick): answerable and unanswerable for every fact."""
    import random

    rng = random.Random(0)
    found = [builder.answerable(item, 1, rng) for item in handbook_items]
    found += [builder.unanswerable(item, 1) for item in handbook_items]
    return [e for e in found if e is not None]


@pytest.fixture(scope="session")
def trained_adapter(
    tmp_path_factory: pytest.TempPathFactory, handbook_settings: Settings, short_examples: list[Example]
) -> Path:
    out = tmp_path_factory.mktemp("adapter")
    base = generator_model_path(handbook_settings)
    train_adapter(base, "SmolLM2-135M-Instruct (bundled)", short_examples + short_examples[:2], out, TINY)
    return out
