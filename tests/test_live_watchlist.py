"""Sign-in watchlists in the live client, against the embedded hub over loopback.

User A signs in watching B; B's live client connects (signs in) and later leaves; A sees
``online`` then ``offline`` as events on its ``#server-to-user-a`` subscription (and through
callbacks), and :meth:`LiveClient.online_users` follows.
"""

from __future__ import annotations

import threading

import pytest

from authviz.config import PusherSettings
from authviz.hub import running_hub
from authviz.live import WATCHLIST_OFFLINE, WATCHLIST_ONLINE, Backoff, LiveClient
from authviz.pusher.channels import server_to_user_channel
from live_support import APP_ID, KEY, SECRET, clients, wait_for  # noqa: F401 - clients: fixture

pytestmark = pytest.mark.timeout(60)

FAST = Backoff(initial=0.05, cap=0.5, stable_after=1.0)


@pytest.fixture(scope="module")
def settings():
    with running_hub(APP_ID, KEY, SECRET) as h:
        yield PusherSettings.from_url(h.pusher_url)


def signed_in(settings, clients, user, **kw) -> LiveClient:
    c = LiveClient(settings, user=user, signin=True, backoff=FAST, **kw)
    clients.append(c)
    c.connect()
    assert c.signed_in.wait(10), "no pusher:signin_success"
    return c


def test_a_watcher_sees_online_then_offline(settings, clients):
    a = LiveClient(settings, user={"id": "a", "watchlist": ["b", "nobody"]}, signin=True, backoff=FAST)
    clients.append(a)
    sub = a.subscribe(server_to_user_channel("a"))
    assert sub.wait_subscribed(10) and a.signed_in.wait(10)
    assert a.online_users() == frozenset()
    b = signed_in(settings, clients, {"id": "b"})
    online = sub.get(timeout=5)
    assert online is not None and online.name == WATCHLIST_ONLINE
    assert online.channel == "#server-to-user-a" and online.data == {"user_ids": ["b"]}
    assert a.online_users() == {"b"}
    # a second connection of b is not news (b is one user)
    b2 = signed_in(settings, clients, {"id": "b"})
    assert b2.close()
    b.close()
    offline = sub.get(timeout=5)
    assert offline is not None and offline.name == WATCHLIST_OFFLINE
    assert offline.data == {"user_ids": ["b"]}
    assert a.online_users() == frozenset()
    assert sub.get(timeout=0.3) is None  # nothing else: b2 leaving first changed nothing


def test_users_already_online_are_announced_at_sign_in_and_callbacks_get_them(settings, clients):
    signed_in(settings, clients, {"id": "c"})
    seen: list[tuple[str, list[str]]] = []
    got = threading.Event()
    a = LiveClient(settings, user={"id": "a2", "watchlist": ["c", "d"]}, signin=True, backoff=FAST)
    clients.append(a)
    sub = a.subscribe(server_to_user_channel("a2"), events=[WATCHLIST_ONLINE, WATCHLIST_OFFLINE])

    def record(event):
        seen.append((event.name, event.data["user_ids"]))
        got.set()

    sub.on_event(record)
    assert got.wait(10)
    assert seen == [(WATCHLIST_ONLINE, ["c"])]
    assert a.online_users() == {"c"}
    d = signed_in(settings, clients, {"id": "d"})
    wait_for(lambda: len(seen) == 2)
    assert seen[1] == (WATCHLIST_ONLINE, ["d"]) and a.online_users() == {"c", "d"}
    d.close()
    wait_for(lambda: len(seen) == 3)
    assert seen[2] == (WATCHLIST_OFFLINE, ["d"]) and a.online_users() == {"c"}


def test_a_client_without_a_watchlist_gets_none(settings, clients):
    a = LiveClient(settings, user={"id": "plain"}, signin=True, backoff=FAST)
    clients.append(a)
    sub = a.subscribe(server_to_user_channel("plain"))
    assert sub.wait_subscribed(10) and a.signed_in.wait(10)
    signed_in(settings, clients, {"id": "someone"})
    assert sub.get(timeout=0.5) is None and a.online_users() == frozenset()
