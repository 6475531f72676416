"""The ``homesync`` command (Typer + Rich). Commands call services, never the API."""

from __future__ import annotations

import typer

from homesync import __version__
from homesync.cli import backup, devices, keys, maintenance, serve, status, users
from homesync.cli.flag_help import hide_flag_types
from homesync.cli.usage_errors import JsonUsageErrors

hide_flag_types()

app = typer.Typer(
    cls=JsonUsageErrors,
    help="homesync: a self-hosted file-sync server for your phones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("init")(serve.init)
app.add_typer(users.app, name="user")
app.add_typer(devices.app, name="device")
app.add_typer(backup.app, name="backup")
app.add_typer(keys.app, name="keys")
app.command("status")(status.status)
app.command("gc")(maintenance.gc)
app.command("fsck")(maintenance.fsck)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    pass


def main() -> None:
    app()
