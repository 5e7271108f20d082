"""The one JSONL reader: rows parsed in order, blank lines skipped, any bad line named by file and line."""

from pathlib import Path

import pytest

from rag.jsonl import read_jsonl


class SetProblem(ValueError):
    pass


def test_rows_are_parsed_in_order_and_bad_lines_are_named(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"q": "a"}\n\n  \n{"q": "b"}\n', encoding="utf-8")
    assert read_jsonl(good, lambda row: row["q"]) == ["a", "b"]
    for text, line in [('{"q": 1}\nnot json\n', 2), ('{"q": 1}\n{"x": 2}\n', 2), ("[1]\n", 1)]:
        bad = tmp_path / "bad.jsonl"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(SetProblem, match=rf"bad\.jsonl:{line}: expected a q: "):
            read_jsonl(bad, lambda row: row["q"], SetProblem, "expected a q: ")
