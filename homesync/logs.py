"""Logging for the server: request ids on every line, text or JSON, and no secrets.

Every log line written while a request is handled carries that request's id (set by the
API's observability middleware in :data:`request_id`), so one ``grep`` finds everything a
request caused. Whatever a line says, credentials are scrubbed from it before it is
written: access and refresh tokens, ``Authorization`` values, chunk-URL signatures and
password fields (defence in depth: nothing should log them in the first place).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

import msgspec

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "redact", "request_id"]

request_id: ContextVar[str | None] = ContextVar("homesync_request_id", default=None)

_SECRETS = (
    # JWTs (access tokens): three base64url parts, the first always starting "eyJ".
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[token]"),
    (re.compile(r"rt_mobile_[A-Za-z0-9_-]+"), "rt_mobile_[redacted]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s,;\"']+"), r"\1 [redacted]"),
    (re.compile(r"(?i)([?&](?:sig|signature|token|access_token)=)[^&\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(?i)(\"?(?:password|refreshToken|accessToken|pushToken)\"?\s*[:=]\s*)"
                r"(\"[^\"]*\"|'[^']*'|[^\s,}]+)"), r"\1[redacted]"),
)

# The names the last pattern above scrubs the values of, as a JSON line's keys.
_SECRET_KEY = re.compile(r"(?i)(?:password|refreshToken|accessToken|pushToken)$")

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is data.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message", "asctime", "request_id", "color_message"}  # uvicorn adds color_message


# Every pattern above needs one of these words, so a line holding none of them is clean.
# Checking for them is ~40x cheaper than running the patterns, and almost every access
# line is clean. Only for ASCII text: there ``lower()`` folds case exactly as ``(?i)``
# does (``(?i)`` also folds a few non-ASCII letters, such as the Kelvin sign, onto "k").
_TRIGGERS_EXACT = ("eyJ", "rt_mobile_")
_TRIGGERS_ANY_CASE = ("bearer", "basic", "sig", "token", "password")


def redact(text: str) -> str:
    """``text`` with anything that looks like a credential replaced."""
    if _surely_clean(text):
        return text
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _surely_clean(text: str) -> bool:
    """True when ``text`` holds none of the trigger words (so nothing to scrub)."""
    if not text.isascii():
        return False
    folded = text.lower()
    return (not any(word in text for word in _TRIGGERS_EXACT)
            and not any(word in folded for word in _TRIGGERS_ANY_CASE))


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True


class _CachedTime(logging.Formatter):
    """Formats each second's timestamp once: a busy server writes an access line per
    request, and ``localtime`` + ``strftime`` were a fair share of one."""

    _second: tuple[int, str | None, str] = (-1, None, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if (second, datefmt) != self._second[:2]:
            self._second = (second, datefmt, super().formatTime(record, datefmt).split(",")[0])
        if datefmt:
            return self._second[2]
        return f"{self._second[2]},{int(record.msecs):03d}"


class TextFormatter(_CachedTime):
    """``2024-01-20 15:30:00,123 INFO homesync.api [req 4f2a…] message key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        # The line before any traceback. A trailing newline is uvicorn's way to put its
        # traceback on the next line: the traceback goes there anyway.
        return _printable(super().formatMessage(record).rstrip("\n"))

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={_printable(str(v))}" for k, v in extras.items())
        return redact(line)


# What a client sends ends up in log lines (a path's %0A, an ESC): a newline in it began a
# line of the client's choosing, that read like the server's own, and ESC sequences
# repaint the terminal of whoever reads the log. They are written as Python escapes.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


class JsonFormatter(_CachedTime):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``request_id``, ``msg``, extras.

    ``ts`` is UTC in RFC 3339 (``2024-01-20T15:30:00.123Z``), as the API's times are: a
    collector reads it as a point in time, and local time without its offset was hours
    off (and ambiguous when the clocks go back).
    """

    @staticmethod
    def converter(seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) if
            getattr(record, "request_id", "-") != "-" else None,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        line = msgspec.json.encode(entry).decode()
        if _surely_clean(line):  # almost every line: one check, as for a text line
            return line
        # Each text scrubbed before it is encoded, not the encoded line: there quotes are
        # escaped (a message's \"password\": \"...\" went unscrubbed), and scrubbing a value
        # could take its closing quote with it (a 404 for /password=x was no JSON any more).
        return msgspec.json.encode(_redacted(msgspec.to_builtins(entry))).decode()


def _redacted(value: Any) -> Any:
    """``value`` (plain data) with :func:`redact` applied to every string in it, and the
    values of keys named as secrets (an extra ``password=``) replaced whole."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: "[redacted]" if isinstance(key, str) and _SECRET_KEY.search(key)
                else _redacted(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(item) for item in value]
    return value


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    attrs = record.__dict__
    # Records of one call site have the same attributes in the same order: which of them
    # are extras is worked out once per such layout, not for every access line.
    layout = tuple(attrs)
    names = _EXTRA_NAMES.get(layout)
    if names is None:
        if len(_EXTRA_NAMES) > 256:
            _EXTRA_NAMES.clear()
        names = _EXTRA_NAMES[layout] = tuple(
            k for k in layout if k not in _STANDARD and not k.startswith("_"))
    return {k: attrs[k] for k in names}


_EXTRA_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}


def configure_logging(level: str, fmt: str = "text") -> None:
    """Send every log line to standard error in ``fmt`` (``text`` or ``json``) from ``level`` up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # No line shows the caller's file, thread or process: don't make every record look
    # them up (the logging HOWTO's "Optimization"; findCaller walks the stack each time).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # aiosqlite logs each statement's parameters at DEBUG (password and refresh-token
    # hashes among them): never below INFO, whatever log_level says.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
    # httpx logs every request's URL at INFO, and a push goes to a URL that is the push
    # token itself (a UnifiedPush endpoint, an ntfy topic, APNs' path with the device
    # token): whoever reads it may push to the phone. Their warnings still come through.
    # The HTTP/2 libraries under it log each header they encode or decode at DEBUG, APNs'
    # ":path" (the device token) among them: the same cap.
    for name in ("httpx", "httpcore", "hpack", "h2"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # uvicorn's loggers bring their own handlers: route them through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
