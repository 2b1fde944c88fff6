"""Plain-text tables that line up in a terminal even with Chinese (double-width) text."""

from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(0, width - display_width(text))
    return gap + text if right else text + gap


def format_table(headers: list[str], rows: list[list], right_align: set[int] = frozenset()) -> str:
    """Render rows under headers; columns in ``right_align`` (indexes) are right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([display_width(h)] + [display_width(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(pad(h, widths[i], i in right_align) for i, h in enumerate(headers))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(pad(c, widths[i], i in right_align) for i, c in enumerate(r)) for r in cells]
    return "\n".join(lines)
