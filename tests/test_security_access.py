"""Issue #11, items 1, 2 and 5, attacked as the issue's authors did: a signed-in user without the
permission, no token, forged client events, the public tutorial feed. Real hub, real bridge, real
websockets on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from authviz.bridge.identity import permissions_of
from authviz.bridge.policy import ChannelPolicy
from authviz.live import LiveClient
from authviz.config import PusherSettings
from authviz.live.alerts import AlertBatcher
from authviz.live.events import LiveEvent
from authviz.pusher import authorize_channel
from authviz.topics import EVENTS_CHANNEL, FEED_CHANNEL, READ_EVENTS_PERMISSION, user_channel

from bridge_support import (
    APP_ID,
    KEY,
    LOG_TOKEN,
    SECRET,
    Subscriber,
    bridge_hub,
    form,
    http,
    post_logs,
    record,
)
from hub_support import wait_for

HISTORY = ("/auth0/events", "/auth0/events/head", "/auth0/listeners")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with bridge_hub(tmp_path_factory.mktemp("access"), "--dev-identity") as h:
        yield h


def _get(hub, path, token=None, raw=None):
    headers = {}
    if raw is not None:
        headers["Authorization"] = raw
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return http("GET", hub.url + path, headers=headers)[0]


# -- item 2: everyone reads everyone's logs ---------------------------------------------------


@pytest.mark.parametrize("path", HISTORY)
def test_history_needs_the_read_permission(hub, path):
    plain = hub.token("mallory")
    assert _get(hub, path) == 401  # no token
    assert _get(hub, path, plain) == 403  # signed in, no permission
    assert _get(hub, path, hub.token("eve", permissions=["read:other"])) == 403
    assert _get(hub, path, hub.token("ana", permissions=[READ_EVENTS_PERMISSION])) == 200
    # the OAuth scope claim grants it too (a token from a client-credentials grant)
    scoped = hub.token("svc", extra={"scope": f"openid {READ_EVENTS_PERMISSION}"})
    assert _get(hub, path, scoped) == 200
    assert _get(hub, path, raw=LOG_TOKEN) == 200  # the log-stream token


def test_permissions_come_only_from_the_permissions_and_scope_claims():
    assert permissions_of({"permissions": ["read:auth_events", 7, ""], "scope": "a b"}) == frozenset(
        {"read:auth_events", "a", "b"}
    )
    # look-alikes grant nothing
    assert (
        permissions_of({"permissions": "read:auth_events", "scp": ["read:auth_events"], "scope": ["read:auth_events"]})
        == frozenset()
    )


def test_the_event_feed_channel_needs_the_permission_other_rules_stay():
    policy = ChannelPolicy()
    assert not policy.decide("dev|a", EVENTS_CHANNEL)
    assert not policy.decide("dev|a", EVENTS_CHANNEL, {"read:auth_event"})
    assert policy.decide("dev|a", EVENTS_CHANNEL, {READ_EVENTS_PERMISSION})
    assert policy.decide("dev|a", "presence-chat")
    assert policy.decide("dev|a", user_channel("dev|a"))
    assert not policy.decide("dev|a", user_channel("dev|b"), {READ_EVENTS_PERMISSION})
    renamed = ChannelPolicy.with_extra([], events_permission="logs:read")
    assert renamed.decide("dev|a", EVENTS_CHANNEL, {"logs:read"})
    assert not renamed.decide("dev|a", EVENTS_CHANNEL, {READ_EVENTS_PERMISSION})


def test_subscribing_to_the_event_feed_needs_the_permission(hub):
    sub = Subscriber(hub.ws_url)
    try:
        fields = {"socket_id": sub.socket_id, "channel_name": EVENTS_CHANNEL}
        assert form(hub.url, "/pusher/auth", fields, token=hub.token("mallory"))[0] == 403
        status, body = form(
            hub.url, "/pusher/auth", fields, token=hub.token("ana", permissions=[READ_EVENTS_PERMISSION])
        )
        assert status == 200
        assert sub.subscribe(EVENTS_CHANNEL, json.loads(body))["event"] == "pusher_internal:subscription_succeeded"
        # chat stays open to every signed-in user
        fields["channel_name"] = "presence-chat"
        assert form(hub.url, "/pusher/auth", fields, token=hub.token("mallory"))[0] == 200
    finally:
        sub.close()


def test_dev_token_grants_requested_permissions_and_refuses_forwarded_requests(hub):
    status, body = form(hub.url, "/dev/token", [("user", "ana"), ("permission", READ_EVENTS_PERMISSION)])
    assert status == 200
    token = json.loads(body)["access_token"]
    assert _get(hub, "/auth0/events/head", token) == 200
    assert form(hub.url, "/dev/token", {"user": "ana", "permission": "bad perm"})[0] == 400
    # a reverse proxy on this host makes every client "loopback": forwarding headers are refused
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        assert form(hub.url, "/dev/token", {"user": "ana"}, headers={header: "203.0.113.9"})[0] == 403


def test_authviz_token_mints_permissions(tmp_path, hub):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "authviz",
            "token",
            "--user",
            "ana",
            "--server",
            hub.url,
            "--permission",
            READ_EVENTS_PERMISSION,
            "--permission",
            "x:y",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    import jwt

    claims = jwt.decode(done.stdout.strip(), options={"verify_signature": False})
    assert claims["permissions"] == [READ_EVENTS_PERMISSION, "x:y"]
    assert _get(hub, "/auth0/events/head", done.stdout.strip()) == 200


# -- item 1: forged events and alerts -----------------------------------------------------------


def _authorized(hub, sub, channel, user, permissions=()):
    status, body = form(
        hub.url,
        "/pusher/auth",
        {"socket_id": sub.socket_id, "channel_name": channel},
        token=hub.token(user, permissions=list(permissions)),
    )
    assert status == 200, body
    return json.loads(body)


def test_client_events_are_off_by_default(hub):
    sub = Subscriber(hub.ws_url)
    try:
        sub.subscribe("presence-chat", _authorized(hub, sub, "presence-chat", "mallory"))
        sub.ws.send(json.dumps({"event": "client-typing", "channel": "presence-chat", "data": {}}))
        error = sub.wait(lambda m: m["event"] == "pusher:error")
        assert "client events are disabled" in json.dumps(error)
    finally:
        sub.close()


def _pwd_leak():
    return {
        "log_id": "forged-1",
        "data": {
            "type": "pwd_leak",
            "date": "2026-11-20T10:00:00.000Z",
            "user_name": "ceo@corp.example",
            "user_id": "auth0|ceo",
            "ip": "203.0.113.7",
            "description": "breached password",
        },
    }


def test_a_forged_pwd_leak_reaches_no_analyst(tmp_path):
    # Even with client events allowed everywhere they can be, the event feed and user channels
    # refuse them (pusher:error), and the live client drops any that would arrive.
    from authviz.pusher.protocol import App
    from bridge_support import BridgeHub, bridge_args

    hub = BridgeHub(bridge_args(tmp_path, "--dev-identity"))
    hub.apps = [App(APP_ID, KEY, SECRET, enable_client_events=True, client_event_prefixes=("private-", "presence-"))]
    hub.app = hub.apps[0]
    hub.start()
    try:
        attacker = Subscriber(hub.ws_url)
        analyst = Subscriber(hub.ws_url)
        for who, user in ((attacker, "mallory"), (analyst, "ana")):
            auth = _authorized(hub, who, EVENTS_CHANNEL, user, [READ_EVENTS_PERMISSION])
            assert who.subscribe(EVENTS_CHANNEL, auth)["event"].endswith("subscription_succeeded")
        mine = user_channel("dev|mallory")
        attacker.subscribe(mine, _authorized(hub, attacker, mine, "mallory"))
        for channel in (EVENTS_CHANNEL, mine):
            attacker.ws.send(
                json.dumps({"event": "client-auth-event", "channel": channel, "data": json.dumps(_pwd_leak())})
            )
            error = attacker.wait(lambda m: m["event"] == "pusher:error")
            assert "only the server publishes" in json.dumps(error)
        # a genuine record still arrives: the analyst saw nothing before it
        assert post_logs(hub.url, [record(1)])[0] == 200
        first = analyst.wait(lambda m: m.get("channel") == EVENTS_CHANNEL)
        assert first["event"] == "auth-event"
    finally:
        hub.stop()


def test_the_live_client_ignores_and_counts_client_events_where_the_server_speaks():
    from authviz.hub import running_hub

    with running_hub(enable_client_events=True, server_only_channels=()) as raw_hub:
        # a hub that does relay client events (soketi or Pusher with the setting on)
        settings = PusherSettings.from_url(raw_hub.pusher_url)
        client = LiveClient(settings)
        try:
            sub = client.subscribe(EVENTS_CHANNEL)
            client.connect()
            assert client.wait_subscribed([EVENTS_CHANNEL], timeout=10)
            from hub_support import RawClient

            class _Hub:
                ws_url = raw_hub.ws_url

            forger = RawClient(_Hub(), key=raw_hub.app.key)
            forger.established()
            auth = authorize_channel(raw_hub.app.key, raw_hub.app.secret, forger.socket_id, EVENTS_CHANNEL)
            assert forger.subscribe(EVENTS_CHANNEL, auth)["event"].endswith("subscription_succeeded")
            wait_for(lambda: raw_hub.channel_info(EVENTS_CHANNEL)["subscription_count"] == 2, 10)
            forger.send("client-auth-event", json.dumps(_pwd_leak()), channel=EVENTS_CHANNEL)
            wait_for(lambda: client.ignored_client_events == 1, 10)
            raw_hub.trigger(EVENTS_CHANNEL, "auth-event", json.dumps({"x": 1}))
            got = sub.get(timeout=5)
            assert got is not None and got.name == "auth-event"  # the forged one never queued
            forger.close()
        finally:
            client.close()


def test_a_client_event_is_never_an_auth0_event_for_alerts():
    forged = LiveEvent(EVENTS_CHANNEL, "client-auth-event", _pwd_leak(), None, time.time())
    genuine = LiveEvent(EVENTS_CHANNEL, "auth-event-raw", _pwd_leak(), None, time.time())
    assert forged.auth_event is None
    assert genuine.auth_event is not None and genuine.auth_event.type == "pwd_leak"

    class Detector:
        fed: list = []

        def feed(self, batch):
            self.fed.extend(batch)
            return []

    batcher = AlertBatcher(Detector(), interval=0.001)
    batcher.add(forged)
    batcher.flush()
    assert batcher.fed == 0


# -- item 5: the public feed is opt-in -------------------------------------------------------


def _feed_messages(hub):
    sub = Subscriber(hub.ws_url)
    try:
        sub.subscribe(FEED_CHANNEL)
        assert post_logs(hub.url, [record(int(time.time() * 1000) % 10**9, prefix="77")])[0] == 200
        try:
            return sub.wait(
                lambda m: m.get("channel") == FEED_CHANNEL and not m["event"].startswith("pusher"), timeout=2
            )
        except TimeoutError:
            return None
    finally:
        sub.close()


def test_nothing_personal_on_the_public_channel_without_public_feed(tmp_path):
    with bridge_hub(tmp_path / "a") as plain:
        assert _feed_messages(plain) is None
    with bridge_hub(tmp_path / "b", "--public-feed") as public:
        message = _feed_messages(public)
        assert message is not None and "ada@example.com" in json.dumps(message)


def test_public_feed_beyond_loopback_warns(tmp_path, capfd):
    from authviz.bridge import serve as bridge_serve
    from bridge_support import BridgeHub, bridge_args

    class RoutableHub(BridgeHub):
        # the bridge is told it listens on a routable address (the hub itself binds loopback)
        async def _mount(self, server):
            self.bridge = bridge_serve.mount(server.app, server, self.args, host="192.0.2.10")

    with RoutableHub(bridge_args(tmp_path / "w", "--public-feed")):
        pass
    assert "WARNING: the public feed is on" in capfd.readouterr().err
    with bridge_hub(tmp_path / "q", "--public-feed"):
        pass
    assert "WARNING" not in capfd.readouterr().err
