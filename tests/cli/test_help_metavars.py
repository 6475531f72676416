"""``--help`` as a new user reads it: a flag shows nothing after its name (``--json``, not
``--json <bool>``, which reads as ``--json true``); an option or argument that takes a value
says what kind (``--grace DURATION``), as README's § Command line writes it."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from homesync.cli import app
from tests.cli.help_text import help_text


def _commands(cmd: Any, words: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    found = {words: cmd}
    if isinstance(cmd, TyperGroup):
        for name, sub in cmd.commands.items():
            found |= _commands(sub, (*words, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def _row(text: str, param: Any) -> str:
    """What the option's row says after its names: its metavar (if any), then its help."""
    names = [*param.opts, *param.secondary_opts]
    for line in text.splitlines():
        words = line.strip("│ *").split()
        if words and words[0] == names[0]:
            rest = line.strip("│ *")
            for name in names:
                rest = rest.replace(name, "", 1)
            return " ".join(rest.split())
    raise AssertionError(f"no row for {names[0]} in:\n{text}")


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=lambda w: " ".join(w) or "homesync")
def test_flags_show_no_value_and_valued_options_show_one(words: tuple[str, ...]) -> None:
    command = COMMANDS[words]
    text = help_text(*words)
    options = [p for p in command.get_params(typer.Context(command))
               if p.param_type_name == "option" and not p.hidden]
    assert any(p.opts == ["--help"] for p in options)
    for option in options:
        row, first_help_word = _row(text, option), option.help.split()[0]
        if option.is_flag:
            assert row.startswith(first_help_word), (option.opts, row)
        else:
            metavar = row.split()[0]
            assert metavar != first_help_word and metavar.lower() not in ("<bool>", "boolean"), \
                (option.opts, row)


@pytest.mark.parametrize(("words", "shown"), [
    (("gc",), ["--grace DURATION", "--history-retention DURATION", "--data-dir DIR",
               "--config FILE"]),
    (("serve",), ["--host ADDRESS", "--port PORT"]),
    (("user", "add"), ["Usage: homesync user add OPTIONS EMAIL", "--name NAME",
                       "--quota SIZE"]),
    (("user", "quota"), ["Usage: homesync user quota OPTIONS EMAIL SIZE"]),
    (("device", "list"), ["Usage: homesync device list OPTIONS EMAIL"]),
    (("device", "revoke"), ["Usage: homesync device revoke OPTIONS DEVICE_ID"]),
    (("keys", "retire"), ["Usage: homesync keys retire OPTIONS KID"]),
    (("backup", "verify"), ["Usage: homesync backup verify OPTIONS DEST", "--snapshot NAME",
                            "--subset PART", "--seed SEED", "--data-dir DIR", "--config FILE"]),
    (("backup", "prune"), ["--keep-last N", "--keep-daily N"]),
])
def test_values_are_named_as_the_readme_names_them(words: tuple[str, ...],
                                                    shown: list[str]) -> None:
    # The names, however typer brackets them: typer 0.2x writes {EMAIL} when required and
    # [EMAIL] when not, typer 0.16 EMAIL either way.
    text = re.sub(r"[{\[]([A-Z_]+)[}\]]", r"\1", help_text(*words))
    text = " ".join(text.replace("│", " ").split())
    for wanted in shown:
        assert wanted in text, wanted
