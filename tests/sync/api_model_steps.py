"""The steps of tests/sync/test_api_model.py that make changes: HTTP plumbing, uploads,
sync/files and queued changes, each checked against the model (tests/sync/api_model.py)
as it is answered."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import event

from homesync.paths import name_key
from tests.helpers import API, PASSWORD
from tests.server_on_loop import ServerOnLoop
from tests.sync.api_model import Account, Phone, check_envelope, digest, join, parent_of, under
from tests.sync.conftest import SMALL_CHUNKS
from tests.uploads.flow import path_of

# Contents: small ones, one of three 4 KiB chunks, one empty.
CONTENTS = [b"alpha", b"bravo!", b"charlie" * 1500, b"delta delta", b""]
FOLDER_NAMES = ["docs", "pics", "sub"]
NAMES = ["a.txt", "A.TXT", "b.txt", "c.bin"]  # A.TXT is a.txt


class World(ServerOnLoop):
    """One server for all the examples; each example makes fresh accounts."""

    def __init__(self, root: Any) -> None:
        super().__init__(
            root, uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"},
            auth={"api_requests_per_second": 0, "api_request_burst": 0},
            sync={"keep_versions": 0, "version_retention": "0d", "trash_retention": "0d"})
        self.accounts = 0


class Steps:
    """What the machine does; its rules (in the test) pick the arguments."""

    w: World
    clock: int
    a: Account
    b: Account

    def now(self) -> int:
        self.clock += 1
        return self.clock

    def run(self, coro: Any) -> Any:
        return self.w.run(coro)

    async def call(self, method: str, url: str, phone: Phone, **kw: Any) -> httpx.Response:
        r = await self.w.http.request(method, f"{API}{url}", headers=phone.dev.auth, **kw)
        check_envelope(r.status_code, r.json() if r.content and r.headers.get(
            "content-type", "").startswith("application/json") else None, f"{method} {url}: {r.text[:500]}")
        return r

    async def data(self, method: str, url: str, phone: Phone, expect: int = 200,
                   **kw: Any) -> dict[str, Any]:
        r = await self.call(method, url, phone, **kw)
        assert r.status_code == expect, (method, url, r.status_code, r.text)
        return dict(r.json()["data"])

    async def pull(self, phone: Phone) -> None:
        while True:
            params = {"limit": 4, **({"syncToken": phone.token} if phone.token else {})}
            data = await self.data("GET", "/sync/status", phone, params=params)
            phone.apply(data)
            if not data["hasMore"]:
                break
        phone.synced_at = self.now()

    def account(self, i: int) -> Account:
        return self.a if i % 3 else self.b  # Alice twice as often

    def phone(self, acct: Account, i: int) -> Phone:
        return acct.phones[i % len(acct.phones)]

    def folder_choice(self, acct: Account, i: int) -> str:
        folders = ["/", *sorted(acct.folders)]
        return folders[i % len(folders)]

    def file_choice(self, acct: Account, i: int, phone: Phone | None = None) -> str | None:
        """A file the device knows (from its last pull), else any of the model's."""
        known = sorted((p, k) for k, (kind, p, _) in (phone.tree if phone else {}).items()
                       if kind == "file")
        if not known:
            known = sorted((f.path, k) for k, f in acct.live().items())
        return known[i % len(known)][1] if known else None

    async def _setup(self) -> None:
        n = self.w.accounts = self.w.accounts + 1
        accounts = []
        # Bob's quota takes a few more small files, or one more of the big one.
        for who, clients, quota in (("alice", ["phone", "laptop"], 0), ("bob", ["phone"], 24000)):
            email = f"{who}{n}@example.com"
            await self.w.svc.accounts.create_user(email, PASSWORD, name=who.title(),
                                                  quota_bytes=quota)
            phones = [Phone(await self.w.sign_in(email, c)) for c in clients]
            acct = Account(who, phones, watcher=Phone(phones[0].dev), quota=quota)
            acct.ids.update(p.dev.device_id for p in phones)
            accounts.append(acct)
        self.a, self.b = accounts
        for acct in accounts:  # a starting tree: /docs, /pics and three files
            for folder in ("/", "/docs"):
                await self._mkdir(acct, acct.phones[0], folder, "pics" if folder == "/" else "sub")
            await self._mkdir(acct, acct.phones[0], "/", "docs")
            for i, folder in enumerate(("/docs", "/pics", "/docs/sub")):
                await self._upload_new(acct, acct.phones[0], folder, NAMES[i], CONTENTS[i],
                                       True, True)
            for phone in acct.phones:
                await self.pull(phone)

    async def _upload_new(self, acct: Account, phone: Phone, folder: str, name: str,
                          data: bytes, restore: bool, finish: bool) -> None:
        entry = {"localId": "l", "name": name, "folder": folder, "size": len(data),
                 "mimeType": "text/plain", "checksum": digest(data), "priority": "normal",
                 "restore": restore}
        body = {"files": [entry], "uploadOptions": {"chunkSize": 4096}}
        r = await self.call("POST", "/upload/init", phone, json=body)
        if r.status_code == 507:  # 507 only when nothing else would do (no bytes otherwise)
            event("init new: 507")
            assert r.json()["error"]["code"] == "QUOTA_EXCEEDED", r.text
            assert acct.over_quota(len(data)) and acct.taken(folder, name) is None, r.text
            return
        assert r.status_code == 200, r.text
        [item] = r.json()["data"]["files"]
        status = item["status"]
        event(f"init new: {status}")
        here = acct.taken(folder, name)
        key = (phone.dev.device_id, folder.casefold(), name.casefold(), digest(data))
        if here not in (None, "folder") and acct.files[here].checksum == digest(data):
            assert (status, item.get("fileId")) == ("deduplicated", here), item
            return
        if status == "deleted_on_server":  # the tombstone rule comes before names
            assert not restore and digest(data) in acct.deleted_content, item
            assert all(f.checksum != digest(data) for f in acct.live().values()), item
            return
        if key in acct.open_uploads and here is not None and not acct.blocked(folder):
            # This device's open upload of the file, asked for again, is resumed though
            # another entry took the name since (README): complete makes a conflicted copy.
            event("init new: resumed, the name taken since")
        elif here is not None or acct.blocked(folder):
            assert status == "conflict", item
            return
        if key not in acct.open_uploads:
            assert not acct.over_quota(len(data)), item
        if acct.stored(digest(data)) and key not in acct.open_uploads:
            assert status == "deduplicated", item
            acct.add_file(item["fileId"], folder, name, digest(data), len(data), self.now(),
                          phone.dev.device_id)
            return
        assert status in ("pending", "uploading"), item
        if key in acct.open_uploads:  # the same file again resumes its upload
            assert item["uploadId"] == acct.open_uploads[key]["uploadId"], item
        else:
            acct.uploads.add(item["uploadId"])
            acct.open_uploads[key] = {**item, "data": data, "folder": folder, "name": name}
        if finish:
            await self._finish(acct, phone, key)

    async def _finish(self, acct: Account, phone: Phone, key: tuple[str, str, str, str]) -> None:
        item = acct.open_uploads.pop(key)
        data: bytes = item["data"]
        for chunk in item["chunks"]:
            r = await self.w.http.put(path_of(chunk["uploadUrl"]),
                                      content=data[chunk["start"]:chunk["end"] + 1])
            assert r.status_code == 200, r.text
        body = {"uploadId": item["uploadId"], "checksum": digest(data)}
        done = await self.data("POST", "/upload/complete", phone, json=body)
        again = await self.data("POST", "/upload/complete", phone, json=body)
        assert again["fileId"] == done["fileId"], (done, again)
        info = done["file"]
        file_id = done["fileId"]
        if item.get("fileId"):  # a new version
            if done.get("conflictedWith"):
                event("version became a conflicted copy")
                acct.add_file(file_id, info["folder"], info["name"], digest(data), len(data),
                              self.now(), phone.dev.device_id)
            else:
                assert file_id == item["fileId"], done
                acct.add_version(file_id, digest(data), len(data), self.now(), phone.dev.device_id)
            return
        taken = acct.taken(item["folder"], item["name"])
        if taken not in (None, "folder") and acct.files[taken].checksum == digest(data):
            # Another device put the same content there meanwhile: that file is the answer.
            assert (file_id, done.get("conflictedWith")) == (taken, None), done
            return
        if done.get("conflictedWith"):
            event("new file became a conflicted copy")
            assert taken is not None or acct.blocked(item["folder"]), done
            assert info["folder"] == item["folder"] or acct.blocked(item["folder"]), done
        else:
            assert taken is None, (done, taken)
            assert (info["folder"], info["name"]) == (item["folder"], item["name"]), done
        acct.add_file(file_id, info["folder"], info["name"], digest(data), len(data),
                      self.now(), phone.dev.device_id)

    async def _new_version(self, acct: Account, phone: Phone, file_id: str, data: bytes) -> None:
        mf = acct.files.get(file_id)
        kind, path, _ = phone.tree.get(file_id, ("file", mf.path if mf else "/x", None))
        entry = {"localId": "v", "name": path.rsplit("/", 1)[1], "folder": parent_of(path),
                 "size": len(data), "mimeType": "text/plain", "checksum": digest(data),
                 "priority": "normal", "fileId": file_id, "syncToken": phone.token}
        r = await self.call("POST", "/upload/init", phone,
                            json={"files": [entry], "uploadOptions": {"chunkSize": 4096}})
        if mf is None or mf.trashed_in is not None:
            event(f"version of a deleted file: {r.status_code}")
            assert r.status_code != 200 or r.json()["data"]["files"][0]["status"] != "pending", r.text
            return
        if r.status_code == 507:
            event("init version: 507")
            assert acct.over_quota(len(data)), r.text
            assert mf.checksum != digest(data) and not acct.changed_by_other(file_id, phone)
            return
        assert r.status_code == 200, r.text
        [item] = r.json()["data"]["files"]
        event(f"init version: {item['status']}")
        if mf.checksum == digest(data):
            assert (item["status"], item.get("fileId")) == ("deduplicated", file_id), item
        elif acct.changed_by_other(file_id, phone):
            assert item["status"] == "conflict", item
        elif acct.stored(digest(data)):
            assert not acct.over_quota(len(data)), item
            assert (item["status"], item.get("fileId")) == ("deduplicated", file_id), item
            acct.add_version(file_id, digest(data), len(data), self.now(), phone.dev.device_id)
        else:
            assert not acct.over_quota(len(data)), item
            assert item["status"] in ("pending", "uploading"), item
            key = (phone.dev.device_id, "", file_id, digest(data))
            acct.uploads.add(item["uploadId"])
            acct.open_uploads[key] = {**item, "data": data, "fileId": file_id}
            await self._finish(acct, phone, key)

    async def _change(self, acct: Account, phone: Phone, file_id: str, how: str, target: int,
                      queued: bool) -> None:
        mf = acct.files.get(file_id)
        if how == "rename":
            folder, name = (mf.folder if mf else "/"), NAMES[target % len(NAMES)]
        elif how == "move":
            folder, name = self.folder_choice(acct, target), (mf.name if mf else "x")
        change: dict[str, Any] = {"action": how, "localId": "c", "fileId": file_id}
        if how == "rename":
            change["name"] = name
        elif how == "move":
            change["folder"] = folder
        status, result = await self._send(acct, phone, change, queued, how, folder if how != "delete" else None)
        event(f"{how}{' queued' if queued else ''}: {status}")
        if mf is None or mf.trashed_in is not None:
            assert status in ("deleted_on_server", "applied", "conflict"), result
            return
        if how == "delete":
            if acct.changed_by_other(file_id, phone):
                assert status == "conflict", result
                self._remember_conflict(acct, phone, result, "delete", file_id, None)
            else:
                assert status == "applied", result
                acct.trash_file(file_id)
            return
        if queued and mf is not None and file_id in phone.tree:
            # A queued move or rename changes only what the app changed, against what it
            # had seen at its token (services/sync/queue_moves.py): a part equal to that
            # stays where another device may have put it since.
            seen_folder, seen_name = parent_of(phone.tree[file_id][1]), \
                phone.tree[file_id][1].rsplit("/", 1)[1]
            if how == "rename" and name == seen_name:
                name = mf.name
            if how == "move" and name_key(folder) == name_key(seen_folder):
                folder = mf.folder
        holder = acct.taken(folder, name, but=file_id)
        if holder is not None or acct.blocked(folder):
            assert status in ("conflict", "rejected"), result
            if status == "conflict":
                self._remember_conflict(acct, phone, result, how, file_id, None)
            return
        assert status == "applied", result
        acct.make_folders(folder)
        mf.folder, mf.name = folder, name

    async def _send(self, acct: Account, phone: Phone, change: dict[str, Any], queued: bool,
                    how: str, folder: str | None) -> tuple[str, dict[str, Any]]:
        """The change through POST /sync/files, or as an offline queue operation."""
        if not queued:
            body = {"localChanges": [change], **({"syncToken": phone.token} if phone.token else {})}
            out = await self.data("POST", "/sync/files", phone, json=body)
            return out["results"][0]["status"], out["results"][0]
        self.ops = getattr(self, "ops", 0) + 1
        op: dict[str, Any] = {"id": f"op{self.ops}", "type": how, "priority": "normal",
                              "createdAt": "2030-01-01T00:00:00Z", "fileId": change["fileId"]}
        mf = acct.files.get(change["fileId"])
        if how == "rename":
            op["remotePath"] = join(mf.folder if mf else "/", change["name"])
        elif how == "move":
            op["remotePath"] = join(change["folder"], mf.name if mf else "x")
        body = {"operations": [op], **({"syncToken": phone.token} if phone.token else {})}
        out = await self.data("POST", "/queue/add", phone, json=body)
        [got] = out["operations"]
        status = {"done": "applied", "conflict": "conflict", "failed": "rejected"}[got["status"]]
        if got["status"] == "failed" and got["error"]["code"] in ("NOT_FOUND",
                                                                  "DELETED_ON_SERVER"):
            status = "deleted_on_server"
        return status, {"status": status, "conflictId": got["conflictId"],
                        "fileId": got["resultFileId"], "error": got["error"]}

    def _remember_conflict(self, acct: Account, phone: Phone, result: dict[str, Any],
                           how: str, file_id: str, data: bytes | None) -> None:
        if result.get("conflictId"):
            acct.conflicts.append({"id": result["conflictId"], "how": how, "fileId": file_id,
                                   "phone": phone, "data": data})

    async def _mkdir(self, acct: Account, phone: Phone, parent: str, name: str) -> None:
        change = {"action": "mkdir", "localId": "m", "folder": parent, "name": name}
        out = await self.data("POST", "/sync/files", phone,
                              json={"localChanges": [change], "syncToken": phone.token})
        status = out["results"][0]["status"]
        path = join(parent, name)
        holder = acct.taken(parent, name)
        if holder not in (None, "folder") or acct.blocked(parent):
            assert status == "rejected", out
        else:
            assert status == "applied", out
            if path not in acct.folders:
                assert not any(p.casefold() == path.casefold() for p in acct.folders), out
                acct.make_folders(path)

    async def _change_folder(self, acct: Account, phone: Phone, folder_id: str, path: str,
                             how: str, target: int) -> None:
        change: dict[str, Any] = {"action": how, "localId": "f", "fileId": folder_id}
        if how == "rename":
            dest = join(parent_of(path), FOLDER_NAMES[target % len(FOLDER_NAMES)] + "2")
            change["name"] = dest.rsplit("/", 1)[1]
        elif how == "move":
            parent = self.folder_choice(acct, target)
            dest = join(parent, path.rsplit("/", 1)[1])
            change["folder"] = parent
        out = await self.data("POST", "/sync/files", phone,
                              json={"localChanges": [change], "syncToken": phone.token})
        result = out["results"][0]
        status = result["status"]
        event(f"folder {how}: {status}")
        if how == "delete":
            # A reason to conflict: a file below it whose content another device changed,
            # or one the device did not see below it (README: moved in, restored or
            # created since; the model does not tell who moved it: a superset).
            seen = phone.tree.get(folder_id)
            seen_path = seen[1] if seen is not None else None

            def unseen_there(file_id: str) -> bool:
                held = phone.tree.get(file_id)
                return seen_path is None or held is None or not held[1].startswith(
                    seen_path + "/")

            edited = [i for i, f in acct.live().items() if under(f.folder, path)
                      and (acct.changed_by_other(i, phone) or unseen_there(i))]
            if status == "conflict":
                assert edited, out
                self._remember_conflict(acct, phone, result, "delete", folder_id, None)
                return
            assert status == "applied", out
            acct.trash_folder(folder_id, path)
            return
        if under(dest, path) and dest != path:
            assert status == "rejected", out
            return
        holder = acct.taken(parent_of(dest), dest.rsplit("/", 1)[1], but=path)
        if dest == path:
            assert status == "applied", out
        elif holder is not None or acct.blocked(parent_of(dest)):
            assert status in ("conflict", "rejected"), out
            self._remember_conflict(acct, phone, result, how, folder_id, None)
        else:
            assert status == "applied", out
            acct.make_folders(parent_of(dest))
            acct.move_folder(path, dest)
