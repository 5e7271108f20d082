from ingest.describe import DocumentInfo, describe

COVER = """UNITED STATES SECURITIES AND EXCHANGE COMMISSION
FORM 10-K
For the fiscal year ended November 27, 2015
Commission File Number 0-15175
______________________________ ADOBE SYSTEMS INCORPORATED
(Exact name of registrant as specified in its charter)
Title of each class Trading Symbol Name of each exchange on which registered
Common Stock, $0.0001 par value per share ADBE The NASDAQ Stock Market LLC"""


def test_a_filing_cover_gives_organisation_ticker_type_and_period() -> None:
    info = describe(COVER, "ADBE 10K FY15")
    assert info == DocumentInfo("ADBE 10K FY15", "ADOBE SYSTEMS INCORPORATED (ADBE)", "10-K annual report", "2015")
    assert info.header() == "ADOBE SYSTEMS INCORPORATED (ADBE) | 10-K annual report | 2015 | ADBE 10K FY15"


def test_a_quarterly_report_is_dated_by_the_end_of_its_quarter() -> None:
    text = "FORM 10-Q\nFor the quarterly period ended July 29, 2023\nBEST BUY CO., INC.\n(Exact name of registrant"
    info = describe(text)
    assert (info.organisation, info.doc_type, info.period) == ("BEST BUY CO., INC", "10-Q quarterly report", "2023")


def test_a_year_ending_in_the_first_days_of_january_is_named_for_the_year_before() -> None:
    assert describe("For the fiscal year ended January 1, 2023").period == "2022"
    assert describe("For the fiscal year ended January 28, 2023").period == "2023"


def test_a_legal_name_is_found_without_a_filing_cover_and_junk_titles_are_dropped() -> None:
    info = describe("Annual Report 2021\nNorthwind Traders Ltd.\nLetter to shareholders", "0001018724-18-000005")
    assert info.organisation == "Northwind Traders Ltd."
    assert info.title is None and info.doc_type == "annual report"


def test_plain_documents_get_no_guessed_period() -> None:
    info = describe("Install the app. It was first released in 2019 and rewritten in 2021.", "Guide")
    assert info.period is None and info.organisation is None
    assert info.header() == "Guide"
