"""A phone's upload flow, step by step, over any httpx-like client (for the tests)."""

from __future__ import annotations

import hashlib
import os
from typing import Any
from urllib.parse import urlsplit

from tests.helpers import API


def checksum(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_entry(data: bytes, name: str = "IMG_0001.jpg", folder: str = "/photos",
               local_id: str = "local_1", **extra: Any) -> dict[str, Any]:
    return {"localId": local_id, "name": name, "folder": folder, "size": len(data),
            "mimeType": "image/jpeg", "checksum": checksum(data), "priority": "normal", **extra}


def path_of(url: str) -> str:
    """The path+query of an absolute chunk URL (the test client has its own host)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


async def init(client: Any, auth: dict[str, str], *files: dict[str, Any],
               chunk_size: int | None = 4096, **options: Any) -> Any:
    body: dict[str, Any] = {"files": list(files), "uploadOptions": {"chunkSize": chunk_size,
                                                                     **options}}
    return await client.post(f"{API}/upload/init", json=body, headers=auth)


async def put_chunks(client: Any, entry: dict[str, Any], data: bytes,
                     auth: dict[str, str] | None = None, only: list[int] | None = None) -> None:
    for chunk in entry["chunks"]:
        if only is not None and chunk["index"] not in only:
            continue
        r = await client.put(path_of(chunk["uploadUrl"]),
                             content=data[chunk["start"]:chunk["end"] + 1], headers=auth or {})
        assert r.status_code == 200, r.text


async def complete(client: Any, auth: dict[str, str], upload_id: str, data: bytes,
                   **extra: Any) -> Any:
    return await client.post(f"{API}/upload/complete", headers=auth,
                             json={"uploadId": upload_id, "checksum": checksum(data), **extra})


async def upload(client: Any, auth: dict[str, str], data: bytes, **entry: Any) -> dict[str, Any]:
    """init → every chunk → complete; the completed answer's data."""
    r = await init(client, auth, file_entry(data, **entry))
    assert r.status_code == 200, r.text
    item = r.json()["data"]["files"][0]
    if item["status"] == "deduplicated":
        return {"fileId": item["fileId"], "deduplicated": True}
    await put_chunks(client, item, data)
    r = await complete(client, auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])
