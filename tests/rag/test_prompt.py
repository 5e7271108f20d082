import pytest

from rag.generator import TransformersGenerator
from rag.prompt import SYSTEM_PROMPT, context_block, grounded_messages, pack_context
from rag.settings import ABSTAIN_ANSWER
from rag.store import Chunk, Hit


def hit(text: str, page: int | None = None, score: float = 0.5) -> Hit:
    return Hit(Chunk(text, "guide.pdf" if page else "notes.md", 0, page), score)


def test_blocks_are_numbered_and_name_their_source() -> None:
    assert context_block(2, hit("Body.", page=4)) == "[2] (guide.pdf, page 4)\nBody."
    assert context_block(1, hit("Body.")) == "[1] (notes.md)\nBody."
    messages = grounded_messages("Why?", ["[1] (a)\nx", "[2] (b)\ny"])
    assert messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert ABSTAIN_ANSWER in SYSTEM_PROMPT
    assert messages[1]["content"].endswith("[2] (b)\ny\n\nQuestion: Why?")


def test_packing_stays_within_the_budget_in_real_tokens(generator: TransformersGenerator) -> None:
    hits = [hit(f"Passage {n}: " + "word " * 120, page=n) for n in range(1, 9)]
    for budget in (300, 600, 1200):
        messages, used = pack_context("What is it?", hits, generator.count_tokens, budget)
        assert generator.count_tokens(messages) <= budget
        assert used == hits[: len(used)]
        assert 0 < len(used) < len(hits)
    _, all_used = pack_context("What is it?", hits, generator.count_tokens, 100_000)
    assert all_used == hits


def test_a_long_block_is_skipped_for_shorter_lower_ranked_ones(generator: TransformersGenerator) -> None:
    hits = [hit("short one"), hit("long " * 400), hit("short two")]
    _, used = pack_context("Q?", hits, generator.count_tokens, 250)
    assert [h.chunk.text for h in used] == ["short one", "short two"]


def test_no_room_for_any_block_is_a_clear_error(generator: TransformersGenerator) -> None:
    with pytest.raises(ValueError, match="RAG_CONTEXT_TOKENS"):
        pack_context("Q?", [hit("word " * 300)], generator.count_tokens, 120)
