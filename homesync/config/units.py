"""Durations (``15m``) and sizes (``10GiB``) as the config writes them, and their parsing."""

from __future__ import annotations

import re
from typing import Annotated

from msgspec import Meta

__all__ = ["PATTERN_HELP", "Duration", "ListenHost", "MetricsAddress", "PublicUrl", "Size",
           "format_duration", "parse_duration", "parse_size"]

_DURATION_RE = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$")
_SIZE_UNITS = {
    None: 1, "B": 1,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# A duration is written "90s", "15m", "1h", "30d"; a size "1024", "8MiB", "10GiB".
Duration = Annotated[str, Meta(pattern=_DURATION_RE.pattern)]
Size = Annotated[str, Meta(pattern=_SIZE_RE.pattern)]
# Not empty: an empty host makes the server listen on every interface, not on the default.
_HOST_RE = r"^\S+$"
ListenHost = Annotated[str, Meta(pattern=_HOST_RE)]
# "host:port" ("[::1]:9464" for IPv6) or empty (off). The port is checked here, 0 to
# 65535: a bigger one passed and ended `serve` with an OverflowError traceback at start.
_PORT_RE = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_METRICS_ADDRESS_RE = rf"^$|^(\[[0-9A-Fa-f:.]+\]|[^:\[\]\s]+):{_PORT_RE}$"
MetricsAddress = Annotated[str, Meta(pattern=_METRICS_ADDRESS_RE)]
# Chunk upload URLs start with it: without a scheme ("home.example") they were relative
# paths no phone can upload to. A path prefix is fine (a proxy serving under /sync/).
_PUBLIC_URL_RE = r"^$|^https?://[^/?#\s]+(/[^?#\s]*)?$"
PublicUrl = Annotated[str, Meta(pattern=_PUBLIC_URL_RE)]


# msgspec reports a failed pattern as the regex; people read these instead.
PATTERN_HELP = {
    _DURATION_RE.pattern: "expected a duration such as 90s, 15m, 1h or 7d",
    _SIZE_RE.pattern: "expected a size such as 1024, 512KiB, 8MiB or 10GiB",
    _HOST_RE: "expected an address to listen on, such as 127.0.0.1 (this machine only),"
              " or 0.0.0.0 for every interface",
    _METRICS_ADDRESS_RE: "expected an address and a port from 0 to 65535, such as"
                         " 127.0.0.1:9464 ([::1]:9464 for IPv6), or empty for no metrics",
    _PUBLIC_URL_RE: "expected the http:// or https:// address phones reach the server at,"
                    " such as https://home.example, or empty (from each request's Host)",
}


def parse_duration(text: str) -> int:
    """Seconds in a duration string such as ``15m``."""
    m = _DURATION_RE.match(text)
    if not m:
        raise ValueError(f"not a duration (use e.g. 90s, 15m, 1h, 7d): {text!r}")
    return int(m.group(1)) * _DURATION_UNITS[m.group(2)]


def format_duration(seconds: int) -> str:
    """The shortest exact duration string (``3600`` → ``1h``), as the contract's ``expiresIn``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_size(text: str) -> int:
    """Bytes in a size string such as ``10GiB``."""
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"not a size (use e.g. 512KiB, 8MiB, 10GiB): {text!r}")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2)]
