"""Tables that never cut a number: a grid when every cell fits the console whole, stacked records otherwise.

Why: rich shrinks columns to fit the width, and in an 80-column terminal or a CI log (where rich assumes 80
columns) that turned `9,999,999,980.000000001` into `9,999,99…`. A number cut short is worse than no number, so
`print_table` measures every cell first and picks a layout in which none is cut: the usual grid if it fits, else
one block per row (`column: value` lines), which fits any width a value fits in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

# A rich table with the default box and one space of padding each side spends 3 columns per column plus 1.
_RULES_PER_COLUMN, _RULES_FIXED = 3, 1


@dataclass(frozen=True)
class Column:
    """A column's header and alignment (`right` for numbers, so their digits line up)."""

    header: str
    right: bool = False


def _width(cell: str) -> int:
    """The widest line of a cell as it will be shown (markup removed)."""
    return max((Text.from_markup(line).cell_len for line in cell.split("\n")), default=0)


def _columns(columns: Sequence[Column | str]) -> list[Column]:
    return [c if isinstance(c, Column) else Column(c) for c in columns]


def fits(columns: Sequence[Column | str], rows: Sequence[Sequence[str]], width: int) -> bool:
    """Would the grid show every cell whole in `width` columns?"""
    columns = _columns(columns)
    needed = sum(max([_width(c.header), *(_width(row[i]) for row in rows)]) for i, c in enumerate(columns))
    return needed + _RULES_PER_COLUMN * len(columns) + _RULES_FIXED <= width


def print_table(console: Console, title: str, columns: Sequence[Column | str], rows: Sequence[Sequence[str]]) -> None:
    """Print `rows` under `title` as a grid if it fits `console.width`, else as stacked records.

    Cells may hold rich markup and newlines. In the stacked form each row starts with its first cell in bold and
    lists the others as `header: value`, a multi-line value indented under its header; a two-column table is one
    `name: value` line per row."""
    cols = _columns(columns)
    if fits(cols, rows, console.width):
        table = Table(title=title, title_justify="left")
        for column in cols:
            table.add_column(column.header, justify="right" if column.right else "left", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    console.print(Text.from_markup(title, style="italic"))
    if len(cols) == 2 and all("\n" not in row[1] for row in rows):
        for name, value in rows:
            console.print(f"{name}: {value}")
        return
    for row in rows:
        console.print(f"[bold]{row[0]}[/bold]" if row[0] else "")
        for column, cell in zip(cols[1:], row[1:], strict=True):
            lines = cell.split("\n")
            if len(lines) == 1:
                console.print(f"  {column.header}: {cell}")
            else:
                console.print(f"  {column.header}:")
                for line in lines:
                    console.print(f"    {line}")
