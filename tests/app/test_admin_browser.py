"""Admins and readers in a real browser (Debian's chromium via Playwright) against `streamlit run app.py`:
an admin uploads a PDF and a DOCX, watches the jobs finish, sees and deletes documents; readers and anonymous
visitors never get the Admin page; a reader's answer cites the uploaded PDF."""

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect, sync_playwright

from accounts.audit import AuditLog
from accounts.users import UserStore
from tests.app.test_browser import CHROMIUM_ARGS, streamlit_app
from tests.helpers import write_docx

LONG = 180_000  # ms: the first page load also loads the models
UPLOADER = '[data-testid="stFileUploader"]'


@pytest.fixture
def empty_app(tmp_path: Path, models_dir: Path) -> Iterator[str]:
    data = empty_app_data(tmp_path)
    UserStore(data / "app.db").add("rita", "reader-pass-1", "reader")
    env = {"RAG_DATA_DIR": str(data), "RAG_MODELS_DIR": str(models_dir), "RAG_ADMIN_PASSWORD": "admin-pass-1"}
    with streamlit_app(env) as url:
        yield url


def empty_app_data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def sign_in(page: Page, name: str, password: str) -> None:
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("textbox", name="User name").fill(name)
    sidebar.get_by_role("textbox", name="Password").fill(password)
    sidebar.get_by_role("button", name="Sign in").click()
    expect(sidebar.get_by_text(f"Signed in as {name}")).to_be_visible(timeout=LONG)


def sign_out(page: Page) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=LONG)


def attach(page: Page, files: list[Path]) -> None:
    """Choose files in the uploader; again if a rerun of the page replaced the widget meanwhile (slow machines)."""
    for _ in range(5):
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(files)
        try:
            for file in files:
                expect(page.locator(UPLOADER)).to_contain_text(file.name, timeout=15_000)
            return
        except AssertionError:
            continue
    raise AssertionError(f"the uploader never showed {[f.name for f in files]}")


def download(page: Page, button: str) -> str:
    """The text of the file a download button gives; clicked again if a rerun of the page (the jobs section
    refreshes itself) swallowed the click."""
    for _ in range(5):
        try:
            with page.expect_download(timeout=20_000) as started:
                page.get_by_role("button", name=button).click()
            return Path(started.value.path()).read_text(encoding="utf-8")
        except PlaywrightError:
            continue
    raise AssertionError(f"{button} gave no file")


def admin_link(page: Page) -> object:
    return page.locator('[data-testid="stSidebarNav"]').get_by_text("Admin")


@pytest.mark.browser
def test_admin_uploads_and_manages_documents_readers_cannot(empty_app: str, handbook_pdf: Path, tmp_path: Path) -> None:
    docx_file = write_docx(tmp_path / "office-guide.docx")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()

        page.goto(f"{empty_app}/admin")  # anonymous, typing the Admin URL
        expect(page.get_by_text("Page not found")).to_be_visible(timeout=LONG)
        page.keyboard.press("Escape")
        expect(page.get_by_text("No documents yet")).to_be_visible(timeout=LONG)
        expect(page.get_by_role("heading", name="Admin")).to_have_count(0)
        expect(page.locator(UPLOADER)).to_have_count(0)

        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_role("textbox", name="User name").fill("rita")
        sidebar.get_by_role("textbox", name="Password").fill("not-her-password")
        sidebar.get_by_role("button", name="Sign in").click()
        expect(sidebar.get_by_text("Wrong user name or password.")).to_be_visible(timeout=LONG)
        sign_in(page, "rita", "reader-pass-1")
        expect(admin_link(page)).to_have_count(0)  # type: ignore[attr-defined]
        expect(page.locator(UPLOADER)).to_have_count(0)
        sign_out(page)

        sign_in(page, "admin", "admin-pass-1")
        admin_link(page).click()  # type: ignore[attr-defined]
        expect(page.get_by_role("heading", name="Admin")).to_be_visible(timeout=LONG)
        attach(page, [handbook_pdf, docx_file])
        page.get_by_role("button", name="Ingest").click()
        expect(page.get_by_text("handbook.pdf: queued as job")).to_be_visible(timeout=LONG)
        expect(page.get_by_text("office-guide.docx: queued as job")).to_be_visible(timeout=LONG)
        expect(page.get_by_text("added: 6 pages")).to_be_visible(timeout=LONG)  # the PDF's job is done
        expect(page.get_by_text("added: ").nth(1)).to_be_visible(timeout=LONG)  # and the DOCX's

        table = page.locator('[data-testid="stTable"]').first  # the documents (then: collections)
        expect(table).to_contain_text("office-guide.docx", timeout=LONG)
        expect(table).to_contain_text("handbook.pdf")
        chooser = page.get_by_role("combobox", name="Document")
        chooser.click()
        chooser.fill("office-guide")
        chooser.press("Enter")
        expect(chooser).to_have_value("office-guide.docx")
        page.get_by_role("button", name="Delete").click()
        expect(page.get_by_text("Deleted office-guide.docx")).to_be_visible(timeout=LONG)
        expect(page.locator('[data-testid="stTable"]').first).not_to_contain_text("office-guide.docx", timeout=LONG)
        exported = list(csv.DictReader(io.StringIO(download(page, "Export CSV"))))
        sign_out(page)

        sign_in(page, "rita", "reader-pass-1")
        box = page.locator('[data-testid="stChatInput"] textarea')
        box.fill("How much does a monthly parking permit cost?")
        box.press("Enter")
        sources = page.get_by_text("Sources (")
        sources.wait_for(timeout=LONG)
        sources.click()
        expect(page.get_by_text("handbook.pdf, page 3").last).to_be_visible()
        browser.close()
    trail = [(row["actor"], row["action"], row["target"]) for row in reversed(exported)]
    assert trail == [
        ("system", "settings.changed", "app"),
        ("anonymous", "sign_in.failed", "rita"),
        ("rita", "sign_in.ok", "rita"),
        ("rita", "sign_out", "rita"),
        ("admin", "sign_in.ok", "admin"),
        ("admin", "document.upload", "handbook.pdf"),
        ("admin", "document.upload", "office-guide.docx"),
        ("admin", "document.delete", "office-guide.docx"),
    ]
    assert all(row["origin"] for row in exported) and all(row["at"] for row in exported)
    data = Path(empty_app_data(tmp_path))
    later = [(r["actor"], r["action"]) for r in reversed(AuditLog(data / "app.db").rows())][len(trail) :]
    assert later == [("admin", "sign_out"), ("rita", "sign_in.ok")]
