"""What rockctl prints: tables for people (sizes as "1 TiB"), JSON for machines (bytes)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import humanize
import orjson
from rich.console import Console
from rich.table import Table

UNITS = "KMGTPE"
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGTPE])(?:I?B)?|B)?\s*$", re.IGNORECASE)
WIDTH = 1000
"""Columns a table may take: wide enough that no row is folded or cut."""


def parse_size(text: str) -> int:
    """Bytes of a size such as 1T, 1.5G, 512MiB or 4096 (units of 1024); ValueError else."""
    match = SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size (say 500M, 1.5G or 1T; units of 1024)")
    number, unit = match.groups()
    try:
        value = Decimal(number) * (1024 ** (UNITS.index(unit.upper()) + 1) if unit else 1)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a size") from None
    return int(value)


def human_size(value: Any) -> str:
    """A byte count as people read it ("1 TiB", "1.5 GiB"); "-" for none."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    return humanize.naturalsize(value, binary=True, format="%.4g")


def cell(value: Any) -> str:
    """A value as a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


@dataclass(frozen=True)
class Column:
    """A table column: its heading and how to read its cell from a row."""

    heading: str
    read: Callable[[dict[str, Any]], Any]
    size: bool = False

    def render(self, row: dict[str, Any]) -> str:
        value = self.read(row)
        return human_size(value) if self.size else cell(value)


def field(name: str, heading: str | None = None, size: bool = False) -> Column:
    """A column of a dotted field ("usage.referenced")."""
    def read(row: dict[str, Any]) -> Any:
        value: Any = row
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value
    return Column(heading or name.split(".")[-1].upper(), read, size)


def _print(table: Table) -> None:
    """A table on stdout as wide as it needs (never squeezed to the terminal: a long line
    wraps whole, as `kubectl get`'s), its lines without trailing blanks."""
    console = Console(width=WIDTH, highlight=False, force_terminal=sys.stdout.isatty())
    with console.capture() as captured:
        console.print(table)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    sys.stdout.write(text + "\n")


def print_table(columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> None:
    """Rows under their headings, aligned, without borders (as `kubectl get`)."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column.heading, no_wrap=True, overflow="fold")
    for row in rows:
        table.add_row(*(column.render(row) for column in columns))
    _print(table)


def print_fields(pairs: Sequence[tuple[str, str]]) -> None:
    """One resource as `name: value` lines."""
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True)
    for name, value in pairs:
        table.add_row(f"{name}:", value)
    _print(table)


def print_json(value: Any) -> None:
    """A value as indented JSON on stdout."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_line(value: Any) -> None:
    """A value as one compact line of JSON (JSON Lines), flushed at once."""
    sys.stdout.write(orjson.dumps(value).decode() + "\n")
    sys.stdout.flush()
