"""label.txt (spec section 7): one class label per line, in the column order of the model's output.

Messages are asserted in full: they are what a client reads in the 400 response.
"""

from __future__ import annotations

from omlsvc.repository.labels import parse_labels

# --- label.txt ------------------------------------------------------------------------------------


def test_label_txt_has_one_label_per_line_and_one_trailing_newline_is_not_a_label() -> None:
    assert parse_labels(b"cat\ndog\n") == (("cat", "dog"), [])
    assert parse_labels(b"cat\ndog") == (("cat", "dog"), [])


def test_label_txt_accepts_windows_line_ends_and_a_byte_order_mark() -> None:
    assert parse_labels("\ufeffcat\r\ndog\r\n".encode()) == (("cat", "dog"), [])


def test_label_txt_keeps_labels_verbatim() -> None:
    assert parse_labels("scorpion-winter\ncinturato winter \nÉté\n".encode()) == (
        ("scorpion-winter", "cinturato winter ", "Été"),
        [],
    )


def test_label_txt_may_not_have_empty_lines() -> None:
    assert parse_labels(b"cat\n\ndog\n\n") == (
        ("cat", "", "dog", ""),
        ["label.txt has empty lines (2, 4): each line must name one class"],
    )


def test_label_txt_must_be_utf8() -> None:
    labels, problems = parse_labels("café\nthé\n".encode("latin-1"))

    assert problems == ["label.txt is not UTF-8 text (invalid byte at offset 3)"]
    assert labels == ("caf\ufffd", "th\ufffd")


def test_label_txt_may_not_be_empty() -> None:
    assert parse_labels(b"") == ((), ["label.txt is empty"])
