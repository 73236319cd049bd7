"""How commands print: errors as one line and their details on stderr; for remote commands, rich
tables and progress bars on a terminal, plain tab-separated lines when piped, JSON with ``--json``.
rich is imported only when a terminal will show it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO


def error_out(line: str, details: Iterable[object] = ()) -> None:
    """An error as every command prints it on stderr: one line, then each detail on a line of its own."""
    print(line, file=sys.stderr)
    for detail in details:
        print(f"  - {detail}", file=sys.stderr)


def rows_out(
    items: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, Callable[[dict[str, Any]], Any]]],
    *,
    as_json: bool,
    out: TextIO | None = None,
) -> None:
    """``items`` as a table of ``columns`` (heading, value of an item), or as JSON."""
    out = out or sys.stdout
    if as_json:
        out.write(json.dumps(list(items), indent=2) + "\n")
        return
    cells = [["" if (v := get(item)) is None else str(v) for _, get in columns] for item in items]
    if not out.isatty():
        for row in cells:
            out.write("\t".join(row) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*(heading for heading, _ in columns))
    for row in cells:
        table.add_row(*row)
    Console(file=out).print(table)


@contextmanager
def upload_progress(label: str, out: TextIO | None = None) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(sent, total)`` callback drawing a bar on a terminal; None when not a terminal."""
    out = out or sys.stderr
    if not out.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        f"[bold]{label}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(file=out),
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(sent: int, total: int) -> None:
            progress.update(task, completed=sent, total=total)

        yield update
