"""Sizes as people read them: "7.8 KiB", "1.0 MiB", "10.0 GiB".

The one formatter for sizes in notification texts, in the errors that name sizes (507
"Needs …, but only … of the … quota is free") and in the command line's tables, so that
they all read alike.
"""

from __future__ import annotations

__all__ = ["human_bytes"]

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def human_bytes(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps the figure under 1024 once
    rounded to one decimal: 1 048 575 bytes is "1.0 MiB", not "1024.0 KiB". Under
    1024 bytes, whole bytes ("512 B"); past 1024 TiB, still TiB."""
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in _UNITS:
        # Rounded as shown: 1023.96 is shown "1024.0", so the next unit says it.
        if round(size, 1) < 1024 or unit == _UNITS[-1]:
            return f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
