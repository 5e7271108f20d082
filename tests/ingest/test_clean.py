from ingest.clean import clean_pdf_pages, clean_text, normalize


def test_normalize_expands_ligatures_and_drops_control_characters() -> None:
    assert normalize("ﬁnal ofﬁce\u00a0hours\x07") == "final office hours"


def test_hyphenated_line_breaks_are_joined_but_real_hyphens_kept() -> None:
    pages = clean_pdf_pages(["The informa-\ntion desk is open.\nA well-\nKnown fact."])
    assert "information desk" in pages[0]
    assert "well-\nKnown" in pages[0] or "well- Known" in pages[0]  # capital after the break: not a split word


def test_running_headers_footers_and_page_numbers_are_removed() -> None:
    raw = [f"Chapter 1: Basics {n}\nBody text number {n} is here.\nPage {n} of 4" for n in range(1, 5)]
    pages = clean_pdf_pages(raw)
    assert pages == [f"Body text number {n} is here." for n in range(1, 5)]


def test_lines_repeated_only_in_the_body_are_kept() -> None:
    raw = [f"Header\nIntro {n}.\nImportant note\nMore text {n}.\nClosing {n}.\nFooter" for n in range(4)]
    for page in clean_pdf_pages(raw):
        assert "Important note" in page
        assert "Header" not in page and "Footer" not in page


def test_table_of_contents_dot_leaders_are_dropped() -> None:
    toc = "Contents\n1 Introduction . . . . . . . . . 1\n2 Setup ................ 14\nAppendix ..... iv\nSee... more"
    page = clean_pdf_pages([toc])[0]
    assert "Contents" in page and "See... more" in page  # an ellipsis without a page number stays
    assert not any(entry in page for entry in ("Introduction", "Setup", "Appendix"))


def test_lines_inside_a_paragraph_are_reflowed_but_headings_keep_their_line() -> None:
    text = (
        "2.1 What is R?\n"
        "R is a system for statistical computation and graphics. It consists of a\n"
        "language plus a run-time environment with graphics, a debugger, access to\n"
        "certain system functions.\n"
        "2.2 Next question"
    )
    lines = clean_pdf_pages([text])[0].splitlines()
    assert lines[0] == "2.1 What is R?"
    assert lines[1].startswith("R is a system") and lines[1].endswith("certain system functions.")
    assert lines[2] == "2.2 Next question"


def test_clean_text_keeps_structure_and_squeezes_blank_runs() -> None:
    assert clean_text("# Title\r\n\r\n\r\n\r\n- item  one\n- item two\n") == "# Title\n\n- item one\n- item two"
