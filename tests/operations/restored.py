"""What a restored data dir must do: serve alice's photos back, byte for byte."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import ServerProcess
from tests.operations.data import photo
from tests.operations.phone import Phone


def assert_photos_download(target: Path, photo_ids: list[str]) -> None:
    """A server started on the restored ``target`` gives alice's phone each photo back,
    byte for byte (photo ``i`` is ``photo(i)``)."""
    server = ServerProcess(target)
    server.start()
    try:
        phone = Phone(server.base, "alice@example.com", "pixel")
        for i, photo_id in enumerate(photo_ids):
            r = phone.download(photo_id)
            assert r.status_code == 200 and r.content == photo(i), (i, r.status_code)
    finally:
        server.stop()
