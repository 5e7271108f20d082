"""Tables in PDF pages, found from the text lines and the positions of their words (pypdfium2).

Financial statements and most report tables have no ruling lines, so they are found by what their lines hold:
a row is a label followed by values ("Purchases of property, plant and equipment (1,577) (1,373) (1,420)"), a
header is a line of column years ("(Millions) 2018 2017 2016"). A run of rows, with the header and short
caption lines among them, is a table. Each row is then written with its label and its column headers
("Purchases of property, plant and equipment | 2018: (1,577) | 2017: (1,373) | 2016: (1,420)"), a value
placed under the header nearest to it on the page when a row has fewer values than columns. Without this the
plain text is a run of numbers whose row label and year a question cannot match.
"""

import itertools
import re
from collections.abc import Collection
from dataclasses import dataclass, field

import pypdfium2 as pdfium

from ingest.clean import DOT_LEADER, line_signature

VALUE = re.compile(r"^[($]*[-\u2013\u2014+]?[$]?\d[\d,]*(?:\.\d+)?[)%]*$|^[-\u2013\u2014]+$|^n/?m$", re.IGNORECASE)
DECORATION = frozenset({"$", "%", "\u20ac", "\u00a3", ")", "(", "*"})
YEAR = re.compile(r"^\(?(?:FY)?((?:19|20)\d\d)\)?,?$", re.IGNORECASE)
MONTH = re.compile(r"^(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,?$", re.IGNORECASE)
LEADER = re.compile(r"(?:\s?\.){2,}\s*$|\.{3,}")
FOOTNOTE = re.compile(r"^\(\d\)$|^\*+$")
COLUMN_GAP = 6.0  # points between the names of two columns, at least (words of a sentence: one space, ~3)
MIN_ROWS = 2  # fewer rows than this is a sentence with numbers, not a table
CAPTION_WORDS = 12  # a line of text inside a table (e.g. "Cash Flows from Investing Activities") is short
TITLE_LINES = 5  # short lines above a table that name it ("3M Company", "Statement of Cash Flows", "(Millions)")


@dataclass(frozen=True)
class Word:
    text: str
    left: float
    right: float
    bottom: float = 0.0  # PDF coordinates: y grows upwards
    top: float = 0.0

    @property
    def centre(self) -> float:
        return (self.left + self.right) / 2


@dataclass(frozen=True)
class Line:
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


@dataclass
class Table:
    title: str
    columns: list[Word]  # the header's years, with their positions; empty when the table has none
    lines: list[str] = field(default_factory=list)  # rendered rows and captions, top to bottom

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def page_lines(page: pdfium.PdfPage) -> list[Line]:
    """The page's text lines, each word with its left and right edge."""
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        text = textpage.get_text_range(0, count) if count else ""
        lines: list[Line] = []
        words: list[Word] = []
        start = None
        for index in range(len(text) + 1):
            char = text[index] if index < len(text) else "\n"
            if char.isspace():
                if start is not None:
                    words.append(_word(textpage, text, start, index))
                    start = None
                if char in "\r\n" and words:
                    lines.append(Line(words))
                    words = []
            elif start is None:
                start = index
        return _joined(lines)
    finally:
        textpage.close()


def _word(textpage: pdfium.PdfTextPage, text: str, start: int, end: int) -> Word:
    first, last = textpage.get_charbox(start), textpage.get_charbox(end - 1)
    return Word(text[start:end], first[0], last[2], min(first[1], last[1]), max(first[3], last[3]))


def _joined(lines: list[Line]) -> list[Line]:
    """PDFium sometimes breaks one printed line in two (a narrow "1" in a column of numbers): a line that
    continues to the right, at the same height, is joined to the line before it."""
    joined: list[Line] = []
    for line in lines:
        if (
            joined
            and _same_height(joined[-1].words[-1], line.words[0])
            and line.words[0].left > joined[-1].words[-1].right
        ):
            joined[-1] = Line(joined[-1].words + line.words)
        else:
            joined.append(line)
    return joined


def _same_height(a: Word, b: Word) -> bool:
    overlap = min(a.top, b.top) - max(a.bottom, b.bottom)
    return overlap > 0.5 * min(a.top - a.bottom, b.top - b.bottom)


def _values(words: list[Word]) -> tuple[list[Word], list[Word]]:
    """(label words, value words): the trailing run of values (and currency signs) of a line."""
    cut = len(words)
    while cut > 0 and (VALUE.match(words[cut - 1].text) or words[cut - 1].text in DECORATION):
        cut -= 1
    values = [w for w in words[cut:] if w.text not in DECORATION]
    return words[:cut], values


def _kind(line: Line) -> str:
    """header (column years), row (label + values), values (values alone), text."""
    label, values = _values(line.words)
    years = [w for w in line.words if YEAR.match(w.text)]
    amounts = any(re.search(r"\d,\d{3}", w.text) for w in line.words)  # "2,018" is an amount, not a year
    if len(years) >= 2 and len(line.words) - len(years) <= 8 and not amounts:
        return "header"
    if values and not label:
        return "values"
    if len(values) == 1 and (DOT_LEADER.search(line.text) or YEAR.match(values[0].text)):
        return "text"  # a table-of-contents entry ("Parking ........ 3") or a title with its year
    if values and label and MONTH.match(label[-1].text):
        return "text"  # a date ("Years ended December 31"), not a row
    if values and re.search(r"[A-Za-z]", " ".join(w.text for w in label)):
        return "row"
    return "text"


def _is_caption(line: Line) -> bool:
    return len(line.words) <= CAPTION_WORDS and not line.text.endswith(".")


def split_page(lines: list[Line], ignored: Collection[str] = ()) -> tuple[list[str], list[Table]]:
    """(the prose lines, the tables) of one page; `ignored` lines (running headers) are never a table title."""
    kinds = ["text" if line_signature(line.text) in ignored else _kind(line) for line in lines]
    prose: list[str] = []
    tables: list[Table] = []
    index = 0
    while index < len(lines):
        end = _table_end(kinds, lines, index) if kinds[index] in ("header", "row") else index
        rows = sum(1 for k in kinds[index:end] if k in ("row", "values"))
        if rows < MIN_ROWS:
            prose.append(lines[index].text)
            index += 1
            continue
        named = _named_columns(lines[index - 1], lines[index:end]) if index and kinds[index - 1] == "text" else []
        if named:
            prose.pop()  # the header line: its words name the columns
        title, years = _take_title(prose, ignored)
        table = _render(lines[index:end], kinds[index:end], title, named)
        if not table.columns and years:
            table = _render(lines[index:end], kinds[index:end], title, [Word(y, 0.0, 0.0) for y in years])
        tables.append(table)
        index = end
    return prose, tables


def _named_columns(header: Line, rows: list[Line]) -> list[Word]:
    """Column names from a header line of words ("Basic Pro Enterprise"), when each stands over a column of
    values: the words are grouped under the nearest column, and every column must get a name."""
    widest = max((_values(line.words)[1] for line in rows), key=len)
    if len(widest) < 2:
        return []
    left_edge = min(word.left for word in widest) - (widest[1].left - widest[0].left) / 2
    names: list[list[Word]] = [[] for _ in widest]
    for word in header.words:
        if word.right < left_edge:
            continue  # over the labels ("(In millions)", "Product")
        names[min(range(len(widest)), key=lambda i: abs(widest[i].centre - word.centre))].append(word)
    if not all(names) or sum(map(len, names)) > 4 * len(names):
        return []
    if min(later[0].left - earlier[-1].right for earlier, later in itertools.pairwise(names)) < COLUMN_GAP:
        return []  # a sentence above the table, not a header: its words are a space apart
    return [
        Word(" ".join(w.text for w in name), column.left, column.right)
        for name, column in zip(names, widest, strict=True)
    ]


def _table_end(kinds: list[str], lines: list[Line], start: int) -> int:
    """Index after the last line of the table that starts at `start`: short text lines stay inside when a row
    follows within three lines."""
    end = start + 1
    while end < len(lines):
        if kinds[end] != "text":
            end += 1
            continue
        ahead = end
        while ahead < len(lines) and ahead - end < 3 and kinds[ahead] == "text" and _is_caption(lines[ahead]):
            ahead += 1
        if ahead < len(lines) and ahead > end and kinds[ahead] in ("row", "values", "header"):
            end = ahead
            continue
        break
    return end


def _take_title(prose: list[str], ignored: Collection[str]) -> tuple[str, list[str]]:
    """(title, column years) from the short lines just above a table, which are removed from the prose: its
    name, and the years of a header set one word per line ("November 27," / "2015" / "November 28," / "2014")."""
    title: list[str] = []
    years: list[str] = []
    while prose and len(title) < TITLE_LINES:
        line = prose[-1]
        words = line.split()
        if len(words) > CAPTION_WORDS or line.endswith(".") or line_signature(line) in ignored:
            break
        prose.pop()
        if len(words) == 1 and YEAR.match(words[0]):
            years.insert(0, YEAR.match(words[0]).group(1))  # type: ignore[union-attr]
        elif not (words and MONTH.match(words[0]) and len(words) <= 3):  # "November 27," of such a header
            title.insert(0, line)
    return " ".join(title), years


def _render(lines: list[Line], kinds: list[str], title: str, columns: list[Word] | None = None) -> Table:
    table = Table(title, columns or [])
    pending_label = ""  # a label line whose values are on the next line
    for line, kind in zip(lines, kinds, strict=True):
        if kind == "header":
            years = [w for w in line.words if YEAR.match(w.text)]
            table.columns = [Word(YEAR.match(w.text).group(1), w.left, w.right) for w in years]  # type: ignore[union-attr]
            continue
        if kind == "text":
            if pending_label:
                table.lines.append(pending_label)
            pending_label = line.text
            continue
        label_words, values = _values(line.words)
        label = _label(label_words) if kind == "row" else pending_label
        if kind == "row" and pending_label and label[:1].islower():
            label = f"{pending_label} {label}"  # a label wrapped over two lines
        elif kind == "row" and pending_label:
            table.lines.append(pending_label)
        pending_label = ""
        table.lines.append(_row(label, values, table.columns))
    if pending_label:
        table.lines.append(pending_label)
    return table


def _label(words: list[Word]) -> str:
    """The row label without dot leaders ("Goodwill ........" -> "Goodwill")."""
    return LEADER.sub("", " ".join(w.text for w in words)).strip()


def _row(label: str, values: list[Word], columns: list[Word]) -> str:
    if columns and len(values) == len(columns) + 1 and FOOTNOTE.match(values[0].text):
        label, values = f"{label} {values[0].text}", values[1:]  # "Comparable sales % change (1)": a note mark
    if not columns or len(values) > len(columns):
        cells = [v.text for v in values]
    elif len(values) == len(columns):
        cells = [f"{c.text}: {v.text}" for c, v in zip(columns, values, strict=True)]
    elif not any(c.centre for c in columns):  # years from a stacked header: no positions to align by
        cells = [v.text for v in values]
    else:
        cells = [f"{min(columns, key=lambda c: abs(c.centre - v.centre)).text}: {v.text}" for v in values]
    return " | ".join([label, *cells]) if label else " | ".join(cells)


def labelled_rows(rows: list[list[str]]) -> list[str]:
    """Rows of a table with cells (DOCX, HTML): the first row is the header, and every later row is written
    with its label and each value named by its column ("Revenue | 2018: 4,100 | 2017: 3,900")."""
    rows = [[" ".join(cell.split()) for cell in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if len(rows) < 2:
        return [" | ".join(cell for cell in row if cell) for row in rows]
    header, body = rows[0], rows[1:]
    lines = [" | ".join(cell for cell in header if cell)]
    for row in body:
        cells = [row[0]] if row[0] else []
        for column, value in enumerate(row[1:], start=1):
            name = header[column] if column < len(header) else ""
            if value and value != row[column - 1]:  # a merged cell repeats its text in each column it spans
                cells.append(f"{name}: {value}" if name else value)
        lines.append(" | ".join(cells))
    return lines
