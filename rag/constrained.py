"""JSON-schema-constrained generation: at every step only tokens that keep the output valid for the schema
are allowed (lm-format-enforcer's TokenEnforcer, wired to transformers' `generate` with a LogitsProcessor).

lm-format-enforcer's own transformers integration does not import under transformers 5, so the two small
pieces it provides (the token table and the logits processor) are written here.
"""

import functools
import json
from typing import Any

import torch
from lmformatenforcer import JsonSchemaParser, TokenEnforcer, TokenEnforcerTokenizerData
from transformers import LogitsProcessor, PreTrainedTokenizerBase


@functools.cache
def tokenizer_data(tokenizer: PreTrainedTokenizerBase) -> TokenEnforcerTokenizerData:
    """Each token's text (decoded after a '0' so a leading space survives) and whether it starts a word."""
    zero = tokenizer.encode("0", add_special_tokens=False)[-1]
    special = set(tokenizer.all_special_ids)
    regular = []
    for token in range(len(tokenizer)):
        if token in special:
            continue
        after_zero = tokenizer.decode([zero, token])[1:]
        alone = tokenizer.decode([token])
        regular.append((token, after_zero, len(after_zero) > len(alone)))

    def decode(tokens: list[int]) -> str:
        return tokenizer.decode(tokens).rstrip("\ufffd")  # an incomplete multi-byte character is not text yet

    return TokenEnforcerTokenizerData(regular, decode, tokenizer.eos_token_id, False, len(tokenizer))


class JsonSchemaLogitsProcessor(LogitsProcessor):
    """Masks every token that would make the generated text (after the prompt) invalid for the schema."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, schema: dict[str, Any], prompt_length: int) -> None:
        self.enforcer = TokenEnforcer(tokenizer_data(tokenizer), JsonSchemaParser(schema))
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        mask = torch.full_like(scores, float("-inf"))
        for row, ids in enumerate(input_ids):
            allowed = self.enforcer.get_allowed_tokens(ids[self.prompt_length :].tolist()).allowed_tokens
            mask[row, allowed] = 0.0
        return scores + mask


def is_valid_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
