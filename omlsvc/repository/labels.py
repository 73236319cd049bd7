"""label.txt: one class label per line, in the column order of the model's output (spec section 7)."""

from __future__ import annotations

from omlsvc.repository.layout import LABELS_NAME


def parse_labels(data: bytes) -> tuple[tuple[str, ...], list[str]]:
    """label.txt's labels, one per line in column order (spec section 7), and what is wrong with them.

    UTF-8 is required (a byte order mark is tolerated); one trailing newline does not make an empty
    label; Windows line ends are accepted; any other empty line is a problem, since it would shift
    every later label to the wrong column. The labels are returned even when there are problems, so
    that the count can still be checked against the model.
    """
    problems = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"{LABELS_NAME} is not UTF-8 text (invalid byte at offset {exc.start})")
        text = data.decode("utf-8-sig", "replace")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    labels = tuple(line.removesuffix("\r") for line in lines)
    empty = [str(number) for number, label in enumerate(labels, start=1) if not label.strip()]
    if not labels:
        problems.append(f"{LABELS_NAME} is empty")
    elif empty:
        problems.append(f"{LABELS_NAME} has empty lines ({', '.join(empty)}): each line must name one class")
    return labels, problems
