"""Names people chose (a file's, a device's, an account's) as notification texts show them.

Such a name sits in a sentence a phone shows on its lock screen: "Alice's Pixel 7
(android) signed in.", "“IMG_1.jpg” is safe on your server.". A file name may hold
characters no control-character check refuses: a right-to-left override (U+202E) turns
the rest of the sentence around, so that a device signing in could name itself to make
its own "New device login detected" alert read as something else; a line separator
(U+2028) starts a new line of text the server never wrote; and a name in Hebrew or
Arabic at the start of a sentence makes a phone lay the whole sentence out right to left.
"""

from __future__ import annotations

import unicodedata

__all__ = ["shown"]

# The explicit directional formatting characters: embeddings, overrides and their end
# (U+202A-U+202E), isolates and their end (U+2066-U+2069). Dropped: the name is isolated
# as a whole instead, and one of its own would end that isolate early.
_DIRECTIONAL = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
# Characters that break a line: a space in their place (control characters, which
# names may not hold, are not among them).
_LINE_BREAKS = {ord("\u2028"): " ", ord("\u2029"): " "}
FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE = "\u2068", "\u2069"


def shown(name: str) -> str:
    """``name`` to put in a notification's title or body: without direction-changing or
    line-breaking characters, and, when it holds right-to-left letters, set apart
    (first-strong isolate … pop directional isolate) so that it is laid out in its own
    direction without moving the text around it. A name of left-to-right letters only,
    the common case, is left as it is."""
    text = name.translate(_DIRECTIONAL).translate(_LINE_BREAKS)
    if any(unicodedata.bidirectional(ch) in ("R", "AL", "AN") for ch in text):
        return f"{FIRST_STRONG_ISOLATE}{text}{POP_DIRECTIONAL_ISOLATE}"
    return text
