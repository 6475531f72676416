"""Usage errors for scripts: with ``--json``, click's usage errors (an unknown option, a
bad value, a missing argument) also print the ``{"ok": false, "error": ...}`` document
every other failure prints (see :func:`homesync.cli.common.fail`); still exit code 2.

One place for every command: the root command's class, whose ``make_context`` sees
errors in the first words (``homesync --bogus``) and whose ``invoke`` sees those of
every subcommand, however deep.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typer.core import TyperGroup

from homesync.cli.clickcompat import Context, UsageError
from homesync.cli.common import print_document

__all__ = ["JsonUsageErrors"]

_ARGV = "homesync.argv"


class JsonUsageErrors(TyperGroup):
    def make_context(self, info_name: str | None, args: list[str],
                     parent: Context | None = None, **extra: Any) -> Context:
        argv = list(args)  # parsing consumes the list
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            _document(argv, exc)
            raise
        ctx.meta[_ARGV] = argv
        return ctx

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            _document(ctx.meta.get(_ARGV, ()), exc)
            raise  # typer prints the usage text on stderr and exits 2


def _document(argv: Sequence[str], exc: UsageError) -> None:
    """The JSON document on stdout when ``--json`` was asked for (before a ``--``)."""
    words = argv[:argv.index("--")] if "--" in argv else argv
    if "--json" in words:
        print_document({"ok": False, "error": exc.format_message()})
