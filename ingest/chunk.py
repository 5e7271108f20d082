"""Sections -> chunks sized in embedder tokens, cut at sentence or paragraph boundaries where possible."""

from semantic_text_splitter import MarkdownSplitter, TextSplitter
from tokenizers import Tokenizer

from ingest.loaders import LoadedFile
from rag.types import Chunk

CONTEXT_TOKENS = 40  # at most, for the document's context line (title, organisation, type, period)
TITLE_TOKENS = 40  # at most, for a table's title repeated in each of its chunks


class Chunker:
    """Splits each section on its own, so a chunk never spans two PDF pages or two Markdown headings.

    semantic-text-splitter first cuts a section into small units (a sentence or a few short ones; a long
    sentence is cut at words), at the most meaningful boundary that fits; the units are then packed into chunks
    of at most `size` tokens, and trailing units of up to `overlap` tokens are repeated at the start of the next.
    Packing matters: the splitter alone leaves a heading line as a chunk of its own when the paragraph under it
    does not fit beside it. Lengths are counted with the embedder's own tokenizer, so no chunk is longer than
    what the embedder reads.
    """

    def __init__(self, tokenizer: Tokenizer, size: int, overlap: int, max_tokens: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.size = size
        self.overlap = overlap
        self.max_tokens = max_tokens or size  # what the embedder reads of a chunk's search text
        unit = max(overlap, size // 4, 1)  # small enough to overlap by whole units, big enough for most sentences
        self.text_units = TextSplitter.from_huggingface_tokenizer(tokenizer, unit, trim=True)
        self.markdown_units = MarkdownSplitter.from_huggingface_tokenizer(tokenizer, unit, trim=True)

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def split(self, loaded: LoadedFile, source: str) -> list[Chunk]:
        splitter = self.markdown_units if loaded.markdown else self.text_units
        context = self.clip(loaded.info.header(), CONTEXT_TOKENS) if loaded.info else ""
        # The document's context and the heading path are embedded with each chunk (Chunk.search_text): the
        # heading takes part of the chunk's budget, the context is added on top within what the embedder reads.
        room = self.max_tokens - (self.count(f"{context}\n") if context else 0)
        chunks: list[Chunk] = []
        for section in loaded.sections:
            heading = self.count(f"{section.heading}\n") if section.heading else 0
            size = max(min(self.size, room) - heading, self.size // 2)
            if section.table is not None:
                pieces = self.table_rows(section.text, self.clip(section.table, TITLE_TOKENS), size)
            else:
                pieces = self.pack(section.text, splitter, size)
            for text in pieces:
                chunks.append(Chunk(text, source, len(chunks), section.page, section.heading, context or None))
        return chunks

    def table_rows(self, rows: str, title: str, size: int) -> list[str]:
        """A table's rows packed into chunks, each starting with the table's title so it reads on its own."""
        prefix = f"{title}\n" if title else ""
        units = [(line, self.count(line)) for line in rows.split("\n") if line.strip()]
        budget = max(size - self.count(prefix), size // 2)
        chunks: list[list[str]] = [[]]
        used = 0
        for line, tokens in units:
            if chunks[-1] and used + tokens > budget:
                chunks.append([])
                used = 0
            if tokens > budget:  # a row too long for one chunk is cut like prose
                chunks[-1].extend(self.pack(line, self.text_units, budget))
                used = budget
                continue
            chunks[-1].append(line)
            used += tokens
        return [prefix + "\n".join(lines) for lines in chunks if lines]

    def clip(self, text: str, tokens: int) -> str:
        """`text` cut to at most `tokens` tokens, at a word boundary."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        if len(encoding.ids) <= tokens:
            return text
        return text[: encoding.offsets[tokens - 1][1]].rsplit(" ", 1)[0]

    def pack(self, text: str, splitter: TextSplitter | MarkdownSplitter, size: int | None = None) -> list[str]:
        size = size or self.size
        units = [(start, start + len(unit), self.count(unit)) for start, unit in splitter.chunk_indices(text)]
        chunks: list[str] = []
        first = 0
        while first < len(units):
            last, total = first, 0  # units[first:last] form the chunk
            while last < len(units) and total + units[last][2] <= size:
                total += units[last][2]
                last += 1
            last = max(last, first + 1)
            piece = text[units[first][0] : units[last - 1][1]]
            while last - first > 1 and self.count(piece) > size:  # joins can add a token or two
                last -= 1
                piece = text[units[first][0] : units[last - 1][1]]
            chunks.append(piece)
            if last == len(units):
                break
            first = self._overlap_start(units, first, last)
        return chunks

    def _overlap_start(self, units: list[tuple[int, int, int]], first: int, last: int) -> int:
        """Where the next chunk starts: back over whole units worth at most `overlap` tokens, always forward."""
        start, shared = last, 0
        while start - 1 > first and shared + units[start - 1][2] <= self.overlap:
            start -= 1
            shared += units[start][2]
        return start
