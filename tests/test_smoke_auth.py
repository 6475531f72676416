from tests.helpers import API


async def test_register_list_devices(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    r = await client.get(f"{API}/devices", headers=dev.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert body["data"]["currentDevice"] == dev.device_id
    assert body["data"]["devices"][0]["name"] == "Alice's Pixel 7"
