"""``homesync device list|revoke``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from homesync import clock
from homesync.cli.common import ConfigOpt, DataDirOpt, console, run_with_services, settings_from

app = typer.Typer(help="Manage devices.", no_args_is_help=True)


@app.command("list")
def list_devices(
    email: Annotated[str | None, typer.Argument(help="Only this account's devices.")] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List signed-up devices."""
    settings = settings_from(config, data_dir)
    found = run_with_services(settings, lambda s: s.devices.admin_list(email))
    table = Table(title="Devices")
    for col in ("Id", "Account", "Name", "Platform", "App", "Last active", "Push"):
        table.add_column(col)
    for d in found:
        table.add_row(d.id, d.email or "", d.name, f"{d.platform} {d.os_version}", d.app_version,
                      clock.rfc3339(d.last_active_at) or "", "yes" if d.has_push else "")
    console.print(table if found else "No devices.")


@app.command("revoke")
def revoke(device_id: str, data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Remove a device: its tokens stop working at once."""
    settings = settings_from(config, data_dir)
    device = run_with_services(settings, lambda s: s.devices.admin_revoke(device_id))
    console.print(f"Revoked {device.name} ({device.id}) of {device.email or device.user_id}.")
