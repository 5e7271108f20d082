"""JSON Lines files (question sets, training examples, pairs): one reader, whose errors name the file and line."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Row = TypeVar("Row")


def read_jsonl(
    path: Path, parse: Callable[[Any], Row], error: type[Exception] = ValueError, expected: str = ""
) -> list[Row]:
    """`parse` applied to each non-blank line's JSON value. A line that is not JSON, or that `parse` refuses
    (ValueError, KeyError, TypeError, IndexError), raises `error` with `path:line: ` and `expected`, if given."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(parse(json.loads(line)))
        except (ValueError, KeyError, TypeError, IndexError) as err:  # json.JSONDecodeError is a ValueError
            raise error(f"{path}:{number}: {expected}{err}") from err
    return rows
