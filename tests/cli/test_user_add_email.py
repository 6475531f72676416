"""`homesync user add` refuses an email or a name with control characters, as sign-up
does: both become the account's name and its devices'."""

from __future__ import annotations

import json

import pytest

from tests.helpers import PASSWORD


def test_user_add_refuses_control_characters(cli):
    result = cli("user", "add", "eve\x1b[2J@example.com", "--password-stdin",
                 input=PASSWORD + "\n")
    assert result.exit_code == 2, result.output
    assert "control characters" in result.output
    assert not cli.settings.db_path.exists()  # refused before anything was made


# ESC (an ANSI sequence), a tab, DEL, a C1 control (CSI), a right-to-left override.
@pytest.mark.parametrize("name", ["Eve\x1b[2J", "Eve\tX", "Eve\x7f", "Eve\x9b2J", "Eve\u202e"])
def test_user_add_refuses_a_name_with_control_characters(cli, name):
    result = cli("user", "add", "eve@example.com", "--name", name, "--password-stdin",
                 input=PASSWORD + "\n")
    assert result.exit_code == 2, result.output
    assert "Name may not contain control characters" in result.output
    assert not cli.settings.db_path.exists()  # refused before anything was made


def test_user_add_takes_a_name_in_any_script(cli):
    result = cli("user", "add", "eve@example.com", "--name", "Ève Ωmega 李", "--password-stdin",
                 input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    [user] = json.loads(cli("user", "list", "--json").output)
    assert user["name"] == "Ève Ωmega 李"
