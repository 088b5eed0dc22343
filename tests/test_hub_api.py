"""HTTP API details: info attributes, cache info, several apps, the pusher library's wrong path."""

from __future__ import annotations

import json

import pytest
import requests

from authviz.hub import App, running_hub
from authviz.pusher.signing import authorize_channel, sign_request
from hub_support import RawClient, wait_for

APPS = [App("11", "key-a", "secret-a"), App("22", "key-b", "secret-b")]


@pytest.fixture(scope="module")
def hub():
    with running_hub(apps=APPS) as h:
        yield h


def call(hub, method, path, doc=None, params=None, app=APPS[0]):
    body = json.dumps(doc).encode() if doc is not None else b""
    query = sign_request(app.key, app.secret, method, path, params or {}, body)
    return requests.request(method, hub.url + path, params=query, data=body, timeout=5)


def test_apps_are_isolated(hub):
    a = RawClient(hub, key="key-a")
    b = RawClient(hub, key="key-b")
    a.established(), b.established()
    a.subscribe("shared"), b.subscribe("shared")
    assert call(hub, "POST", "/apps/22/events", {"name": "only-b", "channel": "shared", "data": "x"}, app=APPS[1]).ok
    assert b.recv()["event"] == "only-b"
    # app 22's credentials do not work for app 11
    r = call(hub, "POST", "/apps/11/events", {"name": "e", "channel": "shared", "data": "x"}, app=APPS[1])
    assert r.status_code == 401
    a.send("pusher:ping")
    assert a.recv()["event"] == "pusher:pong"  # nothing from app 22 arrived before it
    a.close(), b.close()


def test_trigger_info_and_channel_queries(hub):
    c = RawClient(hub, key="key-a")
    c.established()
    channel_data = json.dumps({"user_id": "u1"})
    c.subscribe(
        "presence-i", authorize_channel("key-a", "secret-a", c.socket_id, "presence-i", channel_data=channel_data)
    )
    c.subscribe("cache-i")
    c.recv()  # cache miss
    r = call(
        hub,
        "POST",
        "/apps/11/events",
        {"name": "e", "channels": ["presence-i", "cache-i"], "data": "d", "info": "subscription_count,user_count"},
    )
    assert r.json() == {
        "channels": {"presence-i": {"subscription_count": 1, "user_count": 1}, "cache-i": {"subscription_count": 1}}
    }
    r = call(
        hub,
        "POST",
        "/apps/11/batch_events",
        {
            "batch": [
                {"channel": "presence-i", "name": "b", "data": "1", "info": "user_count"},
                {"channel": "cache-i", "name": "b", "data": "2"},
            ]
        },
    )
    assert r.json() == {"batch": [{"user_count": 1}, {}]}
    r = call(hub, "GET", "/apps/11/channels", params={"info": "subscription_count"})
    assert r.json()["channels"]["cache-i"] == {"subscription_count": 1}
    r = call(hub, "GET", "/apps/11/channels", params={"filter_by_prefix": "presence-"})
    assert r.json() == {"channels": {"presence-i": {}}}
    r = call(hub, "GET", "/apps/11/channels/cache-i", params={"info": "cache"})
    body = r.json()
    assert body["occupied"] is True and body["cache"]["data"] == "2"
    assert 0 < body["cache"]["ttl"] <= 1800
    r = call(hub, "GET", "/apps/11/channels/presence-i", params={"info": "user_count,bogus"})
    assert r.status_code == 400 and "bogus" in r.text
    r = call(hub, "GET", "/apps/11/channels/cache-i", params={"info": "user_count"})
    assert r.status_code == 400
    assert call(hub, "GET", "/apps/11/channels/presence-i/users").json() == {"users": [{"id": "u1"}]}
    c.close()


def test_batch_is_all_or_nothing(hub):
    c = RawClient(hub, key="key-a")
    c.established()
    c.subscribe("atomic")
    r = call(
        hub,
        "POST",
        "/apps/11/batch_events",
        {
            "batch": [
                {"channel": "atomic", "name": "first", "data": "1"},
                {"channel": "atomic", "name": "second", "data": "x" * 10241},
            ]
        },
    )
    assert r.status_code == 413 and r.text.startswith("batch[1]")
    c.send("pusher:ping")
    assert c.recv()["event"] == "pusher:pong"  # "first" was not delivered
    c.close()
    r = call(
        hub,
        "POST",
        "/apps/11/batch_events",
        {
            "batch": [
                {"channel": "cache-atomic", "name": "first", "data": "1"},
                {"channel": "bad name", "name": "second", "data": "2"},
            ]
        },
    )
    assert r.status_code == 400 and r.text.startswith("batch[1]")
    r = call(hub, "GET", "/apps/11/channels/cache-atomic", params={"info": "cache"})
    assert "cache" not in r.json()  # nor cached


def test_terminate_without_apps_prefix_needs_a_known_key(hub):
    path = "/users/u1/terminate_connections"
    query = sign_request("unknown-key", "s", "POST", path, {}, b"{}")
    r = requests.post(hub.url + path, params=query, data=b"{}", timeout=5)
    assert r.status_code == 404 and "/apps/{app_id}/users" in r.text
    query = sign_request("key-a", "wrong", "POST", path, {}, b"{}")
    assert requests.post(hub.url + path, params=query, data=b"{}", timeout=5).status_code == 401
    assert call(hub, "POST", "/apps/11/users/u1/terminate_connections", {}).json() == {}
    r = call(hub, "POST", "/apps/11/users/bad%20id/terminate_connections", {})
    assert r.status_code == 400 and "characters" in r.text


def test_repeated_query_parameters_are_refused(hub):
    path = "/apps/11/channels"
    query = list(sign_request("key-a", "secret-a", "GET", path, {}, b"").items())
    r = requests.get(hub.url + path, params=query + [("auth_key", "key-a")], timeout=5)
    assert r.status_code == 400


def test_unreachable_webhook_never_blocks_delivery_and_its_queue_is_bounded():
    with running_hub(
        "5",
        "wk",
        "ws",
        webhook_url="http://127.0.0.1:9/unreachable",
        webhook_options={"max_queue": 5, "backoff": 0.01, "max_attempts": 2, "batch_interval": 0.01},
    ) as h:
        c = RawClient(h, key="wk")
        c.established()
        for i in range(20):
            c.subscribe(f"w{i}")
            c.send("pusher:unsubscribe", {"channel": f"w{i}"})
        c.subscribe("live")
        h.trigger("live", "still", "here")
        assert c.recv() == {"event": "still", "channel": "live", "data": "here"}
        sender = h.call(lambda: h.server.webhooks["5"])
        wait_for(lambda: h.call(lambda: sender.failed + sender.dropped) >= 41, timeout=10)
        assert h.call(lambda: sender.dropped) > 0 and h.call(lambda: sender.delivered) == 0
        c.close()
