from rag.scope import EVERYTHING, named_years, organisation_words, scope_question
from rag.types import Document


def doc(source: str, organisation: str | None, period: str | None, doc_type: str = "10-K annual report") -> Document:
    return Document(source, "0" * 64, 100, 10, 1000, "now", organisation=organisation, doc_type=doc_type, period=period)


LIBRARY = [
    doc("3m-2018.pdf", "3M COMPANY", "2018"),
    doc("3m-2022.pdf", "3M COMPANY (MMM)", "2022"),
    doc("adobe-2015.pdf", "ADOBE SYSTEMS INCORPORATED", "2015"),
    doc("adobe-2016.pdf", "ADOBE SYSTEMS INCORPORATED", "2016"),
    doc("amex-2022.pdf", "American Express Company (AXP)", "2022"),
    doc("aww-2022.pdf", "AMERICAN WATER WORKS COMPANY, INC (AWK)", "2022"),
    doc("amd-2015.pdf", "ADVANCED MICRO DEVICES, INC", "2015"),
    doc("bby-2023.pdf", "BEST BUY CO., INC (BBY)", "2023"),
    doc("bby-2024q2.pdf", "BEST BUY CO., INC (BBY)", "2023", "10-Q quarterly report"),
    doc("jpm-2021q1.pdf", "JPMorgan Chase & Co (JPM)", "2021", "10-Q quarterly report"),
    doc("unknown.pdf", None, "2018"),
]


def sources(question: str) -> list[str] | None:
    return scope_question(question, LIBRARY).sources


def test_a_named_organisation_and_year_pick_that_report() -> None:
    assert sources("What is the FY2018 capital expenditure amount (in USD millions) for 3M?") == [
        "3m-2018.pdf",
        "unknown.pdf",  # its organisation could not be read: it is never left out
    ]
    assert sources("What is Adobe's year-over-year change in operating income from FY2015 to FY2016?") == [
        "adobe-2016.pdf"  # the latest year named: a report also gives the year before
    ]


def test_without_a_year_every_report_of_the_organisation() -> None:
    assert sources("Does Adobe have an improving operating margin?") == [
        "adobe-2015.pdf",
        "adobe-2016.pdf",
        "unknown.pdf",
    ]


def test_the_longest_name_wins_and_initials_and_symbols_count() -> None:
    assert sources("Does American Express have an improving margin in 2022?") == ["amex-2022.pdf"]
    assert sources("American Water Works capex in 2022?") == ["aww-2022.pdf"]
    assert sources("What drove revenue change for AMD?") == ["amd-2015.pdf", "unknown.pdf"]
    assert sources("Which of JPM's segments had the lowest net revenue in 2021 Q1?") == ["jpm-2021q1.pdf"]


def test_a_quarter_named_picks_the_quarterly_report() -> None:
    assert sources("Did Best Buy's store count change between FY2023 and Q2 of FY2024?") == ["bby-2024q2.pdf"]


def test_ordinary_words_and_unknown_names_do_not_scope() -> None:
    assert scope_question("What is the best way to reduce debt in 2018?", LIBRARY) == EVERYTHING
    assert scope_question("What was Globex's revenue in FY2018?", LIBRARY) == EVERYTHING


def test_names_and_years_are_read_as_written() -> None:
    assert organisation_words("The Boeing Company (BA)") == ["boeing"]
    assert organisation_words("AMAZON.COM, INC") == ["amazon"]
    assert named_years("FY2018 vs fiscal 2019, FY22 and 2020") == ["2018", "2019", "2022", "2020"]


def test_the_reader_is_told_each_organisation_once_and_the_year() -> None:
    assert scope_question("Is 3M a capital-intensive business?", LIBRARY).names == ["3M COMPANY (MMM)"]
    assert scope_question("What was 3M's capex in FY2018?", LIBRARY).names == ["3M COMPANY", "2018"]
    assert scope_question("Best Buy stores in Q2 of FY2024?", LIBRARY).names == [
        "BEST BUY CO., INC (BBY)",
        "quarterly reports",
    ]
