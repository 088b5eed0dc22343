"""Helpers for driving the pure protocol state machine (authviz.pusher.protocol) without sockets."""

from __future__ import annotations

import json

import orjson

from authviz.pusher.protocol import App, Broadcast, Hub, Send
from authviz.pusher.signing import authorize_channel

KEY, SECRET = "key1", "secret1"
MASTER = bytes(range(32))


def make_hub(**options) -> Hub:
    # client events on, as a Pusher app with "Enable client events" ticked (off by default)
    options.setdefault("enable_client_events", True)
    return Hub([App("1", KEY, SECRET, **options)])


def connect(hub: Hub, now: float = 0.0):
    conn, msgs, code, _ = hub.connect(KEY, "7", now)
    assert code is None and conn is not None
    established = orjson.loads(msgs[0])
    assert established["event"] == "pusher:connection_established"
    data = json.loads(established["data"])
    assert data["socket_id"] == conn.socket_id
    assert data["activity_timeout"] == hub.by_key[KEY].app.activity_timeout
    return conn


def frames_to(actions, conn):
    """Decoded messages the actions deliver to conn, in order."""
    out = []
    for a in actions:
        if isinstance(a, Send) and a.conn is conn:
            out.append(orjson.loads(a.payload))
        elif isinstance(a, Broadcast) and conn in a.conns:
            out.append(orjson.loads(a.payload))
    return out


def send(hub, conn, event, data=None, channel=None, now=0.0):
    msg = {"event": event}
    if data is not None:
        msg["data"] = data
    if channel is not None:
        msg["channel"] = channel
    return hub.receive(conn, json.dumps(msg), now)


def subscribe(hub, conn, channel, *, user_id=None, user_info=None, now=0.0):
    data = {"channel": channel}
    if channel.startswith(("private-", "presence-")):
        channel_data = None
        if user_id is not None:
            channel_data = json.dumps({"user_id": user_id, "user_info": user_info})
        data.update(
            authorize_channel(
                KEY, SECRET, conn.socket_id, channel, channel_data=channel_data, encryption_master_key=MASTER
            )
        )
    return send(hub, conn, "pusher:subscribe", data, now=now)
