"""Evaluation reports: `report.json` (everything) and a self-contained `report.html` for people; each run is
also recorded in the run history (records/eval_history.py) that gives the trend over past runs of the same set."""

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from records.eval_history import TREND_METRICS, History

# The report quotes questions, answers and passages: should anything slip past the escaping, it still cannot run
# a script or load anything from elsewhere (the Reports page shows it in an iframe that may run scripts).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
BAR_WIDTH, CHART_HEIGHT = 28, 120


def histogram_svg(values: list[float], bins: int = 10) -> str:
    """Counts of values in [0, 1] per tenth, as bars."""
    counts = [0] * bins
    for value in values:
        counts[min(int(value * bins), bins - 1)] += 1
    top = max(counts) or 1
    bars = []
    for number, count in enumerate(counts):
        height = CHART_HEIGHT * count / top
        x, y = number * BAR_WIDTH, CHART_HEIGHT - height
        label = f"{number / bins:.1f}-{(number + 1) / bins:.1f}: {count}"
        bars.append(
            f'<rect x="{x}" y="{y:.1f}" width="{BAR_WIDTH - 2}" height="{height:.1f}" fill="#4c78a8">'
            f"<title>{label}</title></rect>"
        )
    width = bins * BAR_WIDTH
    axis = f'<text x="0" y="{CHART_HEIGHT + 14}" font-size="11">0</text>'
    axis += f'<text x="{width - 8}" y="{CHART_HEIGHT + 14}" font-size="11">1</text>'
    return f'<svg width="{width}" height="{CHART_HEIGHT + 18}" role="img">{"".join(bars)}{axis}</svg>'


def trend_svg(runs: list[dict[str, Any]], metric: str) -> str:
    """One point per past run (oldest left) of a metric in [0, 1]."""
    points = [(i, r["summary"].get(metric)) for i, r in enumerate(runs) if r["summary"].get(metric) is not None]
    if not points:
        return "<p>no values yet</p>"
    step = 40
    coords = [(20 + i * step, CHART_HEIGHT - value * CHART_HEIGHT + 5) for i, value in points]
    path = " ".join(f"{x:.0f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x:.0f}" cy="{y:.1f}" r="4" fill="#e45756"><title>{_cell(runs[i]["created_at"])}: {_cell(v)}'
        "</title></circle>"
        for (x, y), (i, v) in zip(coords, points, strict=True)
    )
    width = 40 + step * max(len(runs) - 1, 1)
    axis = (
        f'<line x1="12" y1="5" x2="12" y2="{CHART_HEIGHT + 5}" stroke="#999"/>'
        f'<text x="0" y="12" font-size="10">1</text><text x="0" y="{CHART_HEIGHT + 5}" font-size="10">0</text>'
    )
    return (
        f'<svg width="{width}" height="{CHART_HEIGHT + 10}" role="img">{axis}'
        f'<polyline points="{path}" fill="none" stroke="#e45756" stroke-width="2"/>{dots}</svg>'
    )


def _cell(value: Any) -> str:
    return "not computed" if value is None else html.escape(str(value))


def worst_items(items: list[dict[str, Any]], count: int = 5) -> list[dict[str, Any]]:
    """Answered items with the lowest grounding check (then token F1)."""
    answered = [item for item in items if not item["abstained"]]

    def key(item: dict[str, Any]) -> tuple[float, float]:
        scores = item["scores"]
        return (scores.get("grounding_check") or 0.0, scores.get("token_f1") or 0.0)

    return sorted(answered, key=key)[:count]


def claim_html(claim: dict[str, Any]) -> str:
    text = html.escape(claim["text"])
    if claim["supported"]:
        return f'<li class="ok">{text}</li>'
    return f'<li class="bad">{text} <em>({html.escape(claim["reason"])})</em></li>'


def source_html(source: dict[str, Any]) -> str:
    where = source["source"] if source["page"] is None else f"{source['source']}, page {source['page']}"
    return f"<li><b>{html.escape(where)}</b>: {html.escape(source['text'])}</li>"


def item_html(item: dict[str, Any]) -> str:
    claims = "".join(claim_html(claim) for claim in item["claims"]) or f"<li>{html.escape(item['answer'])}</li>"
    contexts = "".join(source_html(source) for source in item["sources"])
    scores = ", ".join(f"{k} {_cell(v)}" for k, v in (item["scores"] | item.get("llm_scores", {})).items())
    return (
        f"<div class='item'><p><b>Q:</b> {html.escape(item['question'])}</p>"
        f"<p><b>Reference:</b> {_cell(item['reference'])}</p><p>{scores}</p>"
        f"<p><b>Answer, sentence by sentence:</b></p><ul>{claims}</ul>"
        f"<details><summary>Passages given to the model</summary><ol>{contexts}</ol></details></div>"
    )


def render_html(report: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    summary = "".join(f"<tr><td>{html.escape(k)}</td><td>{_cell(v)}</td></tr>" for k, v in report["summary"].items())
    histograms = "".join(
        f"<figure><figcaption>{name}</figcaption>{histogram_svg(values)}</figure>"
        for name in ("grounding_check", "token_f1")
        if (values := [i["scores"][name] for i in report["items"] if i["scores"].get(name) is not None])
    )
    trends = "".join(f"<figure><figcaption>{m}</figcaption>{trend_svg(runs, m)}</figure>" for m in TREND_METRICS)
    judge = html.escape(report["judge"] or report["llm_metrics"])
    worst = "".join(item_html(item) for item in worst_items(report["items"]))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>Evaluation {html.escape(report["run_id"])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td{{border:1px solid #ccc;padding:.2em .6em}}
figure{{display:inline-block;margin:0 1.5em 1em 0}}.item{{border-top:1px solid #ccc;padding:.5em 0}}
li.bad{{background:#fde2e1}}li.ok{{background:#e3f4e1}}</style></head><body>
<h1>Evaluation of {html.escape(report["set"])}</h1>
<p>Run {html.escape(report["run_id"])} at {html.escape(report["created_at"])} · generator
{html.escape(Path(report["generator"]).name)} · embedder {html.escape(report["embedder"])} ·
retrieval {html.escape(str(report["settings"].get("retrieval_mode")))}</p>
<p><b>Judge:</b> {judge}. The grounding check is a deterministic comparison of each answer sentence with the
passages (numbers, names, wording), not a faithfulness score from a judge model.</p>
<h2>Summary</h2><table>{summary}</table>
<h2>Distributions</h2>{histograms or "<p>no scores</p>"}
<h2>Trend over {len(runs)} run(s) of this set</h2>{trends}
<h2>Weakest answers</h2>{worst or "<p>none: every question was abstained on</p>"}
</body></html>
"""


def write_report(
    report: dict[str, Any],
    folder: Path,
    history: History,
    render: Callable[[dict[str, Any], list[dict[str, Any]]], str] = render_html,
) -> tuple[Path, Path]:
    """report.json and report.html (`render`: the page for this kind of report, with the set's past runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    history.add(report, folder)
    json_path, html_path = folder / "report.json", folder / "report.html"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    html_path.write_text(render(report, history.runs(report["set"])), encoding="utf-8")
    return json_path, html_path
