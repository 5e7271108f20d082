"""Annual reports that look alike, built for real with fpdf2: a cover page that names the company and fiscal
year, and a cash-flow statement laid out as SEC filings are (a table without ruling lines: row labels on the
left, one right-aligned column per year)."""

from pathlib import Path

from fpdf import FPDF

# (row label, values per year, newest first); None is an empty cell
CASH_FLOW_ROWS = [
    ("Net income including noncontrolling interest", ["5,363", "4,869", "5,058"]),
    ("Depreciation and amortization", ["1,488", "1,544", "1,474"]),
    ("Company pension and postretirement contributions", ["(370)", None, "(383)"]),
    ("Net cash provided by (used in) operating activities", ["6,439", "6,240", "6,662"]),
    ("Purchases of property, plant and equipment (PP&E)", ["(1,577)", "(1,373)", "(1,420)"]),
    ("Proceeds from sale of PP&E and other assets", ["262", "49", "58"]),
    ("Acquisitions, net of cash acquired", ["13", "(2,023)", "(16)"]),
    ("Net cash provided by (used in) investing activities", ["222", "(3,086)", "(1,403)"]),
    ("Dividends paid to shareholders", ["(3,193)", "(2,803)", "(2,678)"]),
]
PROSE = (
    "Cash flows from operating activities can fluctuate significantly from period to period, as pension "
    "funding decisions, tax timing differences and other items can significantly impact cash flows."
)


def scaled(values: list[str | None], factor: int) -> list[str | None]:
    """The same table for another company: every amount multiplied, so the rows look alike but differ."""
    out: list[str | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        negative = value.startswith("(")
        number = int(value.strip("()").replace(",", "")) * factor
        out.append(f"({number:,})" if negative else f"{number:,}")
    return out


def write_annual_report(path: Path, company: str, year: int, factor: int = 1) -> Path:
    """Page 1: the 10-K cover; page 2: prose, then the cash-flow statement for `year` and the two years before."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    for line in [
        "UNITED STATES SECURITIES AND EXCHANGE COMMISSION",
        "FORM 10-K",
        f"For the fiscal year ended December 31, {year}",
        company.upper(),
        "(Exact name of registrant as specified in its charter)",
    ]:
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.multi_cell(0, 6, PROSE, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for line in [company, "Consolidated Statement of Cash Flows", "Years ended December 31"]:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    columns = [120, 150, 180]  # right edges of the year columns
    pdf.set_font("Helvetica", size=9)
    pdf.cell(100, 6, "(Millions)")
    for right, column_year in zip(columns, [year, year - 1, year - 2], strict=True):
        pdf.set_x(right - 20)
        pdf.cell(20, 6, str(column_year), align="R")
    pdf.ln(6)
    for label, values in CASH_FLOW_ROWS:
        pdf.cell(100, 6, label)
        for right, value in zip(columns, scaled(values, factor), strict=True):
            if value is not None:
                pdf.set_x(right - 20)
                pdf.cell(20, 6, value, align="R")
        pdf.ln(6)
    pdf.set_font("Helvetica", size=11)
    pdf.ln(4)
    pdf.multi_cell(0, 6, "The accompanying Notes are an integral part of this statement.")
    pdf.output(str(path))
    return path
