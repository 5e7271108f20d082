"""Training data: seed files, grounded examples rendered exactly as the app prompts, the split, the masking."""

import json
import random
from pathlib import Path

import pytest

from eval.sets import EvalItem, save_set
from finetune.build import build_data_folder
from finetune.data import (
    DataError,
    Example,
    GroundedBuilder,
    build_grounded,
    holds_answer,
    load_seed,
    read_examples,
    split_by_source,
    write_examples,
)
from finetune.train import make_trainer
from ingest.index import Indexer
from rag.components import Components
from rag.embedder import SentenceTransformerEmbedder
from rag.generator import Messages, TokenStream, TransformersGenerator
from rag.models import generator_model_path
from rag.pipeline import RagPipeline
from rag.prompt import SYSTEM_PROMPT
from rag.settings import ABSTAIN_ANSWER, Settings
from tests.finetune.conftest import TINY


def write_lines(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_seed_file_reads_instructions_and_chats(tmp_path: Path) -> None:
    rows = [
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
        {"instruction": "Say hi.", "output": "Hi!"},
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "4"},
            ]
        },
    ]
    examples = load_seed(write_lines(tmp_path / "seed.jsonl", rows))
    assert examples[0].prompt == [{"role": "user", "content": "Translate to French.\n\nGood morning"}]
    assert examples[0].completion == "Bonjour"
    assert examples[1].prompt[0]["content"] == "Say hi."
    assert examples[2].prompt[0] == {"role": "system", "content": "Be brief."} and examples[2].completion == "4"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{not json", "Expecting property name"),
        ({"instruction": "x"}, "'output' must be a non-empty string"),
        ({"instruction": "", "output": "y"}, "'instruction' must be a non-empty string"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "at least a user and an assistant"),
        ({"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "x"}]}, "must be the assistant"),
        ({"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]}, "role of"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_a_bad_seed_line_is_named(tmp_path: Path, row: object, message: str) -> None:
    path = write_lines(tmp_path / "seed.jsonl", [{"instruction": "ok", "output": "fine"}, row])
    with pytest.raises(DataError, match=rf"seed.jsonl:2: .*{message}"):
        load_seed(path)


class RecordingGenerator:
    """The real generator; remembers the messages the pipeline sent it."""

    def __init__(self, real: TransformersGenerator) -> None:
        self.real, self.name, self.context_window = real, real.name, real.context_window
        self.sent: list[Messages] = []

    def count_tokens(self, messages: Messages) -> int:
        return self.real.count_tokens(messages)

    def stream(self, messages: Messages, **kwargs: object) -> TokenStream:
        self.sent.append(messages)
        return self.real.stream(messages, max_new_tokens=4, temperature=0.0, top_p=1.0)


def test_an_answerable_example_is_the_prompt_the_app_sends(
    builder: GroundedBuilder,
    handbook_items: list[EvalItem],
    handbook_settings: Settings,
    embedder: SentenceTransformerEmbedder,
    generator: TransformersGenerator,
) -> None:
    parking = handbook_items[1]
    example = builder.answerable(parking, handbook_settings.top_k, random.Random(0))
    assert example is not None
    recording = RecordingGenerator(generator)
    pipeline = RagPipeline(Components(handbook_settings, embedder=embedder, generator=recording))
    pipeline.answer(parking.question).result()
    assert recording.sent == [example.prompt]  # same passages, order, numbering, system prompt
    assert example.prompt[0] == {"role": "system", "content": SYSTEM_PROMPT}
    number = int(example.completion.rsplit("[", 1)[1].split("]")[0])
    block = example.prompt[1]["content"].split(f"<passage {number}: ", 1)[1]
    assert "40 euros" in block.split(f"</passage {number}>", 1)[0]  # the cited passage holds the answer
    assert example.completion == parking.reference.removesuffix(".") + f" [{number}]."
    assert example.meta["kind"] == "answerable" and example.meta["made_by"] == "test"


def test_unanswerable_examples_have_no_passage_with_the_answer(
    builder: GroundedBuilder, handbook_items: list[EvalItem]
) -> None:
    for item in handbook_items:
        example = builder.unanswerable(item, 3)
        assert example is not None
        assert example.completion == ABSTAIN_ANSWER
        assert item.reference is not None and "Context:\n<passage 1: " in example.prompt[1]["content"]
        hits = builder.retriever.retrieve(item.question, 6)
        answer_text = next(h.chunk.text for h in hits if holds_answer(h, item.reference))
        assert answer_text not in example.prompt[1]["content"]


def test_unanswerable_context_comes_from_other_documents_when_there_are_any(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbedder, generator: TransformersGenerator
) -> None:
    # The canteen notes answer the question twice, in different words: a passage of theirs without the exact
    # reference would still answer it, so the unanswerable context must come from the other document, even when
    # the canteen's own passages fill the retriever's whole top 5.
    canteen = tmp_path / "canteen.md"
    canteen.write_text(
        "# Canteen\n\nThe canteen closes at 15:00 on weekdays.\n\n"
        + "\n\n".join(f"## Note {n}\n\n" + f"Canteen note {n}: the canteen serves soup daily. " * 8 for n in range(8))
        + "\n\n## Hours\n\nAfter three in the afternoon the canteen is shut.\n",
        encoding="utf-8",
    )
    kiosk = tmp_path / "kiosk.md"
    kiosk.write_text("# Kiosk\n\nThe kiosk next to the canteen sells coffee until 18:00.\n", encoding="utf-8")
    parts = Components(settings, embedder=embedder, generator=generator)
    indexer = Indexer(parts.store, embedder, settings.chunk_size, settings.chunk_overlap)
    indexer.ingest(canteen, "canteen.md")
    indexer.ingest(kiosk, "kiosk.md")
    builder = GroundedBuilder.from_components(parts)
    item = EvalItem("When does the canteen close?", "15:00", ["canteen.md"], "test")
    example = builder.unanswerable(item, 1)
    assert example is not None and example.completion == ABSTAIN_ANSWER
    context = example.prompt[1]["content"]
    assert "sells coffee" in context and "canteen serves" not in context and "15:00" not in context


def test_paired_questions_are_trained_with_both_contexts(
    builder: GroundedBuilder, handbook_items: list[EvalItem]
) -> None:
    single = build_grounded(builder, handbook_items, 0.5, 1, seed=3)
    paired = build_grounded(builder, handbook_items, 0.5, 1, seed=3, paired=True)
    unanswerable = {e.meta["question"] for e in single if e.meta["kind"] == "unanswerable"}
    assert unanswerable and len(single) == len(handbook_items)
    assert len(paired) == len(single) + len(unanswerable)
    for question in unanswerable:
        kinds = sorted(e.meta["kind"] for e in paired if e.meta["question"] == question)
        assert kinds == ["answerable", "unanswerable"]
    assert sum(1 for e in paired if e.meta.get("paired")) == len(unanswerable)  # the added twins are marked
    assert {e.meta["question"] for e in paired} == {item.question for item in handbook_items}


def test_a_paired_data_folder_counts_questions_not_examples(
    tmp_path: Path, handbook_settings: Settings, handbook_items: list[EvalItem]
) -> None:
    save_set(handbook_items, tmp_path / "qa.jsonl")
    report = build_data_folder(
        handbook_settings, tmp_path / "ft", tmp_path / "qa.jsonl", None, 0, None, 0.5, 0.0, 1, seed=3, paired=True
    )
    train = read_examples(tmp_path / "ft" / "train.jsonl")
    unanswerable = report["train"]["kinds"]["unanswerable"]
    assert report["paired"] and report["skipped"] == 0 and report["questions"] == len(handbook_items)
    assert len(train) == len(handbook_items) + unanswerable and unanswerable > 0


def test_held_out_questions_come_from_documents_never_trained_on() -> None:
    items = [EvalItem(f"q{i}?", "a", [f"doc{i % 10}.txt"]) for i in range(100)]
    train, held = split_by_source(items, 0.2, seed=1)
    assert len(train) + len(held) == 100 and len(held) == 20
    assert not {i.reference_sources[0] for i in train} & {i.reference_sources[0] for i in held}


def test_examples_survive_a_file_round_trip(tmp_path: Path, short_examples: list[Example]) -> None:
    write_examples(short_examples, tmp_path / "train.jsonl")
    assert read_examples(tmp_path / "train.jsonl") == short_examples
    (tmp_path / "bad.jsonl").write_text('{"prompt": []}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:1"):
        read_examples(tmp_path / "bad.jsonl")


def test_loss_is_on_answer_tokens_only_and_batches_pad_to_their_longest(
    tmp_path: Path, handbook_settings: Settings, short_examples: list[Example]
) -> None:
    pair = [short_examples[0], short_examples[-1]]  # an answer and an abstention, of different lengths
    trainer, kept, too_long = make_trainer(generator_model_path(handbook_settings), pair, tmp_path, TINY)
    assert len(kept) == 2 and too_long == 0
    batch = next(iter(trainer.get_train_dataloader()))
    tokenizer = trainer.processing_class
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    assert batch["input_ids"].shape[1] == max(lengths) < TINY.max_length  # padded per batch, not to max_length
    learned = set()
    for row in range(2):
        labels = batch["labels"][row]
        trained = tokenizer.decode(labels[labels != -100])
        learned.add(trained.replace("<|im_end|>", "").strip())
        first = int((labels != -100).nonzero()[0])
        prompt = tokenizer.decode(batch["input_ids"][row][:first])
        assert prompt.endswith("<|im_start|>assistant\n") and "Question:" in prompt
    assert learned == {e.completion for e in pair}
