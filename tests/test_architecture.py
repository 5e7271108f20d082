"""The data flow the folders promise (ingest -> store -> rag -> app), checked on the source: rag/ is the core and
imports none of the packages built on it; the UI does not reach into eval; outside rag/, only the training code
in finetune/ touches a generator's model or tokenizer."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAINING = {"finetune/train.py", "finetune/step_bench.py", "finetune/merge.py", "finetune/embedder.py"}


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Top-level package of every import in a file (imports inside functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_rag_imports_nothing_built_on_it() -> None:
    for path in modules("rag"):
        if path.name == "cli.py":  # `python -m rag` is the admin front door: it also starts servers, adds users
            continue
        assert not imported(path) & {"ingest", "eval", "finetune", "ui", "accounts", "serving", "provisioning"}, path


def test_the_ui_does_not_reach_into_eval_or_finetune() -> None:
    for path in [REPO / "app.py", *modules("ui")]:
        assert not imported(path) & {"eval", "finetune"}, path


def test_only_rag_and_training_touch_a_generators_model_or_tokenizer() -> None:
    for package in ("eval", "finetune", "ingest", "ui", "serving", "accounts", "provisioning"):
        for path in modules(package):
            if path.relative_to(REPO).as_posix() in TRAINING:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr in ("model", "tokenizer"):
                    owner = ast.unparse(node.value)
                    assert "generator" not in owner and "served" not in owner, f"{path}: {ast.unparse(node)}"
