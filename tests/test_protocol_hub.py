"""Unit tests of the pure protocol state machine (authviz.pusher.protocol): no sockets."""

from __future__ import annotations

import json

import orjson
import pytest

from authviz.pusher.limits import Limits
from authviz.pusher.protocol import (
    App,
    Close,
    CloseCode,
    Hub,
    Send,
    TriggerError,
    Webhook,
)
from authviz.pusher.signing import authenticate_user, authorize_channel

from protocol_support import KEY, SECRET, connect, frames_to, make_hub, send, subscribe


def test_unknown_app_and_protocol_versions():
    hub = make_hub()
    conn, msgs, code, _ = hub.connect("nope", "7", 0)
    assert conn is None and code == CloseCode.UNKNOWN_APP == 4001
    assert orjson.loads(msgs[0])["data"]["code"] == 4001
    assert hub.connect(KEY, None, 0)[2] == CloseCode.NO_PROTOCOL
    assert hub.connect(KEY, "9", 0)[2] == CloseCode.UNSUPPORTED_PROTOCOL
    assert hub.connect(KEY, "x", 0)[2] == CloseCode.UNSUPPORTED_PROTOCOL
    for version in ("5", "6", "7"):
        assert hub.connect(KEY, version, 0)[2] is None


def test_max_connections_quota():
    hub = make_hub(max_connections=2)
    connect(hub), connect(hub)
    assert hub.connect(KEY, "7", 0)[2] == CloseCode.OVER_QUOTA


def test_public_subscribe_trigger_and_exclusion():
    hub = make_hub()
    a, b = connect(hub), connect(hub)
    for c in (a, b):
        [msg] = frames_to(subscribe(hub, c, "news"), c)
        assert msg == {"event": "pusher_internal:subscription_succeeded", "channel": "news", "data": "{}"}
    state = hub.apps["1"]
    actions = state.trigger(["news", "empty"], "flash", '{"x":1}')
    assert len(actions) == 1 and set(actions[0].conns) == {a, b}
    assert orjson.loads(actions[0].payload) == {"event": "flash", "channel": "news", "data": '{"x":1}'}
    excluded = state.trigger(["news"], "flash", "d", socket_id=a.socket_id)
    assert excluded[0].conns == (b,)
    send(hub, a, "pusher:unsubscribe", {"channel": "news"})
    assert state.trigger(["news"], "e", "d")[0].conns == (b,)
    hub.disconnect(b)
    assert state.trigger(["news"], "e", "d") == [] and "news" not in state.channels


def test_trigger_validation_names_the_limit():
    state = make_hub(limits=Limits(max_data_bytes=10)).apps["1"]
    with pytest.raises(TriggerError) as err:
        state.trigger(["c"], "e", "x" * 11)
    assert err.value.http_status == 413 and "10" in str(err.value)
    with pytest.raises(TriggerError) as err:
        state.trigger(["bad name!"], "e", "x")
    assert err.value.http_status == 400
    with pytest.raises(TriggerError):
        state.trigger([f"c{i}" for i in range(101)], "e", "x")
    with pytest.raises(TriggerError):
        state.trigger(["c"], "e" * 201, "x")
    with pytest.raises(TriggerError):
        state.trigger(["c"], "pusher:internal", "x")


def test_private_channel_requires_valid_auth():
    hub = make_hub()
    a = connect(hub)
    bad = send(hub, a, "pusher:subscribe", {"channel": "private-x", "auth": f"{KEY}:00"})
    [err] = frames_to(bad, a)
    assert err["event"] == "pusher:error" and err["data"]["code"] == 4009
    # a signature made for another socket does not work either
    b = connect(hub)
    other = authorize_channel(KEY, SECRET, b.socket_id, "private-x")
    [err] = frames_to(send(hub, a, "pusher:subscribe", {"channel": "private-x", **other}), a)
    assert err["event"] == "pusher:error"
    [ok] = frames_to(subscribe(hub, a, "private-x"), a)
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    # encrypted: the same signature rule; the payload is relayed untouched
    [ok] = frames_to(subscribe(hub, a, "private-encrypted-x"), a)
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    cipher = json.dumps({"ciphertext": "AAAA", "nonce": "BBBB"})
    [b_] = hub.apps["1"].trigger(["private-encrypted-x"], "e", cipher)
    assert orjson.loads(b_.payload)["data"] == cipher


def test_presence_members_one_per_user_across_connections():
    hub = make_hub()
    a1, a2, b = connect(hub), connect(hub), connect(hub)
    [ok] = frames_to(subscribe(hub, a1, "presence-room", user_id="alice", user_info={"name": "A"}), a1)
    presence = json.loads(ok["data"])["presence"]
    assert presence == {"ids": ["alice"], "hash": {"alice": {"name": "A"}}, "count": 1}
    # alice's second connection: no member_added for anyone
    actions = subscribe(hub, a2, "presence-room", user_id="alice", user_info={"name": "A"})
    assert frames_to(actions, a1) == []
    actions = subscribe(hub, b, "presence-room", user_id=7)
    [added] = frames_to(actions, a1)
    assert added["event"] == "pusher_internal:member_added"
    assert json.loads(added["data"]) == {"user_id": "7", "user_info": None}
    assert json.loads(frames_to(actions, b)[0]["data"])["presence"]["count"] == 2
    state = hub.apps["1"]
    assert state.presence_users("presence-room") == [{"id": "alice"}, {"id": "7"}]
    # alice leaves one connection: still a member; the last: member_removed
    assert frames_to(hub.disconnect(a1), b) == []
    [removed] = frames_to(hub.disconnect(a2), b)
    assert removed["event"] == "pusher_internal:member_removed"
    assert json.loads(removed["data"]) == {"user_id": "alice"}
    assert state.channel_info("presence-room")["user_count"] == 1


def test_presence_needs_channel_data_and_respects_member_limit():
    hub = make_hub(limits=Limits(max_presence_members=2))
    conns = [connect(hub) for _ in range(3)]
    auth = authorize_channel(KEY, SECRET, conns[0].socket_id, "private-r")["auth"]
    no_data = send(hub, conns[0], "pusher:subscribe", {"channel": "presence-r", "auth": auth})
    [err] = frames_to(no_data, conns[0])
    assert err["event"] == "pusher:error"
    for i, c in enumerate(conns[:2]):
        subscribe(hub, c, "presence-r", user_id=f"u{i}")
    [err] = frames_to(subscribe(hub, conns[2], "presence-r", user_id="u9"), conns[2])
    assert err["event"] == "pusher:error" and "limit is 2" in err["data"]["message"]
    # an existing member may still open another connection
    [ok] = frames_to(subscribe(hub, conns[2], "presence-r", user_id="u0"), conns[2])
    assert ok["event"] == "pusher_internal:subscription_succeeded"


def test_client_events_rules():
    hub = make_hub()
    a, b, c = connect(hub), connect(hub), connect(hub)
    for x in (a, b):
        subscribe(hub, x, "private-chat")
    subscribe(hub, c, "public")
    # not subscribed -> error; public channel -> error
    [err] = frames_to(send(hub, c, "client-hi", {"m": 1}, "private-chat"), c)
    assert err["event"] == "pusher:error"
    [err] = frames_to(send(hub, c, "client-hi", {"m": 1}, "public"), c)
    assert err["event"] == "pusher:error"
    actions = send(hub, a, "client-hi", {"m": 1}, "private-chat")
    assert frames_to(actions, a) == []  # never echoed
    assert frames_to(actions, b) == [{"event": "client-hi", "channel": "private-chat", "data": {"m": 1}}]


def test_client_event_on_presence_carries_user_id_and_encrypted_refused():
    hub = make_hub()
    a, b = connect(hub), connect(hub)
    subscribe(hub, a, "presence-p", user_id="alice")
    subscribe(hub, b, "presence-p", user_id="bob")
    [msg] = frames_to(send(hub, a, "client-x", "s", "presence-p"), b)
    assert msg["user_id"] == "alice"
    subscribe(hub, a, "private-encrypted-e")
    subscribe(hub, b, "private-encrypted-e")
    actions = send(hub, a, "client-x", "s", "private-encrypted-e")
    assert frames_to(actions, b) == [] and frames_to(actions, a)[0]["event"] == "pusher:error"


def test_client_events_disabled_per_app():
    hub = make_hub(enable_client_events=False)
    a, b = connect(hub), connect(hub)
    subscribe(hub, a, "private-c"), subscribe(hub, b, "private-c")
    actions = send(hub, a, "client-x", "s", "private-c")
    assert frames_to(actions, b) == [] and frames_to(actions, a)[0]["event"] == "pusher:error"


def test_client_event_rate_limit_closes_4301():
    hub = make_hub()
    a, b = connect(hub), connect(hub)
    subscribe(hub, a, "private-c"), subscribe(hub, b, "private-c")
    for i in range(10):
        assert frames_to(send(hub, a, "client-x", str(i), "private-c", now=5.2), b)
    actions = send(hub, a, "client-x", "11", "private-c", now=5.9)
    assert [x.code for x in actions if isinstance(x, Close)] == [4301]
    assert not a.open and "private-c" in hub.apps["1"].channels
    # the next second, a fresh connection may send again
    c = connect(hub)
    subscribe(hub, c, "private-c")
    assert frames_to(send(hub, c, "client-x", "ok", "private-c", now=6.0), b)


def test_signin_server_to_user_and_terminate():
    hub = make_hub()
    a, b = connect(hub), connect(hub)
    user = authenticate_user(KEY, SECRET, a.socket_id, {"id": "u1", "user_info": {"n": 1}})
    [ok] = frames_to(send(hub, a, "pusher:signin", user), a)
    assert ok == {"event": "pusher:signin_success", "data": {"user_data": user["user_data"]}}
    # pusher-js then subscribes to its own server-to-user channel; others may not
    [ok] = frames_to(send(hub, a, "pusher:subscribe", {"channel": "#server-to-user-u1"}), a)
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    [err] = frames_to(send(hub, b, "pusher:subscribe", {"channel": "#server-to-user-u1"}), b)
    assert err["event"] == "pusher:error"
    state = hub.apps["1"]
    [delivery] = state.send_to_user("u1", "hello", '"hi"')
    assert delivery.conns == (a,)
    assert orjson.loads(delivery.payload)["channel"] == "#server-to-user-u1"
    actions = state.terminate_user_connections("u1")
    assert [(x.conn, x.code) for x in actions if isinstance(x, Close)] == [(a, 4009)]
    assert state.send_to_user("u1", "hello", "x") == []


def test_signin_bad_signature_closes_4009_and_watchlist_4302():
    hub = make_hub()
    a = connect(hub)
    actions = send(hub, a, "pusher:signin", {"auth": f"{KEY}:bad", "user_data": '{"id":"u"}'})
    assert [x.code for x in actions if isinstance(x, Close)] == [4009]
    b = connect(hub)
    user_data = json.dumps({"id": "u", "watchlist": [f"w{i}" for i in range(101)]})
    from authviz.pusher.signing import hmac_sha256_hex

    auth = f"{KEY}:" + hmac_sha256_hex(SECRET, f"{b.socket_id}::user::{user_data}")
    actions = send(hub, b, "pusher:signin", {"auth": auth, "user_data": user_data})
    assert [x.code for x in actions if isinstance(x, Close)] == [4302]


def test_signin_disabled():
    hub = make_hub(enable_user_auth=False)
    a = connect(hub)
    user = authenticate_user(KEY, SECRET, a.socket_id, {"id": "u1"})
    [err] = frames_to(send(hub, a, "pusher:signin", user), a)
    assert err["event"] == "pusher:error"


def test_cache_channels_replay_last_event_or_miss_within_ttl():
    hub = make_hub(cache_ttl=60, webhook_url="http://127.0.0.1:1/hook")
    state = hub.apps["1"]
    a = connect(hub)
    actions = subscribe(hub, a, "cache-x", now=0)
    msgs = frames_to(actions, a)
    assert [m["event"] for m in msgs] == ["pusher_internal:subscription_succeeded", "pusher:cache_miss"]
    assert any(isinstance(x, Webhook) and x.event == {"name": "cache_miss", "channel": "cache-x"} for x in actions)
    state.trigger(["cache-x"], "e", "last", now=10)
    b = connect(hub, now=20)
    msgs = frames_to(subscribe(hub, b, "cache-x", now=20), b)
    assert msgs[1] == {"event": "e", "channel": "cache-x", "data": "last"}
    assert state.channel_info("cache-x", now=20)["cache"] == {"data": "last", "ttl": 50}
    hub.tick(71)  # expired
    c = connect(hub, now=71)
    assert frames_to(subscribe(hub, c, "cache-x", now=71), c)[1]["event"] == "pusher:cache_miss"


def test_webhooks_occupied_vacated_members_client_events():
    # webhook_debounce=0: presence webhooks at once (the debounce: tests/test_hub_debounce.py)
    hub = make_hub(webhook_url="http://127.0.0.1:1/hook", webhook_debounce=0)
    a, b = connect(hub), connect(hub)
    hooks = []

    def collect(actions):
        hooks.extend(x.event for x in actions if isinstance(x, Webhook))

    collect(subscribe(hub, a, "presence-w", user_id="a"))
    collect(subscribe(hub, b, "presence-w", user_id="b"))
    collect(send(hub, a, "client-z", {"k": 1}, "presence-w"))
    collect(hub.disconnect(a))
    collect(hub.disconnect(b))
    assert [h["name"] for h in hooks] == [
        "channel_occupied",
        "member_added",
        "member_added",
        "client_event",
        "member_removed",
        "member_removed",
        "channel_vacated",
    ]
    assert hooks[3] == {
        "name": "client_event",
        "channel": "presence-w",
        "event": "client-z",
        "data": '{"k":1}',
        "socket_id": a.socket_id,
        "user_id": "a",
    }
    # no webhook URL: no webhook actions at all
    hub2 = make_hub()
    c = connect(hub2)
    assert not [x for x in subscribe(hub2, c, "x") if isinstance(x, Webhook)]


def test_bad_frames_get_errors_never_exceptions():
    hub = make_hub()
    a = connect(hub)
    for text in (
        "",
        "nope",
        "[]",
        "1",
        '{"event": 5}',
        '{"data": {}}',
        b"\xff\xfe",
        '{"event": "pusher:subscribe"}',
        '{"event": "pusher:subscribe", "data": 3}',
        '{"event": "pusher:subscribe", "data": {"channel": "a b"}}',
        '{"event": "pusher:subscribe", "data": {"channel": "' + "x" * 200 + '"}}',
        '{"event": "pusher:signin", "data": "x"}',
        '{"event": "whatever"}',
        '{"event": "client-x"}',
        '{"event": "pusher:unsubscribe", "data": {"channel": "never"}}',
    ):
        actions = hub.receive(a, text, 0)
        assert all(isinstance(x, Send) for x in actions), text
        for x in actions:
            assert orjson.loads(x.payload)["event"] == "pusher:error", text
    [err] = hub.receive_binary(a, 0)
    assert orjson.loads(err.payload)["event"] == "pusher:error"
    assert a.open


def test_ping_pong_and_dead_connections():
    hub = make_hub(activity_timeout=10, pong_timeout=5)
    a, b = connect(hub), connect(hub)
    [pong] = frames_to(send(hub, a, "pusher:ping", {}, now=1), a)
    assert pong["event"] == "pusher:pong"
    assert hub.tick(5) == []
    actions = hub.tick(11)  # a spoke at 1 -> pinged; b silent since 0 -> pinged
    assert {x.conn for x in actions if isinstance(x, Send)} == {a, b}
    send(hub, a, "pusher:pong", now=12)
    actions = hub.tick(16.5)
    assert [(x.conn, x.code) for x in actions if isinstance(x, Close)] == [(b, 4201)]
    assert a.open and not b.open


def test_subscribe_flood_is_bounded_per_connection():
    hub = Hub([App("1", KEY, SECRET, max_channels_per_connection=50)])
    a = connect(hub)
    for i in range(60):
        subscribe(hub, a, f"c{i}")
    assert len(a.channels) == 50
    [err] = frames_to(subscribe(hub, a, "c999"), a)
    assert err["event"] == "pusher:error"


def test_close_all_and_idempotent_disconnect():
    hub = make_hub()
    a = connect(hub)
    subscribe(hub, a, "x")
    actions = hub.close_all(CloseCode.OVER_CAPACITY, "shutting down")
    assert [x.code for x in actions if isinstance(x, Close)] == [4100]
    assert hub.disconnect(a) == [] and hub.receive(a, '{"event":"pusher:ping"}', 0) == []
    assert hub.apps["1"].connections == {} and hub.apps["1"].channels == {}


def test_remembered_names_do_not_skip_other_checks():
    state = make_hub(limits=Limits(max_data_bytes=10)).apps["1"]
    assert state.trigger(["known"], "ev", "ok") == []
    with pytest.raises(TriggerError) as err:
        state.trigger(["known"], "ev", "x" * 11)
    assert err.value.http_status == 413
    with pytest.raises(TriggerError):
        state.trigger(["known"], "ev", "é" * 6)  # 12 bytes of UTF-8
    with pytest.raises(TriggerError):
        state.trigger(["known", "bad name"], "ev", "ok")
    with pytest.raises(TriggerError):
        state.trigger(["known"] * 101, "ev", "ok")
    with pytest.raises(TriggerError):
        state.trigger(["known"], "pusher:x", "ok")


def test_watchlist_online_and_offline_events():
    hub = make_hub()
    watcher, b1, b2 = connect(hub), connect(hub), connect(hub)
    send(hub, b1, "pusher:signin", authenticate_user(KEY, SECRET, b1.socket_id, {"id": "bob"}))

    def watch_events(actions):
        return [
            json.loads(m["data"])["events"]
            for m in frames_to(actions, watcher)
            if m["event"] == "pusher_internal:watchlist_events"
        ]

    user = authenticate_user(KEY, SECRET, watcher.socket_id, {"id": "ann", "watchlist": ["bob", "carl"]})
    assert watch_events(send(hub, watcher, "pusher:signin", user)) == [[{"name": "online", "user_ids": ["bob"]}]]
    # bob's second connection: already online, nothing; carl signs in: online
    assert (
        watch_events(send(hub, b2, "pusher:signin", authenticate_user(KEY, SECRET, b2.socket_id, {"id": "bob"}))) == []
    )
    carl = connect(hub)
    assert watch_events(
        send(hub, carl, "pusher:signin", authenticate_user(KEY, SECRET, carl.socket_id, {"id": "carl"}))
    ) == [[{"name": "online", "user_ids": ["carl"]}]]
    assert watch_events(hub.disconnect(b1)) == []
    assert watch_events(hub.disconnect(b2)) == [[{"name": "offline", "user_ids": ["bob"]}]]
    hub.disconnect(watcher)
    assert hub.apps["1"].watchers == {}
    assert watch_events(hub.disconnect(carl)) == []
