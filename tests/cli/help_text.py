"""A command's ``--help`` as a user sees it: wide enough that no row wraps, colours off."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from homesync.cli import app

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # CI may force colours (FORCE_COLOR)


def help_text(*words: str) -> str:
    result = CliRunner().invoke(app, [*words, "--help"], prog_name="homesync",
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return _ANSI.sub("", result.stdout)


def help_words(*words: str) -> str:
    """The help's words in one line, without the boxes around them."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", help_text(*words)).split())
