"""Conformance with real client libraries: pysher (subscriber) and `pusher` (server library)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pusher
import pysher
import pytest
import requests
from aiohttp import web

from authviz.hub import running_hub
from authviz.pusher.signing import sign_request
from authviz.pusher.webhooks import verify_webhook
from hub_support import APP_ID, KEY, SECRET, RawClient, wait_for


@pytest.fixture(scope="module")
def hub():
    # client events on, as a Pusher app with "Enable client events" ticked (off by default)
    with running_hub(APP_ID, KEY, SECRET, enable_client_events=True) as h:
        yield h


@pytest.fixture
def server_lib(hub):
    return pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=hub.port, ssl=False)


class PysherClient:
    """A pysher connection that records what its channels receive."""

    def __init__(self, hub, **kw):
        self.events: list[tuple[str, str, object]] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.p = pysher.Pusher(KEY, secret=SECRET, custom_host="127.0.0.1", port=hub.port, secure=False, **kw)
        self.p.connection.bind("pusher:connection_established", lambda data: self.connected.set())
        self.p.connect()
        assert self.connected.wait(5), "pysher did not connect"

    def subscribe(self, channel, *events, **kw):
        ch = self.p.subscribe(channel, **kw)
        for event in events:
            ch.bind(event, lambda data, e=event, c=channel: self._got(c, e, data))
        return ch

    def _got(self, channel, event, data):
        with self.lock:
            self.events.append((channel, event, data))

    def received(self):
        with self.lock:
            return list(self.events)

    def close(self):
        # pysher's disconnect() can block forever joining its own thread (a known defect):
        # bound it; the thread is a daemon.
        self.p.disconnect(timeout=0.5)


@pytest.fixture
def pysher_client(hub):
    made = []

    def make(**kw):
        c = PysherClient(hub, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_pysher_public_private_presence_and_pusher_trigger(hub, server_lib, pysher_client):
    a = pysher_client(user_data={"user_id": "ann", "user_info": {"n": 1}})
    a.subscribe("feed", "news")
    a.subscribe("private-ops", "alert")
    a.subscribe("presence-lobby", "hello")
    wait_for(lambda: {"feed", "private-ops", "presence-lobby"} <= set(hub.channels()))
    server_lib.trigger(["feed", "private-ops"], "news", {"headline": "x"})
    server_lib.trigger("private-ops", "alert", "plain")
    server_lib.trigger("presence-lobby", "hello", {"k": 2})
    wait_for(lambda: len(a.received()) == 3)
    got = a.received()
    assert ("feed", "news", '{"headline": "x"}') in got
    assert ("private-ops", "alert", "plain") in got
    assert ("presence-lobby", "hello", '{"k": 2}') in got
    assert hub.presence_users("presence-lobby") == ["ann"]


def test_pysher_client_events_delivered_not_echoed(hub, pysher_client):
    a, b = pysher_client(), pysher_client()
    ch_a = a.subscribe("private-room", "client-msg")
    b.subscribe("private-room", "client-msg")
    wait_for(lambda: hub.channels().get("private-room") == 2)
    ch_a.trigger("client-msg", {"text": "hi"})
    wait_for(lambda: b.received())
    channel, event, data = b.received()[0]
    assert (channel, event) == ("private-room", "client-msg")
    # pysher hands client-event data through as sent (here an object)
    assert (json.loads(data) if isinstance(data, str) else data) == {"text": "hi"}
    time.sleep(0.2)
    assert a.received() == []


def test_pysher_presence_members(hub, pysher_client):
    a = pysher_client(user_data={"user_id": "ann"})
    b = pysher_client(user_data={"user_id": "bob"})
    a.subscribe("presence-team")
    wait_for(lambda: hub.presence_users("presence-team") == ["ann"])
    b.subscribe("presence-team")
    wait_for(lambda: hub.presence_users("presence-team") == ["ann", "bob"])
    b.close()
    wait_for(lambda: hub.presence_users("presence-team") == ["ann"])


def test_pusher_library_queries(hub, server_lib):
    c = RawClient(hub)
    c.established()
    auth = server_lib.authenticate(
        channel="presence-q", socket_id=c.socket_id, custom_data={"user_id": "u1", "user_info": {"a": 1}}
    )
    assert c.subscribe("presence-q", auth)["event"] == "pusher_internal:subscription_succeeded"
    c.subscribe("private-q", server_lib.authenticate(channel="private-q", socket_id=c.socket_id))
    assert server_lib.channels_info()["channels"].keys() >= {"presence-q", "private-q"}
    info = server_lib.channels_info(prefix_filter="presence-", attributes=["user_count"])
    assert info["channels"]["presence-q"] == {"user_count": 1}
    assert server_lib.channel_info("presence-q", ["user_count", "subscription_count"]) == {
        "occupied": True,
        "user_count": 1,
        "subscription_count": 1,
    }
    assert server_lib.channel_info("empty") == {"occupied": False}
    assert server_lib.users_info("presence-q") == {"users": [{"id": "u1"}]}
    result = server_lib.trigger_batch(
        [
            {"channel": "private-q", "name": "b1", "data": "one"},
            {"channel": "presence-q", "name": "b2", "data": {"two": 2}},
        ]
    )
    assert result == {}
    assert c.recv() == {"event": "b1", "channel": "private-q", "data": "one"}
    assert c.recv() == {"event": "b2", "channel": "presence-q", "data": '{"two": 2}'}
    # socket_id exclusion
    server_lib.trigger("private-q", "skip", "x", socket_id=c.socket_id)
    server_lib.trigger("private-q", "keep", "y")
    assert c.recv()["event"] == "keep"
    c.close()


def test_pusher_library_signin_send_to_user_and_terminate(hub, server_lib):
    c = RawClient(hub)
    c.established()
    c.send("pusher:signin", server_lib.authenticate_user(c.socket_id, {"id": "user-9"}))
    assert c.recv()["event"] == "pusher:signin_success"
    server_lib.send_to_user("user-9", "direct", {"m": 1})
    assert c.recv() == {"event": "direct", "channel": "#server-to-user-user-9", "data": '{"m": 1}'}
    # The library posts to /users/{id}/terminate_connections (no /apps/{id}: its defect);
    # the hub accepts it because the auth_key names exactly one app.
    assert server_lib.terminate_user_connections("user-9") == {}
    assert c.wait_close() == 4009


def test_pusher_library_bad_secret_is_401(hub):
    bad = pusher.Pusher(app_id=APP_ID, key=KEY, secret="wrong", host="127.0.0.1", port=hub.port, ssl=False)
    with pytest.raises(pusher.errors.PusherBadAuth):
        bad.trigger("x", "e", "d")
    with pytest.raises(pusher.errors.PusherBadAuth):
        bad.channels_info()


def _signed(hub, method, path, body=b"", params=None, secret=SECRET, key=KEY, timestamp=None):
    query = sign_request(key, secret, method, path, params or {}, body, timestamp=timestamp)
    return requests.request(
        method, hub.url + path, params=query, data=body, timeout=5, headers={"Content-Type": "application/json"}
    )


def test_http_api_status_codes(hub):
    events = f"/apps/{APP_ID}/events"
    ok = _signed(hub, "POST", events, b'{"name":"e","channels":["c"],"data":"d"}')
    assert ok.status_code == 200 and ok.json() == {}
    big = json.dumps({"name": "e", "channels": ["c"], "data": "x" * 10241}).encode()
    r = _signed(hub, "POST", events, big)
    assert r.status_code == 413 and "10240" in r.text
    r = _signed(hub, "POST", events, b"{not json")
    assert r.status_code == 400 and "JSON" in r.text
    r = _signed(hub, "POST", events, b'{"name":"e","channels":["c"],"data":{"obj":1}}')
    assert r.status_code == 400 and "string" in r.text
    r = _signed(hub, "POST", events, b'{"name":"e","channels":["bad name"],"data":"d"}')
    assert r.status_code == 400 and "characters" in r.text
    r = _signed(hub, "POST", "/apps/999/events", b'{"name":"e","channels":["c"],"data":"d"}')
    assert r.status_code == 404
    r = _signed(hub, "POST", events, b'{"name":"e","channels":["c"],"data":"d"}', timestamp=int(time.time()) - 3600)
    assert r.status_code == 401
    r = _signed(hub, "POST", events, b'{"name":"e","channels":["c"],"data":"d"}', secret="no")
    assert r.status_code == 401
    r = requests.post(hub.url + events, data=b"{}", timeout=5)
    assert r.status_code == 401
    batch = {"batch": [{"channel": "c", "name": "e", "data": "d"}] * 11}
    r = _signed(hub, "POST", f"/apps/{APP_ID}/batch_events", json.dumps(batch).encode())
    assert r.status_code == 400 and "10" in r.text
    r = _signed(hub, "GET", f"/apps/{APP_ID}/channels/public-x/users")
    assert r.status_code == 400
    r = _signed(hub, "GET", f"/apps/{APP_ID}/channels", params={"info": "user_count"})
    assert r.status_code == 400
    r = requests.post(hub.url + events, data=b"x" * (2 << 20), timeout=5)
    assert r.status_code == 413


def test_webhooks_signed_batched_and_retried():
    received: list[dict] = []
    failures = {"left": 2}
    loop = asyncio.new_event_loop()

    async def hook(request):
        body = await request.read()
        if failures["left"] > 0:  # the first attempts fail: the sender must retry
            failures["left"] -= 1
            return web.Response(status=503)
        assert verify_webhook(KEY, SECRET, dict(request.headers), body)
        assert not verify_webhook(KEY, "other-secret", dict(request.headers), body)
        received.append(json.loads(body))
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        with running_hub(
            APP_ID, KEY, SECRET, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_options={"backoff": 0.05}
        ) as h:
            c = RawClient(h)
            c.established()
            c.subscribe("hooked")
            c.close()
            wait_for(lambda: sum(len(b["events"]) for b in received) >= 2, timeout=10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
    names = [e["name"] for b in received for e in b["events"]]
    assert names == ["channel_occupied", "channel_vacated"]
    assert all(e["channel"] == "hooked" for b in received for e in b["events"])
    assert failures["left"] == 0


def test_shutdown_code_makes_pysher_back_off_instead_of_storming():
    """On shutdown the hub sends 4100 (reconnect after a back-off). pysher then waits its
    reconnect interval; with a 42xx code it would retry at once, forever (its defect)."""
    import socket as socket_module

    h = running_hub(APP_ID, KEY, SECRET)
    port = h.port
    client = PysherClient(h, reconnect_interval=3)
    try:
        h.stop()
        listener = socket_module.create_server(("127.0.0.1", port), reuse_port=False)
        listener.settimeout(0.1)
        attempts = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
                attempts += 1
                conn.close()
            except socket_module.timeout:
                pass
        listener.close()
        assert attempts == 0, f"pysher reconnected {attempts} times within 2 s"
    finally:
        client.close()
