"""Names the apps, the accounts or the filesystem chose, as a table cell or a message shows them."""

from __future__ import annotations

import unicodedata

from rich.text import Text

__all__ = ["shown"]


# The explicit directional formatting characters (embeddings, overrides, isolates and
# their ends): a device model holding U+202E would turn the rest of its table row around,
# so that the admin reads another name than the device's.
_DIRECTIONAL = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def shown(value: str) -> Text:
    """``value`` to print: a ``Text`` (never read as Rich markup), with its control and
    direction-changing characters written out (``\\x1b``, ``\\n``, ``\\u202e``) rather
    than sent to the terminal, which would run an escape sequence (clear the screen,
    retitle the window), break a table row in two at a line break or lay it out backwards.
    Rich passes escape characters through as they are."""
    return Text("".join(ch.encode("unicode_escape").decode("ascii")
                        if unicodedata.category(ch) == "Cc" or ch in _DIRECTIONAL else ch
                        for ch in value))
