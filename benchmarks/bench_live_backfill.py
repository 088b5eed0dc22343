"""What gap-free backfill costs: the hot path per live event, and how fast a gap is filled.

1. Hot path (in-process, no I/O): the websocket thread's hand-over of one ``auth-event`` to a
   subscription, directly (no history configured) and through :class:`authviz.live.Backfill`
   (dedupe by event_id under a lock, ``seq`` tracking). Reported: microseconds per event.
2. Gap fill (real parts): the bridge mounted on the embedded hub (``tests/bridge_support.py``) with
   N events stored, the live client's history fetch delivering all N through a Backfill into a
   subscription buffer (pages of 500 over HTTP on loopback). Reported: events/s and requests,
   and the first subscription's head read (``GET /auth0/events/head``: one request) against the
   search an older bridge without that route needs (requests, ms).

    .venv/bin/python benchmarks/bench_live_backfill.py [--events 200000] [--gap 20000]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from authviz.live import Backfill, HistoryClient, LiveEvent  # noqa: E402
from authviz.live.stream import EventStream  # noqa: E402
from authviz.live.tasks import TaskRunner  # noqa: E402
from authviz.topics import AUTH_EVENT, EVENTS_CHANNEL  # noqa: E402


def _events(n: int) -> list[LiveEvent]:
    return [
        LiveEvent(EVENTS_CHANNEL, AUTH_EVENT, {"event_id": f"90{i:020d}", "seq": i + 1, "type": "s"}, None, 0.0)
        for i in range(n)
    ]


def hot_path(n: int) -> tuple[float, float]:
    events = _events(n)
    stream = EventStream(maxsize=n + 1)
    start = time.perf_counter()
    for item in events:
        stream.offer(item)
    direct = (time.perf_counter() - start) / n * 1e6
    stream = EventStream(maxsize=n + 1)
    runner = TaskRunner(name="bench-history")  # never started: nothing is fetched
    backfill = Backfill(
        HistoryClient("http://127.0.0.1:9/auth0/events"), runner, deliver=stream.offer, report=lambda e: None
    )
    start = time.perf_counter()
    for item in events:
        backfill.live(item)
    through = (time.perf_counter() - start) / n * 1e6
    assert stream.received == n and backfill.last_seq == n
    return direct, through


def gap_fill(gap: int) -> dict[str, float]:
    from bridge_support import LOG_TOKEN, bridge_hub, post_logs, record

    with tempfile.TemporaryDirectory() as tmp, bridge_hub(Path(tmp)) as hub:
        for first in range(0, gap, 1000):
            status, _ = post_logs(hub.url, [record(n, "s") for n in range(first, min(gap, first + 1000))])
            assert status == 200
        history = HistoryClient(hub.url + "/auth0/events", {"Authorization": f"Bearer {LOG_TOKEN}"})
        start = time.perf_counter()
        head = history.head()
        head_ms = (time.perf_counter() - start) * 1e3
        head_requests = history.requests
        searched = HistoryClient(hub.url + "/auth0/events", {"Authorization": f"Bearer {LOG_TOKEN}"})
        start = time.perf_counter()
        assert searched.search_head() == head
        search_ms = (time.perf_counter() - start) * 1e3
        search_requests = searched.requests
        stream = EventStream(maxsize=gap + 1)
        runner = TaskRunner(name="bench-history")
        backfill = Backfill(history, runner, deliver=stream.offer, report=lambda e: print("error:", e), after=0)
        history.requests = 0
        start = time.perf_counter()
        backfill.subscribed()
        runner.start()
        deadline = time.monotonic() + 300
        while stream.received < gap and time.monotonic() < deadline:
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        runner.stop()
        assert stream.received == gap and head == gap, (stream.received, head)
        return {
            "events_per_s": gap / elapsed,
            "seconds": elapsed,
            "requests": history.requests,
            "head_requests": head_requests,
            "head_ms": head_ms,
            "search_requests": search_requests,
            "search_ms": search_ms,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events for the hot-path measurement")
    parser.add_argument("--gap", type=int, default=20_000, help="events stored, then backfilled")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    direct, through = hot_path(args.events)
    print(
        f"hot path: direct {direct:.2f} us/event, through Backfill {through:.2f} us/event (+{through - direct:.2f} us)"
    )
    fill = gap_fill(args.gap)
    print(
        f"gap fill: {args.gap} events in {fill['seconds']:.2f} s = {fill['events_per_s']:,.0f} events/s, "
        f"{fill['requests']} requests; head read {fill['head_requests']} request(s), {fill['head_ms']:.1f} ms "
        f"(search for an older bridge: {fill['search_requests']} requests, {fill['search_ms']:.0f} ms)"
    )


if __name__ == "__main__":
    main()
