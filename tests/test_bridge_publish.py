"""The bridge's HTTP publisher against real servers (the embedded hub on free ports): failover
between the nodes of a cluster, and a malformed publication refused alone."""

from __future__ import annotations

import asyncio
import json

import pytest

from authviz.bridge.publications import Publication
from authviz.bridge.publish import HttpPublisher, PusherCredentials
from authviz.hub import running_hub
from bridge_support import Subscriber

pytestmark = pytest.mark.timeout(60)


def test_a_malformed_publication_is_refused_alone_and_its_neighbours_go_out():
    with running_hub() as hub:
        sub = Subscriber(hub.ws_url, key=hub.app.key)
        sub.subscribe("c")

        async def main() -> int:
            publisher = HttpPublisher(PusherCredentials.from_url(hub.pusher_url))
            try:
                return await publisher.publish(
                    [
                        Publication("e", '"ok1"', ("c",)),
                        Publication("e", '"' + "x" * 20_000 + '"', ("c",)),  # over Pusher's 10 KB
                        Publication("e", '"ok2"', ("c",)),
                    ]
                )
            finally:
                await publisher.close()

        assert asyncio.run(main()) == 1
        got = [json.loads(sub.wait(lambda m: m.get("event") == "e", timeout=5)["data"]) for _ in range(2)]
        assert got == ["ok1", "ok2"]


def test_the_publisher_fails_over_to_the_next_node_and_stays_there():
    with running_hub() as a, running_hub(app_id=a.app.app_id, key=a.app.key, secret=a.app.secret) as b:
        sub = Subscriber(b.ws_url, key=b.app.key)
        sub.subscribe("c")
        a.stop()  # the first node is down

        async def main() -> HttpPublisher:
            publisher = HttpPublisher(
                [PusherCredentials.from_url(a.pusher_url), PusherCredentials.from_url(b.pusher_url)]
            )
            try:
                await publisher.publish([Publication("e", '"one"', ("c",))])
                await publisher.publish([Publication("e", '"two"', ("c",))])
            finally:
                await publisher.close()
            return publisher

        publisher = asyncio.run(main())
        assert publisher.failovers == 1 and publisher.target == PusherCredentials.from_url(b.pusher_url).base_url
        got = [json.loads(sub.wait(lambda m: m.get("event") == "e", timeout=5)["data"]) for _ in range(2)]
        assert got == ["one", "two"]
