"""The answerability head: its arithmetic and its file (tests/rag/test_decide.py: the decide stage serving it)."""

import json
from pathlib import Path

import pytest
import torch

from rag.adapter import AdapterError, adapter_head
from rag.answerability import HEAD_FILE, AnswerabilityHead, load_head


def test_the_probability_is_a_standardised_logistic_regression() -> None:
    head = AnswerabilityHead(0, mean=[1.0, 0.0], scale=[2.0, 1.0], coef=[1.0, -1.0], intercept=0.5, threshold=0.5)
    z = (3.0 - 1.0) / 2.0 * 1.0 + (2.0 - 0.0) / 1.0 * -1.0 + 0.5
    assert head.probability(torch.tensor([3.0, 2.0])) == pytest.approx(torch.sigmoid(torch.tensor(z)).item())
    assert head.unanswerable(torch.tensor([9.0, 0.0])) and not head.unanswerable(torch.tensor([1.0, 5.0]))
    with pytest.raises(ValueError, match="expects hidden size 2"):
        head.probability(torch.zeros(3))


def test_bad_heads_are_refused_on_creation_and_on_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="of one length"):
        AnswerabilityHead(0, [0.0], [1.0, 1.0], [0.0], 0.0, 0.5)
    with pytest.raises(ValueError, match="threshold"):
        AnswerabilityHead(0, [0.0], [1.0], [0.0], 0.0, 1.5)
    assert load_head(tmp_path) is None
    (tmp_path / HEAD_FILE).write_text(json.dumps({"layer": 1}))
    with pytest.raises(ValueError, match="refit it with `finetune head`"):
        load_head(tmp_path)
    with pytest.raises(AdapterError, match="is not an answerability head"):  # what the app and Admin page catch
        adapter_head(tmp_path)
