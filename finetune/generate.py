"""Question-answer pairs generated from the store's chunks by a model, kept only when the answer is in the chunk."""

import random

from eval.sets import EvalItem
from finetune.data import squash
from rag.generator import TransformersGenerator
from rag.store import Store

QA_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}
INSTRUCTION = (
    "Write one question that the passage below answers, and its answer copied word for word from the passage "
    "(a short phrase). Reply as JSON with the keys question and answer.\n\nPassage:\n"
)


def generate_items(store: Store, generator: TransformersGenerator, count: int, seed: int) -> list[EvalItem]:
    """Up to `count` items; a reply that is not JSON, or whose answer is not in the passage, is dropped."""
    import json

    ids, _ = store.committed_chunk_texts()
    order = list(range(len(ids)))
    random.Random(seed).shuffle(order)
    items: list[EvalItem] = []
    for start in range(0, len(order), count):
        chunks = store.chunks_by_id([ids[i] for i in order[start : start + count]])
        for chunk, _ in chunks.values():
            messages = [{"role": "user", "content": INSTRUCTION + chunk.text}]
            try:
                reply = json.loads(generator.complete_json(messages, QA_SCHEMA, max_new_tokens=96))
            except json.JSONDecodeError:
                continue
            question, answer = str(reply.get("question", "")).strip(), str(reply.get("answer", "")).strip()
            if question.endswith("?") and answer and squash(answer) in squash(chunk.text):
                items.append(EvalItem(question, answer, [chunk.source], f"generated:{generator.name}"))
            if len(items) == count:
                return items
        if start >= 4 * count:
            break  # the model rarely produces usable pairs: stop rather than read the whole store
    return items
