"""What a hostile document, visitor or guesser could do through a real browser (Debian's chromium via Playwright)
against a real Streamlit server: answers that carry images and links, error details, oversized uploads from
any session, and sign-in guessing that must not keep the real user out."""

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from accounts.users import UserStore
from tests.app.test_admin_browser import sign_in
from tests.app.test_browser import CHROMIUM_ARGS, streamlit_app

LONG = 180_000  # ms


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        yield launch(playwright)


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS
    )


@pytest.fixture
def tracker() -> Iterator[tuple[str, list[str]]]:
    """A web server that records every request made to it: where a poisoned answer would send the browser."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


PAGE = """
import streamlit as st

from rag.types import Claim, Document, Source
from ui.ask import show_grounding, show_sources, stream_text

EVIL = {evil!r}
with st.chat_message("user"):
    st.text(EVIL)
with st.chat_message("assistant"):
    stream_text(iter([EVIL[:20], EVIL[20:]]), {{"content": ""}})  # streamed in pieces, as answers are
    show_grounding([Claim(EVIL, False, "numbers")])
    readable = {{EVIL: Document(EVIL, "0" * 64, 3, 1, 1, "2026-11-30T00:00:00+00:00")}}  # a name the reader may read
    show_sources([Source(EVIL, 3, 0.5, EVIL)], readable, searched_for=EVIL)
if st.button("Break"):
    raise RuntimeError("secret internals: /srv/app/settings.py")
"""


@pytest.mark.browser
def test_answers_cannot_make_the_browser_fetch_or_link_and_errors_show_no_details(
    tmp_path: Path, browser: Browser, tracker: tuple[str, list[str]]
) -> None:
    host, hits = tracker
    evil = (
        f"See ![chart]({host}/image?q=secret) and [the docs]({host}/link) or <{host}/auto> or {host}/bare "
        f'<img src="{host}/html-image"> :red[alarm]\n# Heading'
    )
    script = tmp_path / "page.py"
    script.write_text(PAGE.format(evil=evil))
    with streamlit_app({}, script) as url:
        page = browser.new_page()
        page.goto(url)
        answer = page.locator('[data-testid="stChatMessage"]').nth(1)
        expect(answer).to_contain_text("See ![chart](", timeout=LONG)  # shown as the text it is
        page.get_by_text("Sources (1)").click()
        expect(answer.get_by_text("# Heading").first).to_be_visible()
        page.wait_for_timeout(1500)  # time for any image to load
        assert page.locator(f'img[src^="{host}"]').count() == 0
        assert page.locator(f'a[href^="{host}"]').count() == 0
        assert page.locator("h1", has_text="Heading").count() == 0
        assert hits == []

        page.get_by_role("button", name="Break").click()
        expect(page.locator('[data-testid="stException"], [data-testid="stAlert"]').first).to_be_visible(timeout=LONG)
        assert "secret internals" not in page.content() and "Traceback" not in page.content()


def session_of(page: Page) -> list[str]:
    """Collects the Streamlit session id the server sends to this page."""
    found: list[str] = []

    def on_frame(payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            message = ForwardMsg()
            message.ParseFromString(payload)
            if message.HasField("new_session"):
                found.append(message.new_session.initialize.session_id)

    page.on("websocket", lambda socket: socket.on("framereceived", on_frame))
    return found


@pytest.mark.browser
def test_any_visitor_session_can_upload_no_more_than_the_setting(
    tmp_path: Path, models_dir: Path, browser: Browser
) -> None:
    env = {"RAG_DATA_DIR": str(tmp_path / "data"), "RAG_MODELS_DIR": str(models_dir), "RAG_MAX_UPLOAD_MB": "1"}
    with streamlit_app(env) as url:
        page = browser.new_page()
        sessions = session_of(page)
        page.goto(url)
        expect(page.get_by_text("No documents yet")).to_be_visible(timeout=LONG)  # anonymous, no uploader here
        xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_streamlit_xsrf")

        def put(size: int) -> int:
            upload = {"file": {"name": "x.bin", "mimeType": "application/octet-stream", "buffer": b"x" * size}}
            reply = page.request.put(
                f"{url}/_stcore/upload_file/{sessions[0]}/file-{size}", multipart=upload,  # type: ignore[arg-type]
                headers={"X-Xsrftoken": xsrf},
            )  # fmt: skip
            return reply.status

        assert put(500_000) == 204  # a visitor's session may upload (Streamlit's design), but
        assert put(2 * 2**20) == 413  # no more than RAG_MAX_UPLOAD_MB (Streamlit's default is 200 MB)


@pytest.mark.browser
def test_guessing_from_one_address_does_not_keep_the_admin_out_at_another(
    tmp_path: Path, models_dir: Path, browser: Browser
) -> None:
    data = tmp_path / "data"
    UserStore(data / "app.db").add("admin", "admin-pass-1", "admin")
    env = {"RAG_DATA_DIR": str(data), "RAG_MODELS_DIR": str(models_dir), "RAG_LOGIN_ATTEMPTS": "2",
           "RAG_CLIENT_IP_HEADER": "X-Forwarded-For"}  # fmt: skip
    with streamlit_app(env) as url:
        attacker = browser.new_context(extra_http_headers={"X-Forwarded-For": "203.0.113.9"}).new_page()
        attacker.goto(url)
        sidebar = attacker.locator('[data-testid="stSidebar"]')
        users = UserStore(data / "app.db")
        for number in range(10):  # guess on; each failure past the second doubles the wait (1 s, 2 s, 4 s ...)
            sidebar.get_by_role("textbox", name="User name").fill("admin")
            sidebar.get_by_role("textbox", name="Password").fill(f"guess-{number}")
            sidebar.get_by_role("button", name="Sign in").click()
            for _ in range(600):  # until the app has recorded this attempt
                if len(users.sign_ins()) > number:
                    break
                attacker.wait_for_timeout(100)
            if users.sign_ins(1)[0]["outcome"] == "throttled":
                break
        else:
            raise AssertionError("ten quick guesses from one address were never throttled")
        expect(sidebar).to_contain_text("Too many failed sign-ins from here", timeout=LONG)

        admin = browser.new_context(extra_http_headers={"X-Forwarded-For": "198.51.100.7"}).new_page()
        admin.goto(url)
        sign_in(admin, "admin", "admin-pass-1")  # the right password from a fresh address still works
    sign_ins = UserStore(data / "app.db").sign_ins()
    assert {row["client"] for row in sign_ins} == {"203.0.113.9", "198.51.100.7"}
