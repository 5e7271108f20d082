"""One real browser (Debian's chromium, driven by Playwright) against the app as `make run` starts it."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from rag.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)


@contextlib.contextmanager
def streamlit_app(env: dict[str, str], script: Path | None = None) -> Iterator[str]:
    """The app as `make run` starts it (`python -m ui`), on a free port with these RAG_* variables, or `script`
    run by Streamlit from the repository (so with its .streamlit/config.toml); its URL once it is healthy."""
    port = free_port()
    if script is None:
        command = [sys.executable, "-m", "ui", "--server.port", str(port)]
    else:
        command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port)]
    env = os.environ | {"PYTHONPATH": str(REPO)} | env
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def app_url(handbook_env: dict[str, str]) -> Iterator[str]:
    with streamlit_app(handbook_env) as url:
        yield url


@pytest.mark.browser
def test_ask_in_a_real_browser_and_see_answer_and_source(app_url: str) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(app_url)
        box = page.locator('[data-testid="stChatInput"] textarea')
        box.wait_for(timeout=180_000)  # the first load also loads the models
        box.fill("How much does a monthly parking permit cost?")
        box.press("Enter")

        sources = page.get_by_text("Sources (")
        sources.wait_for(timeout=180_000)
        answer = page.locator('[data-testid="stChatMessage"]').nth(1)
        expect(answer).to_contain_text("40")
        sources.click()
        expect(page.get_by_text("handbook.pdf, page 3").last).to_be_visible()  # first: the citation's button
        expect(page.get_by_text("A monthly parking permit costs 40 euros", exact=False).first).to_be_visible()
        browser.close()


def amber_share(picture: "Image.Image", box: list[float]) -> float:
    pixels = np.asarray(picture.convert("RGB"), dtype=int)[int(box[1]) : int(box[3]), int(box[0]) : int(box[2])]
    return float(((pixels[..., 0] > 200) & (pixels[..., 1] > 190) & (pixels[..., 2] < 190)).mean())


@pytest.mark.browser
def test_the_citation_opens_the_page_with_the_passage_highlighted(
    app_url: str, handbook_settings: Settings, tmp_path: Path
) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(app_url)
        box = page.locator('[data-testid="stChatInput"] textarea')
        box.wait_for(timeout=180_000)
        box.fill("How much does a monthly parking permit cost?")
        box.press("Enter")
        page.get_by_text("Sources (").wait_for(timeout=180_000)
        page.get_by_role("button", name="[1] handbook.pdf, page 3").click()
        image = page.locator('[data-testid="stPopoverBody"] img').first
        expect(image).to_be_visible(timeout=30_000)
        natural, shown = image.evaluate("i => [i.naturalWidth, i.clientWidth]")
        image.screenshot(path=str(tmp_path / "shown.png"))
        browser.close()
    boxes = json.loads(next(handbook_settings.previews_dir.glob("*.json")).read_text())
    scale = shown / natural
    with Image.open(tmp_path / "shown.png") as picture:
        inside = [amber_share(picture, [v * scale for v in b]) for b in boxes]
        footer = amber_share(picture, [0, picture.height * 0.92, picture.width, picture.height])  # "Page 3 of 6"
    assert min(inside) > 0.4 and footer < 0.01, (inside, footer)


SLOW_CHAT = """
import time

import streamlit as st

from rag.types import Answer
from ui.ask import answer_turn, show_history


class SlowPipeline:  # the Ask page's chat around a generator that takes its time; the model plays no part here
    def answer(self, question, history, **options):
        words = 200 if "slow" in question else 3

        def pieces():
            yield f"Partial answer to {question}:"
            for _ in range(words):
                time.sleep(0.05)
                yield " more"

        return Answer(question, [], pieces(), False, time.perf_counter())


st.session_state.setdefault("messages", [])
show_history()
question = st.chat_input("Ask")
if question:
    answer_turn(SlowPipeline(), question, {})
"""


@pytest.mark.browser
def test_a_question_asked_while_an_answer_streams_keeps_that_answer_marked_as_stopped(tmp_path: Path) -> None:
    script = tmp_path / "chat.py"
    script.write_text(SLOW_CHAT)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with streamlit_app({}, script) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url)
        box = page.locator('[data-testid="stChatInput"] textarea')
        box.fill("first, slow")
        box.press("Enter")
        expect(page.get_by_text("Partial answer to first, slow: more", exact=False)).to_be_visible(timeout=60_000)
        box.fill("second")
        box.press("Enter")
        messages = page.locator('[data-testid="stChatMessage"]')
        expect(messages).to_have_count(4, timeout=60_000)
        expect(messages.nth(3)).to_contain_text("Partial answer to second: more more more", timeout=60_000)
        expect(messages.nth(1)).to_contain_text("Partial answer to first, slow: more")
        expect(messages.nth(1)).to_contain_text("stopped: another question was asked")
        expect(messages.nth(3)).not_to_contain_text("stopped")
        browser.close()
