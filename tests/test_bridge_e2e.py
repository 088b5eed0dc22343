"""End to end: log records posted to the webhook reach real websocket clients of the hub."""

from __future__ import annotations

import asyncio
import json
import queue
import time

import pysher

from authviz.bridge.publications import Publication
from authviz.bridge.publish import HttpPublisher, PusherCredentials
from authviz.hub import running_hub
from authviz.topics import (
    AUTH_EVENT,
    EVENTS_CHANNEL,
    FEED_CHANNEL,
    LOGGED_IN_EVENT,
    SESSION_EVENT,
    SIGNED_UP_EVENT,
    user_channel,
)

from bridge_support import KEY, Subscriber, bridge_hub, form, http, post_logs, record, LOG_TOKEN


def test_the_tutorial_feed_receives_sign_ups_and_log_ins_through_pysher(tmp_path):
    with bridge_hub(tmp_path, "--public-feed") as hub:
        received: queue.Queue = queue.Queue()
        client = pysher.Pusher(KEY, custom_host="127.0.0.1", port=hub.port, secure=False)
        subscribed: queue.Queue = queue.Queue()

        def on_connect(_data):
            channel = client.subscribe(FEED_CHANNEL)
            for name in (SIGNED_UP_EVENT, LOGGED_IN_EVENT):
                channel.bind(name, lambda data, name=name: received.put((name, data)))
            channel.bind("pusher_internal:subscription_succeeded", lambda *_: subscribed.put(True))

        client.connection.bind("pusher:connection_established", on_connect)
        client.connect()
        try:
            assert subscribed.get(timeout=10)
            status, body = post_logs(
                hub.url,
                [
                    record(1, "ss", user_id="auth0|new", email="new@example.com", country="Japan", code="JP"),
                    record(2, "s", user_id="auth0|old", email="old@example.com"),
                    record(3, "f"),  # a failure is not on the tutorial feed
                ],
            )
            assert status == 200 and body["stored"] == 3
            first = received.get(timeout=10)
            second = received.get(timeout=10)
            assert first[0] == SIGNED_UP_EVENT and second[0] == LOGGED_IN_EVENT
            signup, login = json.loads(first[1]), json.loads(second[1])
            # the fields the tutorial's React feed reads, with the Rule's meaning
            assert signup["email"] == "new@example.com" and signup["country"] == "Japan"
            assert signup["app_metadata"] == {} and login["app_metadata"] == {"signedUp": True}
            assert signup["updated_at"].startswith("2026-11-20T10:00:00")
            assert login["email"] == "old@example.com" and login["country"] == "France"
            assert signup["picture"].startswith("https://s.gravatar.com/avatar/")
            time.sleep(0.3)
            assert received.empty()
        finally:
            client.disconnect(timeout=1)  # pysher may otherwise wait ~100 s for its own thread


def test_private_event_feed_matches_the_history(tmp_path):
    with bridge_hub(tmp_path, "--dev-identity") as hub:
        sub = Subscriber(hub.ws_url)
        try:
            status, body = form(
                hub.url,
                "/pusher/auth",
                {"socket_id": sub.socket_id, "channel_name": EVENTS_CHANNEL},
                hub.token("alice", permissions=["read:auth_events"]),
            )
            assert status == 200
            assert sub.subscribe(EVENTS_CHANNEL, json.loads(body))["event"] == "pusher_internal:subscription_succeeded"
            post_logs(hub.url, [record(10, "f"), record(11, "s")])
            live = [json.loads(sub.wait(lambda m: m.get("event") == AUTH_EVENT)["data"]) for _ in range(2)]
            _, history, _ = http("GET", hub.url + "/auth0/events", headers={"Authorization": LOG_TOKEN})
            assert live == json.loads(history)["events"]
            assert [e["category"] for e in live] == ["login_failure", "login_success"]
        finally:
            sub.close()


def test_session_events_reach_the_user_channel_and_the_signed_in_user(tmp_path):
    with bridge_hub(tmp_path, "--dev-identity") as hub:
        token = hub.token("alice")
        sub = Subscriber(hub.ws_url)
        try:
            _, body = form(hub.url, "/pusher/user-auth", {"socket_id": sub.socket_id}, token)
            sub.send("pusher:signin", json.loads(body))
            assert sub.wait(lambda m: m["event"] == "pusher:signin_success")
            own = user_channel("dev|alice")
            _, body = form(hub.url, "/pusher/auth", {"socket_id": sub.socket_id, "channel_name": own}, token)
            assert sub.subscribe(own, json.loads(body))["event"] == "pusher_internal:subscription_succeeded"
            post_logs(hub.url, [record(20, "slo", user_id="dev|alice"), record(21, "slo", user_id="dev|bob")])
            got = [sub.wait(lambda m: m.get("event") == SESSION_EVENT) for _ in range(2)]
            channels = sorted(m["channel"] for m in got)
            assert channels == sorted([own, "#server-to-user-dev=7Calice"])
            assert all(json.loads(m["data"])["kind"] == "logout" for m in got)
            assert all(json.loads(m["data"])["user_id"] == "dev|alice" for m in got)
            try:  # bob's logout never reaches alice
                extra = sub.wait(lambda m: m.get("event") == SESSION_EVENT, timeout=0.5)
                raise AssertionError(f"unexpected {extra}")
            except TimeoutError:
                pass
        finally:
            sub.close()


def test_http_publisher_signs_batches_for_a_pusher_server():
    with running_hub() as hub:
        sub = Subscriber(hub.ws_url, key=hub.app.key)
        try:
            sub.subscribe("feed")
            publisher = HttpPublisher(PusherCredentials.from_url(hub.pusher_url))
            items = [Publication("tick", json.dumps({"n": n}), ("feed",)) for n in range(25)]

            async def publish():
                try:
                    await publisher.publish(items)  # 3 signed batch_events requests of <= 10
                    return await publisher.listeners()
                finally:
                    await publisher.close()

            listeners = asyncio.run(publish())
            got = [json.loads(sub.wait(lambda m: m.get("event") == "tick")["data"])["n"] for _ in range(25)]
            assert got == list(range(25))
            assert listeners["feed"]["subscription_count"] == 1
        finally:
            sub.close()


def test_pusher_url_parsing():
    c = PusherCredentials.from_url("https://k:s%2F1@api-eu.pusher.com/apps/123")
    assert (c.app_id, c.key, c.secret, c.base_url) == ("123", "k", "s/1", "https://api-eu.pusher.com")
    assert "s/1" not in repr(c)
    import pytest

    from authviz.errors import ConfigError

    for bad in ("ftp://k:s@h/apps/1", "http://h/apps/1", "http://k:s@h/app/1", "http://k:s@h/apps/1/x"):
        with pytest.raises(ConfigError):
            PusherCredentials.from_url(bad)


def test_without_public_feed_the_tutorial_feed_is_left_to_the_action(tmp_path):
    with bridge_hub(tmp_path) as hub:
        sub = Subscriber(hub.ws_url)
        try:
            sub.subscribe(FEED_CHANNEL)
            assert post_logs(hub.url, [record(1, "s")])[0] == 200
            hub.drain()
            try:
                got = sub.wait(lambda m: m.get("channel") == FEED_CHANNEL, timeout=0.5)
                raise AssertionError(f"unexpected {got}")
            except TimeoutError:
                pass
        finally:
            sub.close()
