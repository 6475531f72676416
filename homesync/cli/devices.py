"""``homesync device list|revoke``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from homesync import clock
from homesync.cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    console,
    print_json,
    run_with_services,
    settings_from,
)
from homesync.cli.shown import shown
from homesync.models import DeviceInfo

if TYPE_CHECKING:  # loaded by run_with_services when a command runs, not for --help
    from homesync.services.container import Services

app = typer.Typer(help="Manage devices.", no_args_is_help=True)


def device_json(device: DeviceInfo) -> dict[str, Any]:
    """One device as ``device list --json`` prints it."""
    return {
        "id": device.id, "userId": device.user_id, "email": device.email, "name": device.name,
        "platform": device.platform, "model": device.model, "osVersion": device.os_version,
        "appVersion": device.app_version, "registeredAt": clock.rfc3339(device.registered_at),
        "lastActiveAt": clock.rfc3339(device.last_active_at),
        "lastSyncAt": clock.rfc3339(device.last_sync_at), "pushEnabled": device.has_push,
    }


@app.command("list")
def list_devices(
    email: Annotated[str | None, typer.Argument(
        metavar="EMAIL", help="Only this account's devices.")] = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List devices, signed in or signed out (until removed), of everyone or of one account."""
    settings = settings_from(config, data_dir)

    async def find(services: Services) -> list[DeviceInfo]:
        if email is None:
            return await services.devices.admin_list()
        # By the account's id: an unknown account is an error (not "none"), and emails
        # are matched as the database does (A-Z without case), not by str.lower.
        return await services.devices.admin_list((await services.accounts.get(email)).id)

    found = run_with_services(settings, find)
    if as_json:
        print_json([device_json(d) for d in found])
        return
    if not found:
        console.print("No devices.")
        return
    from rich.table import Table  # here: only the listing needs it

    table = Table(title="Devices")
    for col in ("Id", "Account", "Name", "Platform", "App", "Last active", "Push"):
        table.add_column(col, overflow="fold")
    for d in found:
        # Names and versions are the app's to say: Rich would read "[/]" or ":smile:" in
        # them as markup (a stray closing tag crashed the listing), the terminal an escape.
        table.add_row(*(shown(cell) for cell in (
            d.id, d.email or d.user_id, d.name, f"{d.platform} {d.os_version}", d.app_version,
            clock.rfc3339(d.last_active_at) or "", "yes" if d.has_push else "")))
    console.print(table)


@app.command("revoke")
def revoke(
    device_id: Annotated[str, typer.Argument(
        metavar="DEVICE_ID", help="The device's id (see `homesync device list`).")],
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Remove a device: its tokens stop working at once, also on a running server."""
    settings = settings_from(config, data_dir)

    async def revoke_and_name_owner(services: Services) -> tuple[DeviceInfo, str]:
        device = await services.devices.admin_revoke(device_id)
        return device, (await services.accounts.get(device.user_id)).email

    device, email = run_with_services(settings, revoke_and_name_owner)
    console.print(shown(f"Revoked {device.name} ({device.id}) of {email}; it is signed out."))
