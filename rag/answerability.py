"""An answerability head: a logistic regression on the generator's hidden state at the prompt's last token.

Answer-only fine-tuning teaches a small model to abstain, but not to tell when: it abstains about as often on
answerable questions as on unanswerable ones. Its middle layers do carry the signal (a linear probe separates
the two kinds well), so `finetune head` fits one there, saves it beside the adapter, and the generator reads it
off the prompt's own forward pass: unanswerable -> the abstention sentence; answerable -> the model answers.
"""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

HEAD_FILE = "answerability.json"


@dataclass(frozen=True)
class AnswerabilityHead:
    """P(unanswerable) = sigmoid(((h - mean) / scale) . coef + intercept), h = hidden_states[layer][-1]."""

    layer: int
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float
    fitted_on: dict[str, object] | None = None  # what it was fitted on and how well it separated (for people)

    def __post_init__(self) -> None:
        if not len(self.mean) == len(self.scale) == len(self.coef) > 0:
            raise ValueError(f"{HEAD_FILE}: mean, scale and coef must be non-empty and of one length.")
        if not 0.0 < self.threshold < 1.0 or self.layer < 0:
            raise ValueError(f"{HEAD_FILE}: threshold must be in (0, 1) and layer >= 0.")

    def probability(self, hidden: torch.Tensor) -> float:
        """P(unanswerable) for one hidden-state vector."""
        if hidden.shape[-1] != len(self.coef):
            raise ValueError(f"{HEAD_FILE} expects hidden size {len(self.coef)}, the model has {hidden.shape[-1]}.")
        standardised = (hidden.detach().float().cpu() - torch.tensor(self.mean)) / torch.tensor(self.scale)
        z = float(standardised @ torch.tensor(self.coef)) + self.intercept
        return 1.0 / (1.0 + math.exp(-z))

    def unanswerable(self, hidden: torch.Tensor) -> bool:
        return self.probability(hidden) >= self.threshold

    def save(self, folder: Path) -> Path:
        path = folder / HEAD_FILE
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")
        return path


def load_head(folder: Path) -> AnswerabilityHead | None:
    """The head saved in an adapter folder, or None when it has none."""
    path = folder / HEAD_FILE
    if not path.is_file():
        return None
    try:
        return AnswerabilityHead(**json.loads(path.read_text(encoding="utf-8")))
    except (TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not an answerability head ({err}): refit it with `finetune head`.") from err
