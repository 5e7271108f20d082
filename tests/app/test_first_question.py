"""The README's example question, as a newcomer meets it: this project's docs/ ingested as `make run` does, then
"How do I delete a document?" asked in a real browser (Debian's chromium via Playwright) and with `rag ask`."""

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from rag.echo import has_markup
from tests.app.test_browser import CHROMIUM_ARGS, streamlit_app

REPO = Path(__file__).resolve().parents[2]
QUESTION = "How do I delete a document?"
ANSWERS = re.compile(r"ingest delete|[Cc]hoose a document to delete it")  # the CLI's way or the Admin page's


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[dict[str, str]]:
    env = {"RAG_DATA_DIR": str(tmp_path_factory.mktemp("docs") / "data"), "RAG_MODELS_DIR": str(models_dir)}
    command = [sys.executable, "-m", "ingest", "add", "--if-empty", "docs"]  # what `make run` does first
    subprocess.run(command, cwd=REPO, env=os.environ | env, check=True, capture_output=True, timeout=600)
    yield env


def cited_sources(result: dict) -> list[str]:
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", result["answer"])}
    return [s["source"] for n, s in enumerate(result["sources"], start=1) if n in numbers]


@pytest.mark.slow  # a subprocess
def test_the_readme_question_gets_a_short_answer_citing_the_guide_on_deleting(docs_env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "rag", "ask", "--json", QUESTION]
    done = subprocess.run(command, cwd=REPO, env=os.environ | docs_env, capture_output=True, text=True, timeout=600)
    result = json.loads(done.stdout)
    answer = result["answer"]
    assert not result["abstained"] and ANSWERS.search(answer), answer
    assert len(answer) < 400 and not has_markup(answer), answer
    assert "adding-documents.md" in cited_sources(result), result


@pytest.mark.browser
def test_the_readme_question_in_a_real_browser(docs_env: dict[str, str]) -> None:
    with streamlit_app(docs_env) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.goto(url)
        box = page.locator('[data-testid="stChatInput"] textarea')
        box.wait_for(timeout=180_000)
        box.fill(QUESTION)
        box.press("Enter")
        sources = page.get_by_text("Sources (")
        sources.wait_for(timeout=300_000)
        answer = page.locator('[data-testid="stChatMessage"]').nth(1)
        expect(answer).to_contain_text(ANSWERS)
        assert not answer.locator("h1, h2, h3, a").count()  # shown as text: no heading or link from a passage
        sources.click()
        expect(page.get_by_text("adding-documents.md").first).to_be_visible()
        browser.close()
