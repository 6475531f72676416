"""`homesync user add` refuses an email with control characters, as sign-up does."""

from __future__ import annotations

from tests.helpers import PASSWORD


def test_user_add_refuses_control_characters(cli):
    result = cli("user", "add", "eve\x1b[2J@example.com", "--password-stdin",
                 input=PASSWORD + "\n")
    assert result.exit_code == 2, result.output
    assert "control characters" in result.output
    assert not cli.settings.db_path.exists()  # refused before anything was made
