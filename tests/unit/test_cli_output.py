"""The remote commands' output: a rich table and progress bar on a terminal, plain tab-separated lines
and no bar when piped, JSON on request."""

from __future__ import annotations

import io
import json

from omlsvc.cli.output import rows_out, upload_progress

ITEMS = [{"id": "a1", "name": "house", "ns": None}, {"id": "b2", "name": "pets", "ns": "DEMO"}]
COLUMNS = [("id", lambda i: i["id"]), ("name", lambda i: i["name"]), ("namespace", lambda i: i["ns"])]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_output_is_tab_separated_and_json_is_json() -> None:
    piped = io.StringIO()
    rows_out(ITEMS, COLUMNS, as_json=False, out=piped)
    assert piped.getvalue() == "a1\thouse\t\nb2\tpets\tDEMO\n"
    as_json = io.StringIO()
    rows_out(ITEMS, COLUMNS, as_json=True, out=as_json)
    assert json.loads(as_json.getvalue()) == ITEMS


def test_a_terminal_gets_a_table_with_headings() -> None:
    terminal = Terminal()
    rows_out(ITEMS, COLUMNS, as_json=False, out=terminal)
    text = terminal.getvalue()
    assert "namespace" in text and "house" in text and "DEMO" in text and "\t" not in text


def test_an_upload_shows_a_bar_on_a_terminal_only() -> None:
    with upload_progress("m.zip", out=io.StringIO()) as progress:
        assert progress is None
    terminal = Terminal()
    with upload_progress("m.zip", out=terminal) as progress:
        assert progress is not None
        progress(512, 1024)
        progress(1024, 1024)
    assert "m.zip" in terminal.getvalue()
