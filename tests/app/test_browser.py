"""One real browser (Debian's chromium, driven by Playwright) against the app as `make run` starts it."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

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
        expect(page.get_by_text("handbook.pdf, page 3")).to_be_visible()
        expect(page.get_by_text("A monthly parking permit costs 40 euros", exact=False).first).to_be_visible()
        browser.close()
