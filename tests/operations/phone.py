"""A phone that talks to a real `homesync serve` over HTTP (for the operations e2e tests)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from tests.helpers import API, PASSWORD, device_info

ENV = {
    "HOMESYNC_AUTH_ARGON2_TIME_COST": "1",
    "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
    "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1",
    "HOMESYNC_STORAGE_DISK_RESERVE": "0",
}
CHUNK = 256 * 1024


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Phone:
    """A signed-in device uploading whole files over HTTP."""

    def __init__(self, base: str, email: str, client_id: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=60)
        r = self.http.post(f"{API}/auth/register", json={
            "email": email, "password": PASSWORD, "deviceInfo": device_info(client_id)})
        assert r.status_code in (200, 201), r.text
        self.access = r.json()["tokens"]["accessToken"]
        self.auth = {"Authorization": f"Bearer {self.access}"}

    def upload(self, folder: str, name: str, data: bytes) -> str:
        r = self.http.post(f"{API}/upload/init", headers=self.auth, json={
            "files": [{"localId": name, "name": name, "folder": folder, "size": len(data),
                       "mimeType": "image/jpeg", "checksum": sha(data), "priority": "normal"}],
            "uploadOptions": {"chunkSize": CHUNK}})
        assert r.status_code == 200, r.text
        item = r.json()["data"]["files"][0]
        if item.get("status") == "deduplicated":
            return str(item["fileId"])
        for chunk in item["chunks"]:
            put = httpx.put(chunk["uploadUrl"], content=data[chunk["start"]:chunk["end"] + 1],
                            timeout=60)
            assert put.status_code == 200, put.text
        done = self.http.post(f"{API}/upload/complete", headers=self.auth,
                              json={"uploadId": item["uploadId"], "checksum": sha(data)})
        assert done.status_code == 200, done.text
        return str(done.json()["data"]["fileId"])

    def delete_and_purge(self, file_id: str) -> None:
        r = self.http.post(f"{API}/sync/files", headers=self.auth, json={
            "localChanges": [{"action": "delete", "localId": f"rm-{file_id}", "fileId": file_id}]})
        assert r.status_code == 200 and r.json()["data"]["results"][0]["status"] == "applied", r.text
        purge = self.http.delete(f"{API}/trash/{file_id}", headers=self.auth)
        assert purge.status_code == 200, purge.text

    def sync_status(self, token: str | None = None) -> dict[str, Any]:
        params = {"syncToken": token} if token else {}
        r = self.http.get(f"{API}/sync/status", headers=self.auth, params=params)
        assert r.status_code == 200, r.text
        return dict(r.json()["data"])

    def sync_status_wait(self, token: str, wait: int) -> dict[str, Any]:
        r = self.http.get(f"{API}/sync/status", headers=self.auth,
                          params={"syncToken": token, "wait": wait})
        assert r.status_code == 200, r.text
        return dict(r.json()["data"])

    def download(self, file_id: str) -> httpx.Response:
        return self.http.get(f"{API}/files/{file_id}/content", headers=self.auth)
