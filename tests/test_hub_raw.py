"""The hub's websocket endpoint driven by a hand-written client: every protocol and error path."""

from __future__ import annotations

import json

import pytest

from authviz.hub import running_hub
from authviz.pusher.protocol import TriggerError
from authviz.pusher.signing import authenticate_user, authorize_channel
from hub_support import APP_ID, KEY, SECRET, RawClient, wait_for


@pytest.fixture(scope="module")
def hub():
    # client events on, as a Pusher app with "Enable client events" ticked (off by default)
    with running_hub(APP_ID, KEY, SECRET, tick_interval=0.2, enable_client_events=True) as h:
        yield h


@pytest.fixture
def client(hub):
    clients = []

    def make(**kw):
        c = RawClient(hub, **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def test_connection_established_and_ping(client):
    c = client()
    data = c.established()
    assert data["activity_timeout"] == 120 and "." in data["socket_id"]
    c.send("pusher:ping", {})
    assert c.recv()["event"] == "pusher:pong"


@pytest.mark.parametrize("protocol", ["5", "6", "7"])
def test_protocol_versions_5_to_7_accepted(client, protocol):
    client(protocol=protocol).established()


@pytest.mark.parametrize("protocol,code", [(None, 4008), ("8", 4007), ("x", 4007)])
def test_bad_protocol_versions_closed(client, protocol, code):
    c = client(protocol=protocol)
    err = c.recv()
    assert err["event"] == "pusher:error" and err["data"]["code"] == code
    assert c.wait_close() == code


def test_unknown_app_key_4001(client):
    c = client(key="nope")
    err = c.recv()
    assert err == {"event": "pusher:error", "data": {"message": "app key 'nope' does not exist", "code": 4001}}
    assert c.wait_close() == 4001


def test_private_presence_and_bad_auth(client, hub):
    a, b = client(), client()
    a.established(), b.established()
    bad = a.subscribe("private-p", {"auth": f"{KEY}:" + "0" * 64})
    assert bad["event"] == "pusher:error" and bad["data"]["code"] == 4009
    ok = a.subscribe("private-p", authorize_channel(KEY, SECRET, a.socket_id, "private-p"))
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    data_a = json.dumps({"user_id": "ann", "user_info": {"name": "Ann"}})
    ok = a.subscribe("presence-room", authorize_channel(KEY, SECRET, a.socket_id, "presence-room", channel_data=data_a))
    assert json.loads(ok["data"])["presence"]["ids"] == ["ann"]
    data_b = json.dumps({"user_id": "bob"})
    b.subscribe("presence-room", authorize_channel(KEY, SECRET, b.socket_id, "presence-room", channel_data=data_b))
    added = a.recv_event("pusher_internal:member_added")
    assert json.loads(added["data"]) == {"user_id": "bob", "user_info": None}
    assert hub.presence_users("presence-room") == ["ann", "bob"]
    b.close()
    removed = a.recv_event("pusher_internal:member_removed")
    assert json.loads(removed["data"]) == {"user_id": "bob"}


def test_client_events_not_echoed_and_limits(client):
    a, b = client(), client()
    for c in (a, b):
        c.established()
        c.subscribe("private-chat", authorize_channel(KEY, SECRET, c.socket_id, "private-chat"))
    a.send("client-typing", {"who": "a"}, "private-chat")
    a.send("pusher:ping")  # a's next message must be the pong: its own event is not echoed
    assert a.recv()["event"] == "pusher:pong"
    assert b.recv() == {"event": "client-typing", "channel": "private-chat", "data": {"who": "a"}}
    for i in range(20):  # more than 10 in a second -> 4301
        try:
            a.send("client-flood", str(i), "private-chat")
        except Exception:  # noqa: BLE001 - the server may have closed already
            break
    assert a.wait_close() == 4301


def test_signin_and_server_to_user(client, hub):
    a = client()
    a.established()
    a.send("pusher:signin", authenticate_user(KEY, SECRET, a.socket_id, {"id": "u-42"}))
    assert a.recv()["event"] == "pusher:signin_success"
    hub.send_to_user("u-42", "notice", '"hello"')
    assert a.recv() == {"event": "notice", "channel": "#server-to-user-u-42", "data": '"hello"'}
    b = client()
    b.established()
    b.send("pusher:signin", {"auth": f"{KEY}:bad", "user_data": '{"id":"x"}'})
    assert b.wait_close() == 4009


def test_cache_channel_over_the_wire(client, hub):
    a = client()
    a.established()
    a.subscribe("cache-last")
    assert a.recv()["event"] == "pusher:cache_miss"
    hub.trigger("cache-last", "tick", "1")
    assert a.recv()["data"] == "1"
    b = client()
    b.established()
    b.subscribe("cache-last")
    assert b.recv() == {"event": "tick", "channel": "cache-last", "data": "1"}


def test_encrypted_channel_payload_relayed_untouched(client, hub):
    a = client()
    a.established()
    auth = authorize_channel(KEY, SECRET, a.socket_id, "private-encrypted-s", encryption_master_key=bytes(32))
    a.subscribe("private-encrypted-s", {"auth": auth["auth"]})
    cipher = json.dumps({"ciphertext": "q83vEjRWeJA=", "nonce": "AAECAwQFBgc="})
    hub.trigger("private-encrypted-s", "secret", cipher)
    assert a.recv()["data"] == cipher


def test_unsubscribe_stops_delivery(client, hub):
    a = client()
    a.established()
    a.subscribe("u-chan")
    a.send("pusher:unsubscribe", {"channel": "u-chan"})
    wait_for(lambda: "u-chan" not in hub.channels())
    hub.trigger("u-chan", "e", "x")
    a.send("pusher:ping")
    assert a.recv()["event"] == "pusher:pong"


def test_trigger_many_skips_only_the_bad_item_and_keeps_order(client, hub):
    """In-process publishing of several events (the bridge's path): order kept per connection,
    a user's events reach it, an item over a limit is reported and the others still go out."""
    a, b = client(), client()
    for c in (a, b):
        c.established()
        c.subscribe("feed")
    a.send("pusher:signin", authenticate_user(KEY, SECRET, a.socket_id, {"id": "u-7"}))
    assert a.recv()["event"] == "pusher:signin_success"
    items = [
        ("feed", "n", '"1"'),
        ("#server-to-user-u-7", "private", '"p"'),
        (["feed"], "n", "x" * 20_000),
        ("feed", "n", '"2"'),
    ]
    errors = hub.call(lambda: hub.server.trigger_many(hub.app.app_id, items))
    assert [i for i, _ in errors] == [2]
    assert isinstance(errors[0][1], TriggerError)
    assert [a.recv()["data"] for _ in range(3)] == ['"1"', '"p"', '"2"']
    assert [b.recv()["data"] for _ in range(2)] == ['"1"', '"2"']


def test_a_flooding_client_always_gets_its_close_code(client):
    """The close a client's own message causes completes the handshake: the server reads (and
    drops) what the client still sends before closing the socket, so no reset costs the client
    its 4301. (Closing from another task made aiohttp close the socket at once: the client
    then failed in most of these rounds.)"""
    for _ in range(10):
        a = client()
        a.established()
        a.subscribe("private-chat", authorize_channel(KEY, SECRET, a.socket_id, "private-chat"))
        for i in range(20):
            a.send("client-flood", str(i), "private-chat")  # never refused: the server still reads
        assert a.wait_close() == 4301
