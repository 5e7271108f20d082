import pytest

from rag.safety.pii import find_pii, redact, redact_all, redact_stream

TEXT = (
    "Write to jane.doe@example.com or call +1 415-555-0132. Card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 "
    "7654 32, SSN 123-45-6789, NI number AB 12 34 56 C, NHS number 943 476 5919."
)


@pytest.mark.parametrize(
    ("text", "kind", "label"),
    [
        ("mail jane.doe@example.com now", "email", "[email removed]"),
        ("call +1 415-555-0132 now", "phone", "[phone number removed]"),
        ("call (212) 555-0199 now", "phone", "[phone number removed]"),
        ("card 4111 1111 1111 1111 now", "card", "[card number removed]"),
        ("card 5555-5555-5555-4444 now", "card", "[card number removed]"),
        ("iban DE89 3704 0044 0532 0130 00 now", "iban", "[IBAN removed]"),
        ("ssn 123-45-6789 now", "national_id", "[national ID removed]"),
        ("nino AB 12 34 56 C now", "national_id", "[national ID removed]"),
    ],
)
def test_each_kind_is_found_and_labelled(text: str, kind: str, label: str) -> None:
    redacted, kinds = redact(text)
    assert kinds == [kind] and label in redacted and redacted.startswith(text.split()[0] + " ")
    assert redacted.endswith(" now")


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112 shipped",  # fails Luhn
        "revenue was 2,345,678,901 dollars",  # an amount, not a phone number
        "IBAN GB82 WEST 1234 5698 7654 33",  # wrong check digits
        "SSN 000-12-3456",  # never issued
        "the server at 127.0.0.1:8501 and version 1.15.0",
        "Form 10-K for fiscal 2022, page 47",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert redact(text) == (text, [])


def test_streamed_redaction_matches_whole_text_redaction_whatever_the_piece_size() -> None:
    whole = redact(TEXT)[0]
    assert "@" not in whole and "4111" not in whole and "6789" not in whole and "0132" not in whole
    for size in (1, 2, 3, 7, 16):
        kinds: list[str] = []
        pieces = list(redact_stream([TEXT[i : i + size] for i in range(0, len(TEXT), size)], "US", kinds))
        assert "".join(pieces) == whole and len(pieces) > 3  # given out as it comes, not all at the end
        assert sorted(kinds) == sorted(kind for kind in redact(TEXT)[1])


def test_plain_words_flow_at_once_while_a_number_is_held_until_complete() -> None:
    kinds: list[str] = []
    stream = redact_stream(iter(["Call ", "+1 415", "-555-", "0132", " today ", "please"]), "US", kinds)
    assert next(stream) == "Call "
    assert next(stream) == "[phone number removed] today "
    assert list(stream) == ["please"] and kinds == ["phone"]


def test_every_string_of_a_record_is_redacted() -> None:
    record = {"question": "Is jane.doe@example.com right?", "n": 3, "items": [{"answer": "card 4111111111111111"}]}
    assert redact_all(record) == {
        "question": "Is [email removed] right?", "n": 3, "items": [{"answer": "card [card number removed]"}]
    }  # fmt: skip
    assert [f.kind for f in find_pii(TEXT)] == ["email", "phone", "card", "iban", "national_id", "national_id",
                                                "national_id"]  # fmt: skip
