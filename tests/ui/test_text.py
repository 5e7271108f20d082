"""Untrusted text escaped for Streamlit's Markdown (tests/app/test_hardening_browser.py: in a real browser)."""

from ui.text import WORD_JOINER, plain


def test_markdown_that_would_make_images_links_or_structure_is_escaped() -> None:
    assert plain("![x](http://h/i.png)") == "\\!\\[x\\]\\(http" + WORD_JOINER + "\\://h/i\\.png\\)"
    assert plain("# Title") == "\\# Title" and plain("**bold** _it_") == "\\*\\*bold\\*\\* \\_it\\_"
    assert plain(":red[alarm] $x$") == "\\:red\\[alarm\\] \\$x\\$"


def test_bare_web_and_mail_addresses_are_broken_where_a_link_would_start() -> None:
    assert WORD_JOINER + "\\://" in plain("see https://example.com")
    assert "www" + WORD_JOINER + "\\." in plain("www.example.com")
    assert "a@" + WORD_JOINER + "b" in plain("mail a@b.org")


def test_plain_words_and_line_breaks_stay_as_they_are() -> None:
    assert plain("It costs 40 euros, doesn't it?") == "It costs 40 euros, doesn\\'t it?"
    assert plain("one\ntwo") == "one  \ntwo"
