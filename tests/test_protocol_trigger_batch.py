"""AppState.trigger_batch gives exactly the actions of trigger() called item by item."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authviz.pusher.protocol import Broadcast, TriggerError
from authviz.pusher.signing import authenticate_user
from protocol_support import KEY, SECRET, connect, make_hub, send, subscribe

CHANNELS = ["feed", "news", "private-ops", "cache-last", "presence-room", "empty", "#server-to-user-u1"]


def _world():
    """Two hubs in the same state: three connections, subscriptions, one signed-in user."""
    hubs = []
    for _ in range(2):
        hub = make_hub()
        conns = [connect(hub) for _ in range(3)]
        for i, conn in enumerate(conns):
            subscribe(hub, conn, "feed")
            if i:
                subscribe(hub, conn, "news")
                subscribe(hub, conn, "private-ops")
            subscribe(hub, conn, "presence-room", user_id=f"u{i}")
            subscribe(hub, conn, "cache-last")
        user = authenticate_user(KEY, SECRET, conns[1].socket_id, {"id": "u1"})
        send(hub, conns[1], "pusher:signin", user)
        hubs.append((hub, conns))
    return hubs


def _shape(actions, conns):
    """Actions as comparable values (connections by their index)."""
    index = {id(c): i for i, c in enumerate(conns)}
    out = []
    for a in actions:
        assert isinstance(a, Broadcast)
        out.append((orjson.loads(a.payload), a.payload, tuple(index[id(c)] for c in a.conns)))
    return out


item = st.tuples(
    st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3),
    st.sampled_from(["e", "update", "x-y"]),
    st.text(max_size=40),
    st.sampled_from([None, 0, 1, 2]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(item, min_size=1, max_size=12))
def test_batch_equals_one_by_one(items):
    (hub_a, conns_a), (hub_b, conns_b) = _world()
    state_a, state_b = hub_a.apps["1"], hub_b.apps["1"]
    batch = [(chs, ev, data, conns_a[s].socket_id if s is not None else None) for chs, ev, data, s in items]
    got = state_a.trigger_batch(batch, now=5.0)
    want = []
    for chs, ev, data, s in items:
        want.extend(state_b.trigger(chs, ev, data, conns_b[s].socket_id if s is not None else None, now=5.0))
    assert _shape(got, conns_a) == _shape(want, conns_b)
    assert {k: (v.payload, v.data) for k, v in state_a.cache.items()} == {
        k: (v.payload, v.data) for k, v in state_b.cache.items()
    }


def test_a_bad_item_names_its_index_and_changes_nothing():
    (hub, conns), _ = _world()
    state = hub.apps["1"]
    with pytest.raises(TriggerError, match=r"^batch\[1\]"):
        state.trigger_batch([(["cache-last"], "e", "kept?", None), (["bad name!"], "e", "x", None)])
    assert "cache-last" not in state.cache
