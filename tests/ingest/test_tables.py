"""Tables in PDFs kept as rows with their labels and column years (ingest/tables.py), against real PDFs."""

from pathlib import Path

import pypdfium2 as pdfium

from ingest.loaders import load
from ingest.tables import labelled_rows, page_lines, split_page
from tests.filings import write_annual_report
from tests.helpers import write_text_pdf


def test_a_statement_without_ruling_lines_becomes_labelled_rows(tmp_path: Path) -> None:
    loaded = load(write_annual_report(tmp_path / "acme-2018.pdf", "Acme Corporation", 2018))
    tables = [s for s in loaded.sections if s.table is not None]
    assert len(tables) == 1
    table = tables[0]
    assert table.page == 2
    assert table.table == "Acme Corporation Consolidated Statement of Cash Flows Years ended December 31"
    rows = table.text.split("\n")
    assert "Purchases of property, plant and equipment (PP&E) | 2018: (1,577) | 2017: (1,373) | 2016: (1,420)" in rows
    # An empty cell: the values go under the years they stand under on the page, not the first ones.
    assert "Company pension and postretirement contributions | 2018: (370) | 2016: (383)" in rows
    prose = " ".join(s.text for s in loaded.sections if s.table is None)
    assert "pension funding decisions" in prose and "(1,577)" not in prose


def test_numbers_in_sentences_stay_prose(tmp_path: Path) -> None:
    text = (
        "Revenue grew 12 percent to 4,100 million in 2018, and 9 percent in 2017.\n"
        "The company employed 93,000 people at year end."
    )
    loaded = load(write_text_pdf(tmp_path / "prose.pdf", [text]))
    assert all(s.table is None for s in loaded.sections)
    assert "4,100 million" in loaded.sections[0].text


def test_a_table_of_contents_and_a_running_title_are_not_tables(handbook_pdf: Path) -> None:
    document = pdfium.PdfDocument(handbook_pdf)
    prose, tables = split_page(page_lines(document[0]))
    document.close()
    assert tables == []
    assert any("Parking and commuting" in line for line in prose)


def test_labelled_rows_name_each_value_by_its_column() -> None:
    rows = [["Segment", "2023", "2022"], ["Cloud", "4,100", "3,900"], ["Devices", "", "1,200"]]
    assert labelled_rows(rows) == [
        "Segment | 2023 | 2022",
        "Cloud | 2023: 4,100 | 2022: 3,900",
        "Devices | 2022: 1,200",
    ]


def write_price_list(path: Path, header: str | None) -> Path:
    """A price table whose columns are plans, not years; `header` None puts a sentence right above it."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 6, "Prices", new_x="LMARGIN", new_y="NEXT")
    columns = [110, 140, 170]
    if header is None:
        pdf.cell(0, 6, "The prices below are per month and include every feature of the plan.")
    else:
        pdf.cell(60, 6, header)
        for right, name in zip(columns, ["Basic", "Pro", "Enterprise"], strict=True):
            pdf.set_x(right - 25)
            pdf.cell(25, 6, name, align="R")
    pdf.ln(6)
    for label, values in [("Monthly price", ["10", "25", "80"]), ("Users included", ["1", "5", "50"])]:
        pdf.cell(60, 6, label)
        for right, value in zip(columns, values, strict=True):
            pdf.set_x(right - 25)
            pdf.cell(25, 6, value, align="R")
        pdf.ln(6)
    pdf.output(str(path))
    return path


def test_column_names_that_are_not_years_come_from_the_header_above(tmp_path: Path) -> None:
    loaded = load(write_price_list(tmp_path / "prices.pdf", "Plan"))
    (table,) = [s for s in loaded.sections if s.table is not None]
    assert table.text.split("\n") == [
        "Monthly price | Basic: 10 | Pro: 25 | Enterprise: 80",
        "Users included | Basic: 1 | Pro: 5 | Enterprise: 50",
    ]
    assert table.table == "Prices"


def test_a_sentence_above_a_table_does_not_name_its_columns(tmp_path: Path) -> None:
    loaded = load(write_price_list(tmp_path / "prices.pdf", None))
    (table,) = [s for s in loaded.sections if s.table is not None]
    assert table.text.split("\n") == ["Monthly price | 10 | 25 | 80", "Users included | 1 | 5 | 50"]
