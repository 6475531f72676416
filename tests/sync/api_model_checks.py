"""The steps of tests/sync/test_api_model.py about trash, versions, conflicts and other
accounts, and the check run after every step."""

from __future__ import annotations

from typing import Any

from hypothesis import event

from tests.sync.api_model import Account, Phone, digest, full_listing, parent_of, split_tree
from tests.sync.api_model_steps import Steps
from tests.uploads.flow import path_of


class Checks(Steps):
    async def _trash_item(self, acct: Account, item: str, purge: bool) -> None:
        phone = acct.phones[0]
        group = acct.trash[item]
        if purge:
            out = await self.data("DELETE", f"/trash/{item}", phone)
            assert out["freedBytes"] == sum(s for i in group.files
                                            for _, s in acct.files[i].versions), out
            acct.purge(item)
            return
        info = (await self.data("POST", f"/trash/{item}/restore", phone))["file"]
        event(f"trash restore of a {group.kind}")
        holder = acct.taken(group.folder, group.name)
        if holder is None and not acct.blocked(group.folder):
            assert (info["folder"], info["name"]) == (group.folder, group.name), (info, group)
        elif holder == "folder" and group.kind == "folder" and not acct.blocked(group.folder):
            event("trash restore of a folder merged into a live one")  # README "Trash"
            assert info["folder"] == group.folder and info["type"] == "folder", (info, group)
            assert info["name"].casefold() == group.name.casefold(), (info, group)
        else:
            assert info["name"].startswith(group.name.rsplit(".", 1)[0]), (info, group)
        acct.restore(item, info["folder"], info["name"])

    async def _restore_version(self, acct: Account, file_id: str, v: int) -> None:
        phone = acct.phones[0]
        out = await self.data("GET", f"/files/{file_id}/versions", phone)
        mf = acct.files[file_id]
        versions = out["versions"]
        assert [(x["checksum"], x["size"]) for x in reversed(versions)] == mf.versions, out
        chosen = versions[v % len(versions)]
        r = await self.call("POST", f"/files/{file_id}/versions/{chosen['id']}/restore", phone)
        if r.status_code == 507:
            event("version restore: 507")
            assert chosen["checksum"] != mf.checksum and acct.over_quota(chosen["size"]), r.text
            return
        assert r.status_code == 200, r.text
        if chosen["checksum"] != mf.checksum:
            acct.add_version(file_id, chosen["checksum"], chosen["size"], self.now(),
                             phone.dev.device_id)

    async def _stale_edit(self, acct: Account, phone: Phone, file_id: str, data: bytes) -> None:
        _, path, _ = phone.tree[file_id]
        change = {"action": "upload", "localId": "e", "fileId": file_id,
                  "folder": parent_of(path), "name": path.rsplit("/", 1)[1], "size": len(data),
                  "checksum": digest(data), "lastModified": "2030-01-01T00:00:00Z"}
        out = await self.data("POST", "/sync/files", phone,
                              json={"localChanges": [change], "syncToken": phone.token})
        result = out["results"][0]
        status = result["status"]
        event(f"edit: {status}")
        mf = acct.files.get(file_id)
        if mf is None or mf.trashed_in is not None:
            assert status in ("conflict", "deleted_on_server"), result
            if status == "conflict":
                self._remember_conflict(acct, phone, result, "edit", file_id, data)
            return
        if mf.checksum == digest(data):
            assert status == "applied", result
        elif acct.changed_by_other(file_id, phone):
            assert status == "conflict", result
            self._remember_conflict(acct, phone, result, "edit", file_id, data)
        elif acct.stored(digest(data)) and acct.over_quota(len(data)):
            assert status == "rejected" and result["error"]["code"] == "QUOTA_EXCEEDED", result
        elif acct.stored(digest(data)):
            assert status == "deduplicated", result
            acct.add_version(file_id, digest(data), len(data), self.now(), phone.dev.device_id)
        else:
            assert status == "upload_required", result
            await self._new_version(acct, phone, file_id, data)

    async def _resolve(self, acct: Account, conflict: dict[str, Any], choice: str) -> None:
        phone: Phone = conflict["phone"]
        item = {"conflictId": conflict["id"], "resolution": choice, "fileId": conflict["fileId"]}
        before = await self._server_tree(acct)
        for _ in range(2):
            out = await self.data("POST", "/conflicts/resolve", phone,
                                  json={"conflicts": [item]})
            [result] = out["results"]
            event(f"resolve {conflict['how']} {choice}: {result['status']}")
            if result.get("error") and result["error"]["code"] == "QUOTA_EXCEEDED":
                assert acct.quota, result
                await self._adopt(acct, before, phone.dev.device_id)
                return
            if result["status"] != "upload_required":
                break
            target = result["uploadTo"]
            data = conflict["data"]
            assert data is not None, result
            if not await self._upload_to(acct, phone, target, data):
                await self._adopt(acct, before, phone.dev.device_id)
                return  # no room for it: the conflict stays open
        assert result["status"] == "resolved", result
        # What a resolution does in detail (restored names, copies) is the server's to
        # choose within README's rules: learn it from the server, then check the rules.
        await self._adopt(acct, before, phone.dev.device_id)
        mf = acct.files.get(conflict["fileId"])
        if choice == "keep_remote":
            return
        if conflict["how"] == "edit" and mf is not None:
            if choice == "keep_local":
                # The device's content is live as the file's new version, the file back
                # from the trash if it was deleted (never a new file beside it).
                kept = acct.live().get(result["fileId"])
                assert kept is not None and kept.checksum == digest(conflict["data"]), result
                assert result["fileId"] == conflict["fileId"], result
            else:
                assert mf.trashed_in is None, mf
                assert any(f.checksum == digest(conflict["data"])
                           for f in acct.live().values()), result

    async def _upload_to(self, acct: Account, phone: Phone, target: dict[str, Any],
                         data: bytes) -> bool:
        entry = {"localId": "r", "name": target["name"], "folder": target["folder"],
                 "size": len(data), "mimeType": "text/plain", "checksum": digest(data),
                 "priority": "normal", "restore": True,
                 **({"fileId": target["fileId"]} if target.get("fileId") else {})}
        r = await self.call("POST", "/upload/init", phone,
                            json={"files": [entry], "uploadOptions": {"chunkSize": 4096}})
        if r.status_code == 507:
            assert acct.over_quota(len(data)), r.text
            return False
        assert r.status_code == 200, r.text
        [item] = r.json()["data"]["files"]
        assert item["status"] in ("pending", "uploading"), item
        for chunk in item["chunks"]:
            r = await self.w.http.put(path_of(chunk["uploadUrl"]),
                                      content=data[chunk["start"]:chunk["end"] + 1])
            assert r.status_code == 200, r.text
        done = await self.data("POST", "/upload/complete", phone,
                               json={"uploadId": item["uploadId"], "checksum": digest(data)})
        acct.uploads.add(item["uploadId"])
        acct.acked.add(digest(data))
        assert done["fileId"]
        return True

    async def _server_tree(self, acct: Account) -> dict[str, Any]:
        return (await full_listing(self.w.http, acct.phones[0].dev, 1000)).tree

    async def _adopt(self, acct: Account, before: dict[str, Any], device: str) -> None:
        """Take what the server changed (a resolution) into the model, version lists too."""
        after = await self._server_tree(acct)
        trash = await self.data("GET", "/trash", acct.phones[0], params={"limit": 1000})
        trashed = {t["id"]: t for t in trash["items"]}
        for item_id, t in trashed.items():  # a folder deleted (keep_local of a delete)
            if t["type"] == "folder" and item_id not in acct.trash:
                acct.trash_folder(item_id, before[item_id][1])
        acct.folders = {p for kind, p, _ in after.values() if kind == "folder"}
        for file_id in set(before) | set(after) | set(trashed):
            if (after.get(file_id) or before.get(file_id) or ("file",))[0] != "file":
                continue
            if file_id in trashed and trashed[file_id]["type"] == "folder":
                continue
            out = await self.data("GET", f"/files/{file_id}/versions", acct.phones[0])
            versions = [(x["checksum"], x["size"]) for x in reversed(out["versions"])]
            info = out["file"]
            mf = acct.files.get(file_id)
            if mf is None:
                acct.add_file(file_id, info["folder"], info["name"], *versions[0], self.now(),
                              device)
                mf = acct.files[file_id]
            for v in versions[len(mf.versions):]:
                acct.add_version(file_id, *v, self.now(), device)
            assert mf.versions == versions, (mf, versions)
            if file_id in after:
                group = acct.trash.get(mf.trashed_in or "")
                if group is not None and group.kind == "file":
                    del acct.trash[group.root]
                elif group is not None:  # out of a deleted folder, which stays in the trash
                    group.files.remove(file_id)
                mf.trashed_in = None
                mf.folder, mf.name = info["folder"], info["name"]
            elif file_id in trashed and mf.trashed_in is None:
                acct.trash_file(file_id)

    async def _probe(self, owner: Account, other: Account) -> None:
        """``other`` gets 404 for everything of ``owner``'s, and changes nothing."""
        spy = other.phones[0]
        notes = await self.data("GET", "/notifications", owner.phones[0])
        ids = sorted(owner.ids) + [g for g in owner.trash]
        for thing in ids:
            for method, url, kw in (
                    ("GET", f"/files/{thing}", {}), ("GET", f"/files/{thing}/content", {}),
                    ("GET", f"/files/{thing}/versions", {}),
                    ("POST", f"/trash/{thing}/restore", {}), ("DELETE", f"/trash/{thing}", {}),
                    ("DELETE", f"/devices/{thing}", {}),
                    ("PUT", f"/devices/{thing}/settings", {"json": {"autoUpload": True}})):
                r = await self.call(method, url, spy, **kw)
                assert r.status_code == 404, (method, url, r.text)
        for upload_id in sorted(owner.uploads):
            r = await self.call("GET", f"/upload/{upload_id}", spy)
            assert r.status_code == 404, r.text
            r = await self.call("DELETE", f"/upload/{upload_id}", spy)
            assert r.status_code == 404, r.text
        for note in notes["notifications"]:
            r = await self.call("POST", f"/notifications/{note['id']}/read", spy)
            assert r.status_code == 404, r.text
        for conflict in owner.conflicts:
            r = await self.call("POST", "/conflicts/resolve", spy, json={"conflicts": [
                {"conflictId": conflict["id"], "resolution": "keep_remote"}]})
            assert r.status_code == 404, r.text
        for file_id in sorted(owner.live()):
            out = await self.data("POST", "/sync/files", spy, json={"localChanges": [
                {"action": "delete", "localId": "x", "fileId": file_id}]})
            assert out["results"][0]["status"] in ("rejected", "deleted_on_server"), out

    async def _check(self, acct: Account) -> None:
        folders, files = acct.expected_tree()
        fresh = await full_listing(self.w.http, acct.phones[0].dev, 3)
        assert split_tree(fresh.tree) == (folders, files)
        assert acct.watcher is not None
        await self.pull(acct.watcher)
        assert split_tree(acct.watcher.tree) == (folders, files)
        acct.ids.update(fresh.tree)
        used = await self.w.svc.db.fetchone("SELECT used_bytes FROM users WHERE id = ?",
                                            (acct.user_id,))
        assert used is not None and used[0] == acct.usage(), (used[0], acct.usage())
        trash = await self.data("GET", "/trash", acct.phones[0], params={"limit": 1000})
        assert {t["id"] for t in trash["items"]} == set(acct.trash), (trash, acct.trash)
        assert acct.acked <= {c for f in acct.files.values() for c, _ in f.versions}
        for file_id, (_, checksum) in files.items():
            r = await self.call("GET", f"/files/{file_id}/content", acct.phones[0])
            assert r.status_code == 200 and digest(r.content) == checksum, (file_id, r.text)
