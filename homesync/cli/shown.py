"""Names the apps, the accounts or the filesystem chose, as a table cell or a message shows them."""

from __future__ import annotations

import unicodedata

from rich.text import Text

__all__ = ["shown"]


def shown(value: str) -> Text:
    """``value`` to print: a ``Text`` (never read as Rich markup), with its control
    characters written out (``\\x1b``, ``\\n``) rather than sent to the terminal, which
    would run an escape sequence (clear the screen, retitle the window) and break a table
    row in two at a line break. Rich passes escape characters through as they are."""
    return Text("".join(ch.encode("unicode_escape").decode("ascii")
                        if unicodedata.category(ch) == "Cc" else ch for ch in value))
