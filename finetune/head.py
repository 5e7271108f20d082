"""Fit the answerability head (rag/answerability.py) of an adapter on its training examples.

Each example's prompt goes through the adapted model once; the hidden state at the prompt's last token, per
layer, is the feature and the example's kind (unanswerable or not) the label. A standardised logistic
regression is fitted on a few candidate layers; the layer with the best cross-validated ROC AUC wins, and
the threshold is set on out-of-fold probabilities so that the head flags `recall` of the unanswerable ones
(in-sample probabilities would put it too high: 576 features fit a few hundred examples almost perfectly).
"""

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from finetune.data import Example
from rag.answerability import AnswerabilityHead
from rag.generator import TransformersGenerator

C_GRID = [1e-3, 1e-2, 1e-1, 1.0]


def prompt_states(generator: TransformersGenerator, examples: list[Example]) -> np.ndarray:
    """examples x (layers + 1) x hidden: every layer's state at each prompt's last token (index 0: embeddings),
    read exactly as the decide stage reads it when serving."""
    layers = range(generator.depth + 1)
    rows = []
    for example in tqdm(examples, desc="prompt states", unit="prompt"):
        hidden = generator.read_prompt(example.prompt, layers).hidden
        rows.append(torch.stack([hidden[layer] for layer in layers]).float().cpu().numpy())
    return np.stack(rows)


def labels(examples: list[Example]) -> np.ndarray:
    return np.array([int(e.meta.get("kind") == "unanswerable") for e in examples])


def candidate_layers(states: int) -> list[int]:
    """A quarter, half and three quarters of the way up (the probe found the middle best on SmolLM2-135M)."""
    return sorted({states // 4, states // 2, 3 * states // 4})


def _classifier(folds: int, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    inner = StratifiedKFold(folds, shuffle=True, random_state=seed)
    regression = LogisticRegressionCV(
        Cs=C_GRID, l1_ratios=(0.0,), cv=inner, scoring="accuracy", max_iter=2000, use_legacy_attributes=False
    )
    return make_pipeline(StandardScaler(), regression)


def fit_head(states: np.ndarray, y: np.ndarray, recall: float = 0.85, seed: int = 0) -> AnswerabilityHead:
    """The best candidate layer's head, its threshold flagging `recall` of the unanswerable out of fold."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = min(5, int(y.sum()) // 2, int(len(y) - y.sum()) // 2)  # inner folds need 2+ of each kind
    if folds < 2:
        raise ValueError("The head needs at least 4 answerable and 4 unanswerable examples: build data with both.")
    outer = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores: dict[int, tuple[float, np.ndarray]] = {}
    for layer in candidate_layers(states.shape[1]):
        oof = cross_val_predict(_classifier(folds, seed), states[:, layer], y, cv=outer, method="predict_proba")
        scores[layer] = (float(roc_auc_score(y, oof[:, 1])), oof[:, 1])
    layer = max(scores, key=lambda k: scores[k][0])
    auc, oof = scores[layer]
    threshold = float(np.clip(np.quantile(oof[y == 1], 1.0 - recall), 1e-6, 1.0 - 1e-6))
    fitted = _classifier(folds, seed).fit(states[:, layer], y)
    scaler, regression = fitted[0], fitted[-1]
    return AnswerabilityHead(
        layer=layer,
        mean=scaler.mean_.tolist(),
        scale=scaler.scale_.tolist(),
        coef=regression.coef_[0].tolist(),
        intercept=float(regression.intercept_[0]),
        threshold=threshold,
        fitted_on={
            "examples": len(y),
            "unanswerable": int(y.sum()),
            "target_recall": recall,
            "cv_auc_by_layer": {str(k): round(v[0], 4) for k, v in scores.items()},
            "cv_auc": round(auc, 4),
            "cv_abstention_on_unanswerable": round(float((oof[y == 1] >= threshold).mean()), 4),
            "cv_false_abstention_on_answerable": round(float((oof[y == 0] >= threshold).mean()), 4),
            "C": float(regression.C_),
        },
    )


def fit_adapter_head(
    generator: TransformersGenerator, adapter: Path, examples: list[Example], limit: int | None, recall: float
) -> AnswerabilityHead:
    """Fit the head on (a seeded sample of) `examples` through the adapted `generator` and save it in `adapter`."""
    if limit is not None and limit < len(examples):
        examples = random.Random(0).sample(examples, limit)
    head = fit_head(prompt_states(generator, examples), labels(examples), recall)
    head.save(adapter)
    return head
