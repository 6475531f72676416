"""`homesync status` numbers (the service behind the command and the metrics gauges)."""

from __future__ import annotations

from pathlib import Path

from homesync import clock
from homesync.services.container import Services
from tests.operations.data import delete_file, photo, put_file
from tests.sync.helpers import change, push, store
from tests.uploads.flow import file_entry, init


async def test_status_counts_storage_dedup_outbox_and_backups(services: Services, make_user,
                                                              sign_in, tmp_path: Path) -> None:
    uid = await make_user()
    await sign_in(client_id="phone")
    await sign_in(client_id="tablet")  # a new device: a security notification for the phone
    shared = photo(1)
    await put_file(services, uid, "/a", "one.jpg", shared)
    await put_file(services, uid, "/b", "same.jpg", shared)  # same bytes: same chunks
    gone = await put_file(services, uid, "/c", "gone.jpg", photo(2))
    await delete_file(services, uid, gone)

    report = await services.status.report()
    assert (report.users, report.devices, report.files, report.versions) == (1, 2, 2, 2)
    assert report.logical_bytes == 2 * len(shared)
    # The deleted file's chunks wait for gc: still stored, no longer counted as content.
    assert report.stored_bytes == len(shared) + len(photo(2))
    assert report.pending_notifications >= 1 and report.failed_pushes == 0
    assert report.last_backup is None and not report.backup_running
    assert report.database_bytes > 0 and report.disk_free_bytes > 0

    await services.backups.create(tmp_path / "backup")
    report = await services.status.report()
    assert report.last_backup is not None
    assert report.last_backup.destination == str(tmp_path / "backup")
    assert report.last_backup.bytes == len(shared)


async def test_trash_count_leaves_out_purged_files(client, services: Services, make_user,
                                                   sign_in) -> None:
    """A file purged from the trash (by hand or retention) is no longer "in the trash"."""
    uid = await make_user()
    phone = await sign_in()
    kept, purged = [await store(client, phone, data, name=f"{i}.txt")
                    for i, data in enumerate((b"kept in the trash", b"purged for good"))]
    for i, file_id in enumerate((kept, purged)):
        await push(client, phone, None, change("delete", local_id=str(i), fileId=file_id))
    assert (await services.status.report()).trashed_files == 2
    assert await services.sync.trash.purge(uid, purged) == len(b"purged for good")

    report = await services.status.report()
    assert (report.files, report.trashed_files, report.versions) == (0, 1, 1)


async def test_an_upload_past_its_expiry_is_not_counted_open(client, services: Services,
                                                             make_user, sign_in) -> None:
    """Idle past session_ttl an upload is refused (410) and no longer resumable, even
    before a gc round marks it expired (never, with gc_interval 0): status and the
    open_uploads gauge counted it open until then."""
    await make_user()
    phone = await sign_in()
    data = b"x" * 5000
    r = await init(client, phone.auth, file_entry(data))
    assert r.status_code == 200, r.text
    assert (await services.status.report()).open_uploads == 1
    start = clock.now()
    clock.set_now(lambda: start + services.uploads.planner.ttl_ms / 1000 + 1)
    try:
        assert (await services.status.report()).open_uploads == 0
    finally:
        clock.set_now(None)
