"""Retries and races of the upload protocol through HTTP: an init that resumes an upload
beside a new file of the same name, completes retried or run at once, complete racing the
upload's expiry."""

from __future__ import annotations

from tests.uploads.flow import file_entry, init, path_of, random_bytes


async def test_a_resumed_upload_keeps_its_name_whatever_the_order_of_the_batch(
        client, make_user, sign_in):
    """A phone asks again for the upload it started (some bytes already sent) and, in the
    same init, for a new file of that name with other content: the upload it started keeps
    the name, whichever comes first in the request, and the new file is the conflict."""
    await make_user()
    dev = await sign_in()
    started, other = random_bytes(9000), random_bytes(5000)
    for order in ("new first", "resume first"):
        name = f"{order.replace(' ', '_')}.jpg"
        item = (await init(client, dev.auth, file_entry(started, name=name, local_id="s"))
                ).json()["data"]["files"][0]
        r = await client.put(path_of(item["chunks"][0]["uploadUrl"]), content=started[:4096])
        assert r.status_code == 200, r.text
        resume = file_entry(started, name=name, local_id="again")
        new = file_entry(other, name=name.upper(), local_id="new")
        r = await init(client, dev.auth, *([new, resume] if order == "new first"
                                           else [resume, new]))
        assert r.status_code == 200, r.text
        answers = {f["localId"]: f for f in r.json()["data"]["files"]}
        assert answers["again"]["uploadId"] == item["uploadId"], (order, answers)
        assert answers["again"]["completedChunks"] == [0], (order, answers)
        assert answers["new"]["status"] == "conflict", (order, answers)
        assert answers["new"]["error"]["code"] == "NAME_CONFLICT"
        assert "uploadId" not in answers["new"]
