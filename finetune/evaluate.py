"""Before/after numbers for an adapter: the base generator and base + adapter answer the same rendered prompts.

Answerable examples are scored by token F1 and exact match against the reference (citations like [2] taken
out first), by how often they cite a passage, and by how often the model wrongly abstains; unanswerable ones
by how often it abstains. Decoding is the app's (greedy, streamed, stopped on loops).

Abstention rates alone cannot tell a model that reads the context from one that abstains at a fixed rate, so
each example also records the model's probability of starting the abstention sentence, and the report gives
the ROC AUC of that probability between unanswerable and answerable examples (0.5: no better than chance).
"""

import json
import random
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.run import exact_match, token_f1
from finetune.data import Example
from rag.decide import Decider
from rag.generator import TransformersGenerator
from rag.prompt import passages_in_prompt
from rag.settings import ABSTAIN_ANSWER

CITATION = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Scored:
    kind: str
    answer: str
    abstained: bool
    f1: float | None
    exact: float | None
    cites: bool
    seconds: float
    abstain_probability: float | None = None


def sample(examples: list[Example], limit: int | None, seed: int = 0) -> list[Example]:
    """A seeded sample in file order (all of them without a limit)."""
    if limit is None or limit >= len(examples):
        return examples
    keep = set(random.Random(seed).sample(range(len(examples)), limit))
    return [e for i, e in enumerate(examples) if i in keep]


def set_names(paths: Sequence[Path]) -> list[str]:
    """Report names for data files: the file's stem, or folder/stem when two files share a stem."""
    stems = [p.stem for p in paths]
    return [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]


def abstains(answer: str) -> bool:
    return answer.strip().startswith(ABSTAIN_ANSWER.rstrip("."))


def passages_in(example: Example) -> int:
    return passages_in_prompt(example.prompt[-1]["content"])


def score(example: Example, answer: str, seconds: float, abstain_probability: float | None = None) -> Scored:
    kind = str(example.meta.get("kind", "seed"))
    abstained = abstains(answer)
    numbers = [int(n) for n in CITATION.findall(answer)]
    cites = bool(numbers) and all(1 <= n <= passages_in(example) for n in numbers)
    if kind == "unanswerable":
        return Scored(kind, answer, abstained, None, None, cites, seconds, abstain_probability)
    reference = str(example.meta.get("reference") or CITATION.sub("", example.completion))
    plain = CITATION.sub("", answer)
    f1, exact = token_f1(plain, reference), exact_match(plain, reference)
    return Scored(kind, answer, abstained, f1, exact, cites, seconds, abstain_probability)


def abstain_probability(generator: TransformersGenerator, example: Example) -> float:
    """The probability that the reply's first token is the abstention sentence's first token."""
    return generator.opening_probability(example.prompt, ABSTAIN_ANSWER)


Model = tuple[TransformersGenerator, Decider]  # a generator and the decide stage it answers through


def answer_all(model: Model, examples: Sequence[Example], max_new_tokens: int) -> list[Scored]:
    """Each example's prompt through the app's decide and generate stages (greedy)."""
    generator, decider = model
    scored = []
    for example in examples:
        started = time.perf_counter()
        reply = decider.reply(generator, example.prompt, max_new_tokens=max_new_tokens, temperature=0.0, top_p=1.0)
        answer = "".join(reply.pieces).strip()
        seconds = time.perf_counter() - started
        probability = reply.p_unanswerable  # the head's, read while answering; else one more forward pass
        probability = abstain_probability(generator, example) if probability is None else probability
        scored.append(score(example, answer, seconds, probability))
    return scored


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def abstention_auc(scored: Sequence[Scored]) -> float | None:
    """ROC AUC of the abstention probability, unanswerable against answerable (None without both kinds)."""
    from sklearn.metrics import roc_auc_score

    rated = [s for s in scored if s.abstain_probability is not None]
    labels = [s.kind == "unanswerable" for s in rated]
    if len(set(labels)) < 2:
        return None
    return round(float(roc_auc_score(labels, [s.abstain_probability for s in rated])), 4)


def metrics(scored: Sequence[Scored]) -> dict[str, Any]:
    answerable = [s for s in scored if s.kind != "unanswerable"]
    unanswerable = [s for s in scored if s.kind == "unanswerable"]
    answered = [s for s in answerable if not s.abstained]
    return {
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "token_f1": _mean([s.f1 for s in answerable if s.f1 is not None]),
        "exact_match": _mean([s.exact for s in answerable if s.exact is not None]),
        "abstention_on_unanswerable": _mean([float(s.abstained) for s in unanswerable]),
        "false_abstention_on_answerable": _mean([float(s.abstained) for s in answerable]),
        "citation_rate": _mean([float(s.cites) for s in answered]),
        "abstention_auc": abstention_auc(scored),
        "latency_p50_s": round(statistics.median(s.seconds for s in scored), 3) if scored else None,
    }


def compare(base: Model, adapted: Model, sets: dict[str, list[Example]], max_new_tokens: int) -> dict[str, Any]:
    """Metrics of both models on each named set, plus a few side-by-side answers per set."""
    names = {"base": base[0].name, "adapted": adapted[0].name}
    report: dict[str, Any] = names | {"max_new_tokens": max_new_tokens, "sets": {}}
    for name, examples in sets.items():
        before, after = answer_all(base, examples, max_new_tokens), answer_all(adapted, examples, max_new_tokens)
        samples = [
            {
                "question": e.meta.get("question"),
                "kind": b.kind,
                "reference": e.completion,
                "base": b.answer,
                "adapted": a.answer,
            }
            for e, b, a in list(zip(examples, before, after, strict=True))[:6]
        ]
        report["sets"][name] = {"before": metrics(before), "after": metrics(after), "samples": samples}
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Adapter evaluation",
        "",
        f"Base: `{report['base']}`  ",
        f"Adapted: `{report['adapted']}`  ",
        f"Greedy decoding, at most {report['max_new_tokens']} new tokens.",
        "",
    ]
    for name, result in report["sets"].items():
        before, after = result["before"], result["after"]
        lines += [f"## {name}", "", "| metric | base | adapted |", "|---|---|---|"]
        lines += [f"| {key} | {before[key]} | {after[key]} |" for key in before]
        lines += ["", "| question | reference | base | adapted |", "|---|---|---|---|"]
        for s in result["samples"]:
            cells = [
                str(s[k] or "").replace("|", "/").replace("\n", " ")[:160]
                for k in ("question", "reference", "base", "adapted")
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "evaluation.md").write_text(markdown(report), encoding="utf-8")
