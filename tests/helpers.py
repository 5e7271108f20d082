"""Test documents built for real with fpdf2, and Settings that ignore the developer's environment."""

from pathlib import Path

from fpdf import FPDF

from rag.settings import Settings

TITLE = "ACME Employee Handbook 2026"

# (section title, the one fact on that page, filler that is on topic but answers nothing)
HANDBOOK_SECTIONS = [
    (
        "Food and the cafeteria",
        "The staff cafeteria opens at 7:30 and closes at 15:00 on weekdays.",
        "Meals are prepared by an external caterer and the menu changes every week. Vegetarian and vegan dishes "
        "are always available, and allergens are listed next to each dish. Employees may bring their own food "
        "and use the microwaves on every floor. Please leave the tables clean for your colleagues.",
    ),
    (
        "Parking and commuting",
        "A monthly parking permit costs 40 euros and is sold at the front desk on the ground floor.",
        "Bicycles can be left in the covered shed behind the main building, which has charging points for "
        "electric bikes. Car sharing between colleagues is encouraged and the notice board in the lobby lists "
        "current offers. Visitors park in the marked spaces near the entrance and register at reception.",
    ),
    (
        "Holidays and leave",
        "Every new employee receives 28 days of paid vacation per year, and unused days expire on 31 March.",
        "Leave requests are entered in the personnel portal and approved by the team lead. Please plan longer "
        "absences early and agree on a replacement for urgent matters. Public holidays follow the calendar of "
        "the region where the office is located and are not deducted from the personal allowance.",
    ),
    (
        "Computers and the helpdesk",
        "The IT helpdesk answers calls on extension 4321 from Monday to Friday between 8:00 and 18:00.",
        "Laptops are installed with the standard software set and encrypted before they are handed out. "
        "Passwords must never be shared, and suspicious messages should be reported instead of opened. "
        "Personal devices may use the guest wireless network, which is separated from the internal systems.",
    ),
    (
        "Travel and expenses",
        "Travel expenses must be claimed within 30 days of the trip through the expense portal.",
        "Train travel is preferred over flights for journeys shorter than five hours. Hotel bookings go through "
        "the travel office, which knows the negotiated company rates. Keep the original receipts until the "
        "claim has been approved, and note the project code on every claim so that costs can be assigned.",
    ),
]

# (question, 1-based PDF page, a string the answer should contain)
HANDBOOK_FACTS = [
    ("When does the staff cafeteria close?", 2, "15:00"),
    ("How much does a monthly parking permit cost?", 3, "40"),
    ("How many days of paid vacation does a new employee get?", 4, "28"),
    ("What is the phone extension of the IT helpdesk?", 5, "4321"),
    ("Within how many days must travel expenses be claimed?", 6, "30"),
]

OUT_OF_CORPUS = [
    "What is the capital of Peru?",
    "Who won the 2018 FIFA World Cup?",
    "How do I bake sourdough bread?",
    "How many moons does Jupiter have?",
]

# A word hyphenated across a line break on page 2, to be joined by the cleaner.
HYPHENATED_LINES = [
    "The cafeteria committee meets monthly to discuss the menu and collects infor-",
    "mation from staff.",
]


def make_settings(data_dir: Path, models_dir: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, models_dir=models_dir, **overrides)  # type: ignore[call-arg]


class _HandbookPDF(FPDF):
    def header(self) -> None:
        self.set_font("Helvetica", size=9)
        self.cell(0, 8, TITLE, new_x="LMARGIN", new_y="NEXT")

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=9)
        self.cell(0, 8, f"Page {self.page_no()} of {{nb}}", align="C")


def write_handbook_pdf(path: Path) -> Path:
    """Six pages: a title page with a dotted table of contents, then one section per page with one fact."""
    pdf = _HandbookPDF()
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font("Helvetica", size=20)
    pdf.cell(0, 14, TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for number, (title, _, _) in enumerate(HANDBOOK_SECTIONS, start=2):
        pdf.cell(0, 7, f"{title} {'.' * 40} {number}", new_x="LMARGIN", new_y="NEXT")
    for number, (title, fact, filler) in enumerate(HANDBOOK_SECTIONS):
        pdf.add_page()
        pdf.set_font("Helvetica", size=16)
        pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, f"{filler} {fact} {filler}", new_x="LMARGIN", new_y="NEXT")
        if number == 0:
            for line in HYPHENATED_LINES:
                pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def write_text_pdf(path: Path, pages: list[str], user_password: str | None = None, owner: str = "owner") -> Path:
    pdf = FPDF()
    if user_password is not None:
        pdf.set_encryption(owner_password=owner, user_password=user_password)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def write_scanned_pdf(path: Path, pages: int = 2) -> Path:
    """Pages with only drawings and no text layer, like a scan."""
    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
        pdf.rect(20, 20, 120, 80, style="F")
        pdf.line(20, 120, 180, 200)
    pdf.output(str(path))
    return path


def write_image_bomb_pdf(path: Path) -> Path:
    """A page without text whose one image (a JPEG) claims to be 30,000 x 30,000 pixels: Pillow refuses to open
    it (DecompressionBombError) when OCR reads the page."""
    import io

    from PIL import Image

    small = io.BytesIO()
    Image.new("L", (16, 16), 255).save(small, format="JPEG")
    image_file = path.with_suffix(".jpg")
    image_file.write_bytes(small.getvalue())
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(image_file), x=20, y=20, w=50)
    data = bytes(pdf.output())
    frame = data.index(b"\xff\xc0")  # the JPEG's frame header: length (2 bytes), precision (1), height, width
    huge = (30_000).to_bytes(2, "big") * 2
    path.write_bytes(data[: frame + 5] + huge + data[frame + 9 :])
    return path


def write_docx(path: Path) -> Path:
    """A Word document with two headings, a list item and a table."""
    import docx

    document = docx.Document()
    document.add_heading("Office guide", level=1)
    document.add_paragraph("Welcome to the office.")
    document.add_heading("Keys", level=2)
    document.add_paragraph("Spare keys are kept in the red box at reception.")
    document.add_paragraph("Ask the caretaker first", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for row, (room, floor) in zip(table.rows, [("Room", "Floor"), ("Library", "3")], strict=True):
        row.cells[0].text, row.cells[1].text = room, floor
    document.save(str(path))
    return path
