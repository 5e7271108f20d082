"""Citations and page previews in the app (AppTest, real models): the marker after the answer opens the cited
page, rendered with the passage highlighted; saved chats are their owner's only."""

import shutil
from pathlib import Path

from accounts.users import UserStore
from rag.settings import Settings
from tests.app.test_app import sign_in, start_app
from tests.ui.test_preview import share, word_box

QUESTION = "How much does a monthly parking permit cost?"


def test_a_cited_pdf_passage_opens_its_page_highlighted(
    handbook_settings: Settings, handbook_env: dict[str, str], handbook_pdf: Path
) -> None:
    shutil.rmtree(handbook_settings.previews_dir, ignore_errors=True)  # a cache: other tests' previews go
    app = start_app()
    app.chat_input[0].set_value(QUESTION).run()
    assert not app.exception, app.exception
    assistant = app.chat_message[1]
    assert assistant.text[0].value.endswith("[1]")  # the marker after the sentence its source backs
    popover = assistant.get("popover")[0]
    assert popover.proto.popover.label == "\\[1\\] handbook\\.pdf, page 3"  # escaped: file names are not Markdown
    assert popover.image[0].proto.imgs[0].caption == "handbook\\.pdf, page 3: the passage highlighted"
    rendered = list(handbook_settings.previews_dir.glob("*.png"))
    assert len(rendered) == 1
    assert share(rendered[0], word_box(handbook_pdf, 3, "monthly parking permit costs 40 euros"), "amber") > 0.4
    assert share(rendered[0], word_box(handbook_pdf, 3, "Page 3 of 6"), "amber") < 0.02  # the footer


def test_saved_chats_come_back_after_a_restart_for_their_owner_only(
    handbook_settings: Settings, handbook_env: dict[str, str]
) -> None:
    users = UserStore(handbook_settings.app_db)
    for name in ("carol", "dave"):
        if users.get(name) is None:
            users.add(name, "password-1")
    app = start_app()
    sign_in(app, "carol", "password-1", where="sidebar")
    app.chat_input[0].set_value(QUESTION).run()
    assert not app.exception, app.exception

    restarted = start_app()  # a new process would read the same app.db
    sign_in(restarted, "carol", "password-1", where="sidebar")
    assert restarted.session_state["messages"] == []  # a new session starts with a new chat
    saved = [b for b in restarted.sidebar.button if b.key and b.key.startswith("chat-")]
    assert [b.label for b in saved] == [QUESTION]
    saved[0].click().run()
    assert restarted.chat_message[0].text[0].value == QUESTION
    assert "40" in restarted.chat_message[1].text[0].value
    assert restarted.sidebar.download_button(key="export-chat")

    other = start_app()
    sign_in(other, "dave", "password-1", where="sidebar")
    assert not [b for b in other.sidebar.button if b.key and b.key.startswith("chat-")]
