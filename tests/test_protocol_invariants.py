"""Property test: random sequences of protocol inputs keep the state machine's invariants."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from authviz.pusher.protocol import App, Broadcast, Hub, Send, Webhook
from authviz.pusher.signing import authenticate_user, authorize_channel

KEY, SECRET = "k", "s"
CHANNELS = ["pub", "private-a", "presence-r"]
USERS = ["u1", "u2", "u3"]

op = st.one_of(
    st.tuples(st.just("connect")),
    st.tuples(st.just("connect")),
    st.tuples(st.just("subscribe"), st.integers(0, 2), st.just("presence-r"), st.sampled_from(USERS)),
    st.tuples(st.just("subscribe"), st.integers(0, 2), st.sampled_from(CHANNELS), st.sampled_from(USERS)),
    st.tuples(st.just("unsubscribe"), st.integers(0, 2), st.sampled_from(CHANNELS)),
    st.tuples(st.just("signin"), st.integers(0, 2), st.sampled_from(USERS)),
    st.tuples(st.just("client"), st.integers(0, 2), st.sampled_from(CHANNELS)),
    st.tuples(st.just("disconnect"), st.integers(0, 2)),
    st.tuples(st.just("junk"), st.integers(0, 2), st.binary(max_size=20)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=40))
def test_random_operations_keep_invariants(ops):
    # a debounce of 0.5 s with 0.3 s steps: presence webhooks are sometimes held, cancelled, sent
    # client events on (off by default) so the "client" operations reach their broadcast path
    hub = Hub(
        [App("1", KEY, SECRET, webhook_url="http://127.0.0.1:1/", webhook_debounce=0.5, enable_client_events=True)]
    )
    state = hub.apps["1"]
    conns = []
    hooks: list[dict] = []
    now = 0.0
    for o in ops:
        now += 0.3
        kind = o[0]
        if kind == "connect":
            conn, *_ = hub.connect(KEY, "7", now)
            conns.append(conn)
            continue
        live = [x for x in conns if x.open]
        if not live:
            continue
        c = live[o[1] % len(live)]
        if kind == "subscribe":
            data = {"channel": o[2]}
            if o[2] != "pub":
                cd = json.dumps({"user_id": o[3]}) if o[2].startswith("presence-") else None
                data.update(authorize_channel(KEY, SECRET, c.socket_id, o[2], channel_data=cd))
            actions = hub.receive(c, json.dumps({"event": "pusher:subscribe", "data": data}), now)
        elif kind == "unsubscribe":
            actions = hub.receive(c, json.dumps({"event": "pusher:unsubscribe", "data": {"channel": o[2]}}), now)
        elif kind == "signin":
            actions = hub.receive(
                c,
                json.dumps(
                    {"event": "pusher:signin", "data": authenticate_user(KEY, SECRET, c.socket_id, {"id": o[2]})}
                ),
                now,
            )
        elif kind == "client":
            actions = hub.receive(c, json.dumps({"event": "client-x", "channel": o[2], "data": {}}), now)
            for a in actions:
                if isinstance(a, Broadcast):
                    assert c not in a.conns  # never echoed
        elif kind == "disconnect":
            actions = hub.disconnect(c, now)
        else:
            actions = hub.receive(c, o[2], now)
        for a in actions:
            if isinstance(a, Webhook):
                hooks.append(a.event)
            if isinstance(a, (Send,)):
                assert a.conn.open or json.loads(a.payload)["event"] == "pusher:error"

        # invariants
        open_conns = {x for x in conns if x.open}
        assert set(state.connections.values()) == open_conns
        for name, ch in state.channels.items():
            assert ch.subscribers, f"{name} exists without subscribers"
            assert all(x.open and x.channels.get(name) is ch for x in ch.subscribers)
            members = {x.presence[name] for x in ch.subscribers if name in x.presence}
            assert set(ch.members) == members
            for key, m in ch.members.items():
                assert m.count == sum(1 for x in ch.subscribers if x.presence.get(name) == key)
        for x in open_conns:
            for name in x.channels:
                assert x in state.channels[name].subscribers
        for user, user_conns in state.users.items():
            assert user_conns and all(x.open and x.user_id == user for x in user_conns)
        assert {x for x in open_conns if x.user_id} == {x for s in state.users.values() for x in s}

    # once the held presence webhooks are due, everything has been said
    hooks.extend(a.event for a in hub.tick(now + 1.0) if isinstance(a, Webhook))
    assert not state.held
    # member_added/removed alternate per (channel, user) and match the final members
    for name in CHANNELS:
        for user in USERS:
            seq = [
                h["name"]
                for h in hooks
                if h.get("channel") == name and h.get("user_id") == user and h["name"].startswith("member_")
            ]
            assert all(a != b for a, b in zip(seq, seq[1:]))
            present = name in state.channels and user in state.channels[name].members
            assert (seq[-1] == "member_added") == present if seq else not present
    # occupied/vacated alternate per channel and match the final state
    for name in CHANNELS:
        seq = [
            h["name"]
            for h in hooks
            if h.get("channel") == name and h["name"] in ("channel_occupied", "channel_vacated")
        ]
        assert all(a != b for a, b in zip(seq, seq[1:]))
        assert (seq[-1] == "channel_occupied") == (name in state.channels) if seq else name not in state.channels
