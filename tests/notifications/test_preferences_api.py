"""POST /notifications/register and GET/PUT /notifications/preferences over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync.push import safety
from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, PASSWORD, device_info
from tests.notifications.conftest import RegisterPush, alert
from tests.push.receivers import Receiver

DEFAULTS = {"uploads": True, "shares": True, "storage": True, "security": True,
            "quietHours": {"enabled": False, "start": "22:00", "end": "07:00", "timezone": "UTC"}}
SEED_PREFERENCES = {"uploads": True, "shares": True, "storage": True, "security": True,
                    "quietHours": {"enabled": True, "start": "22:00", "end": "07:00",
                                   "timezone": "America/Los_Angeles"}}


async def get_prefs(client: AsyncTestClient[Any], auth: dict[str, str]) -> dict[str, Any]:
    r = await client.get(f"{API}/notifications/preferences", headers=auth)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def test_register_as_in_the_contract(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, receiver: Receiver,
) -> None:
    await make_user()
    dev = await sign_in()
    endpoint = f"{receiver.url}/up/abc"
    r = await client.post(f"{API}/notifications/register", headers=dev.auth, json={
        "deviceId": dev.client_id, "pushToken": endpoint, "platform": "android",
        "preferences": SEED_PREFERENCES})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert body["data"] == {
        "deviceId": dev.device_id,
        "preferences": SEED_PREFERENCES,
        "push": {"registered": True, "transport": "unifiedpush", "pending": 0,
                 "lastDeliveredAt": None, "lastError": None},
    }
    assert await get_prefs(client, dev.auth) == body["data"]
    # The token itself is never shown back; GET /devices says push is on.
    devices = (await client.get(f"{API}/devices", headers=dev.auth)).json()["data"]["devices"]
    assert devices[0]["pushEnabled"] is True
    assert endpoint not in (await client.get(f"{API}/devices", headers=dev.auth)).text


@pytest.mark.parametrize("token", ["ntfy://no spaces", "tok\x01en"])
async def test_a_push_token_register_would_refuse_is_not_kept_at_sign_in(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, token: str,
) -> None:
    await make_user()
    dev = await sign_in(pushToken=token)  # signing in still works
    push = (await get_prefs(client, dev.auth))["push"]
    assert (push["registered"], push["transport"]) == (False, None)
    r = await client.post(f"{API}/notifications/register", headers=dev.auth, json={
        "deviceId": dev.client_id, "pushToken": token, "platform": "android"})
    assert r.status_code == 400, r.text  # where the app learns why


@pytest.mark.parametrize("token", ["ntfy://no spaces", "tok\x01en"])
async def test_a_refused_push_token_at_sign_in_again_replaces_the_old_one(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    receiver: Receiver, token: str,
) -> None:
    """The app signs in again with a new token (its push distributor changed, say) that the
    server refuses: the device is then without push, as a new one would be. Pushes no
    longer went where the app said, but to the endpoint it had given up."""
    user_id = await make_user()
    await sign_in(pushToken=f"{receiver.url}/up/given-up")
    dev = await sign_in(pushToken=token)  # the same install: signing in still works
    push = (await get_prefs(client, dev.auth))["push"]
    assert (push["registered"], push["transport"]) == (False, None)
    await alert(services, user_id)
    await services.outbox.drain()
    assert receiver.requests == []
    # Signing in again without a token keeps what is registered (here: nothing), and
    # with a good one registers it.
    dev = await sign_in()
    assert (await get_prefs(client, dev.auth))["push"]["registered"] is False
    dev = await sign_in(pushToken=f"{receiver.url}/up/new")
    assert (await get_prefs(client, dev.auth))["push"]["registered"] is True


async def test_the_same_token_refused_at_sign_in_again_is_kept(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A token the device already has, not checkable now (its host name does not resolve
    for a moment), was not replaced: the device keeps it."""
    answers = [["93.184.215.14"]]  # a public address, then nothing (a DNS hiccup)

    async def resolve(host: str, port: int) -> list[str]:
        return answers.pop(0) if answers else []

    monkeypatch.setattr(safety, "system_resolve", resolve)
    await make_user()
    token = "https://push.example.net/up/abc"
    dev = await sign_in(pushToken=token)
    assert (await get_prefs(client, dev.auth))["push"]["registered"] is True
    dev = await sign_in(pushToken=token)
    assert (await get_prefs(client, dev.auth))["push"]["registered"] is True


async def test_a_good_push_token_at_sign_in_is_registered(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, receiver: Receiver,
) -> None:
    await make_user()
    dev = await sign_in(pushToken=f" {receiver.url}/up/abc ")
    push = (await get_prefs(client, dev.auth))["push"]
    assert (push["registered"], push["transport"]) == (True, "unifiedpush")


async def test_a_push_token_at_sign_in_is_looked_at_only_after_the_password(
    client: AsyncTestClient[Any], make_user: MakeUser, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Checking an endpoint resolves its host name (up to 5 s, on a shared thread pool):
    a request that has not proved who it is must not get the server to do that."""
    looked_up: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["93.184.215.14"]  # a public address

    monkeypatch.setattr(safety, "system_resolve", resolve)
    await make_user()
    token = "https://push.example.net/up/abc"
    r = await client.post(f"{API}/auth/register", json={
        "email": "alice@example.com", "password": "not the password",
        "deviceInfo": device_info(pushToken=token)})
    assert r.status_code == 401, r.text
    assert looked_up == []
    r = await client.post(f"{API}/auth/register", json={
        "email": "alice@example.com", "password": PASSWORD,
        "deviceInfo": device_info(pushToken=token)})
    assert r.status_code == 201, r.text
    assert looked_up == ["push.example.net"]
    auth = {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}
    assert (await get_prefs(client, auth))["push"]["registered"] is True


async def test_defaults_before_registering(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    dev = await sign_in()
    assert await get_prefs(client, dev.auth) == {
        "deviceId": dev.device_id, "preferences": DEFAULTS,
        "push": {"registered": False, "transport": None, "pending": 0, "lastDeliveredAt": None,
                 "lastError": None}}


async def test_server_device_id_works_too_and_preferences_are_optional(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    dev = await sign_in()
    r = await client.post(f"{API}/notifications/register", headers=dev.auth, json={
        "deviceId": dev.device_id, "pushToken": "ntfy://alice-phone", "platform": "android"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["preferences"] == DEFAULTS
    # No ntfy server is configured, so nothing can reach this token: the app is told.
    assert data["push"] == {"registered": True, "transport": None, "pending": 0,
                            "lastDeliveredAt": None, "lastError": None}


async def test_only_the_calling_device_can_register(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, receiver: Receiver,
) -> None:
    await make_user()
    await make_user("bob@example.com", "Bob Builder")
    alice_phone = await sign_in()
    alice_tablet = await sign_in(client_id="alice-tablet")
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    for device_id in (alice_tablet.client_id, alice_tablet.device_id, bob.device_id,
                      bob.client_id, "device_nope"):
        r = await client.post(f"{API}/notifications/register", headers=alice_phone.auth, json={
            "deviceId": device_id, "pushToken": f"{receiver.url}/up/x", "platform": "android"})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "NOT_FOUND"
    for dev in (alice_phone, alice_tablet, bob):
        assert (await get_prefs(client, dev.auth))["push"]["registered"] is False


@pytest.mark.parametrize(("change", "field"), [
    ({"platform": "symbian"}, "platform"),
    ({"pushToken": 42}, "pushToken"),
    ({"preferences": {"quietHours": {"timezone": "Mars/Olympus"}}}, "timezone"),
    ({"preferences": {"quietHours": {"timezone": "../../etc/passwd"}}}, "timezone"),
    ({"preferences": {"quietHours": {"timezone": "Europe"}}}, "timezone"),
    ({"preferences": {"quietHours": {"start": "25:00"}}}, "start"),
    ({"preferences": {"quietHours": {"end": "7"}}}, "end"),
    ({"preferences": {"quietHours": {"enabled": True, "start": "07:00", "end": "07:00"}}},
     "quietHours"),
    ({"preferences": {"uploads": "yes"}}, "uploads"),
    ({"preferences": {"vibrate": True}}, "vibrate"),
    ({"isAdmin": True}, "isAdmin"),
    ({"pushToken": "http://10.0.0.7/up/1"}, "private"),
    ({"pushToken": "http://169.254.169.254/latest/meta-data"}, "link-local"),
    ({"pushToken": "https://user:pw@push.example/up"}, "user info"),
    ({"pushToken": "https://push.example:0/up"}, "invalid port"),
    ({"pushToken": "ntfy://no spaces"}, "ntfy topic"),
    ({"pushToken": "fcm token with spaces"}, "spaces"),
])
async def test_bad_registrations_are_400_and_change_nothing(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, change: dict[str, Any], field: str,
) -> None:
    user_id = await make_user()
    dev = await sign_in()
    before = await register_push(dev, f"{receiver.url}/up/good", **SEED_PREFERENCES)
    body = {"deviceId": dev.client_id, "pushToken": f"{receiver.url}/up/new",
            "platform": "android", **change}
    r = await client.post(f"{API}/notifications/register", headers=dev.auth, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["message"] or field in str(error["details"])
    assert await get_prefs(client, dev.auth) == before
    # The status above looks the same for any endpoint of the same service: where a push
    # goes shows the token is still the one registered before.
    await alert(services, user_id)
    await services.outbox.drain()
    assert [r.path for r in receiver.requests] == ["/up/good"]


async def test_put_changes_only_what_is_sent(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    dev = await sign_in()
    r = await client.put(f"{API}/notifications/preferences", headers=dev.auth, json={
        "uploads": False, "quietHours": {"enabled": True, "timezone": "Europe/Kyiv"}})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["preferences"] == {
        **DEFAULTS, "uploads": False,
        "quietHours": {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "Europe/Kyiv"}}
    r = await client.put(f"{API}/notifications/preferences", headers=dev.auth,
                         json={"quietHours": {"start": "23:30", "end": "6:45"}})
    assert r.json()["data"]["preferences"]["quietHours"] == {
        "enabled": True, "start": "23:30", "end": "06:45", "timezone": "Europe/Kyiv"}
    assert r.json()["data"]["preferences"]["uploads"] is False
    for bad in ({"quietHours": {"timezone": "UTC\u0000"}}, {"security": None}, [], "x"):
        r = await client.put(f"{API}/notifications/preferences", headers=dev.auth, json=bad)
        assert r.status_code == 400, r.text
    assert (await get_prefs(client, dev.auth))["preferences"]["quietHours"]["start"] == "23:30"


async def test_preferences_are_per_device(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    phone, tablet = await sign_in(), await sign_in(client_id="tablet")
    await client.put(f"{API}/notifications/preferences", headers=phone.auth,
                     json={"storage": False})
    assert (await get_prefs(client, phone.auth))["preferences"]["storage"] is False
    assert (await get_prefs(client, tablet.auth))["preferences"]["storage"] is True


async def test_null_token_stops_pushes(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, register_push: RegisterPush,
    receiver: Receiver,
) -> None:
    await make_user()
    dev = await sign_in()
    assert (await register_push(dev, f"{receiver.url}/up/1"))["push"]["registered"] is True
    assert (await register_push(dev, None))["push"]["registered"] is False


async def test_a_token_follows_the_latest_account_on_the_phone(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, register_push: RegisterPush,
    receiver: Receiver,
) -> None:
    """Alice signs out of the app and Bob signs in on the same phone: the phone's push
    endpoint now belongs to Bob's device, so Alice's notifications stop going to it."""
    await make_user()
    await make_user("bob@example.com", "Bob Builder")
    token = f"{receiver.url}/up/the-phone"
    alice = await sign_in()
    await register_push(alice, token)
    bob = await sign_in("bob@example.com", client_id="same-phone-new-install")
    await register_push(bob, token)
    assert (await get_prefs(client, alice.auth))["push"]["registered"] is False
    assert (await get_prefs(client, bob.auth))["push"]["registered"] is True
    # Also when the token comes with sign-in (deviceInfo.pushToken).
    alice2 = await sign_in(client_id="alice-again", pushToken=token)
    assert (await get_prefs(client, bob.auth))["push"]["registered"] is False
    assert (await get_prefs(client, alice2.auth))["push"]["registered"] is True


@pytest.mark.parametrize(("alices", "bobs"), [
    ("https://push.example.net/up/the-phone", "HTTPS://Push.Example.NET/up/the-phone"),
    ("ntfy://the-phone", "NTFY://the-phone"),
])
async def test_a_token_differing_only_in_the_case_of_scheme_or_host_is_the_same_token(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, monkeypatch: pytest.MonkeyPatch, alices: str, bobs: str,
) -> None:
    """An endpoint URL's scheme and host, and the ntfy:// of an ntfy token, mean the same
    in any case (a distributor or an app may spell them either way): Bob's phone has
    Alice's old phone's endpoint now, so her notifications stop going to it. Its path,
    the topic, FCM and APNs tokens are case-sensitive: another case is another phone."""
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]  # a public address

    monkeypatch.setattr(safety, "system_resolve", resolve)
    await make_user()
    await make_user("bob@example.com", "Bob Builder")
    alice = await sign_in()
    await register_push(alice, alices)
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    await register_push(bob, alices.replace("the-phone", "THE-PHONE"))  # another phone's
    assert (await get_prefs(client, alice.auth))["push"]["registered"] is True
    await register_push(bob, bobs)
    assert (await get_prefs(client, alice.auth))["push"]["registered"] is False
    assert (await get_prefs(client, bob.auth))["push"]["registered"] is True
    # Also when the token comes with sign-in (deviceInfo.pushToken).
    alice = await sign_in(pushToken=alices)
    assert (await get_prefs(client, bob.auth))["push"]["registered"] is False
    assert (await get_prefs(client, alice.auth))["push"]["registered"] is True


async def test_needs_a_signed_in_device(client: AsyncTestClient[Any]) -> None:
    for method, path in (("GET", "/notifications/preferences"),
                         ("PUT", "/notifications/preferences"),
                         ("POST", "/notifications/register")):
        r = await client.request(method, f"{API}{path}", json={})
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"]["code"] == "UNAUTHORIZED"


async def test_an_endpoint_whose_host_does_not_resolve_for_now_is_503_not_400(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host name that does not resolve may be the DNS down for a moment: 400 told the app
    the token was wrong for good. 503 with Retry-After, nothing stored; once it resolves,
    the same request registers it. One that resolves to a private address stays 400."""
    answers: dict[str, list[str]] = {"push.example.net": [],
                                     "private.example.net": ["192.168.1.5"]}

    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    monkeypatch.setattr(safety, "system_resolve", resolve)
    await make_user()
    dev = await sign_in()
    body = {"deviceId": dev.client_id, "pushToken": "https://push.example.net/up/abc",
            "platform": "android"}
    r = await client.post(f"{API}/notifications/register", headers=dev.auth, json=body)
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) > 0
    error = r.json()["error"]
    assert error["code"] == "UNAVAILABLE" and error["details"] == {"field": "pushToken"}
    # For ever, if it is a typo: the message says which name, and to check it.
    assert error["message"] == ("pushToken: its host name push.example.net does not"
                                " resolve; check its spelling, or try again shortly if it is"
                                " right (the DNS may be down for a moment)")
    assert (await get_prefs(client, dev.auth))["push"]["registered"] is False
    answers["push.example.net"] = ["93.184.215.14"]  # a public address: the DNS is back
    r = await client.post(f"{API}/notifications/register", headers=dev.auth, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["push"]["registered"] is True
    r = await client.post(f"{API}/notifications/register", headers=dev.auth, json={
        **body, "pushToken": "https://private.example.net/up/abc"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", r.text
