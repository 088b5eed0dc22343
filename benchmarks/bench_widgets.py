"""Benchmark: a firehose of auth events into every widget of one kernel-like process.

    .venv/bin/python benchmarks/bench_widgets.py [--rate 5000] [--duration 60] [--hz 4]

One producer thread hands ``rate`` events/s to the pump (batches every 10 ms, as the live client's
consumer thread would); the pump (its own thread here; the kernel's event loop in a notebook) applies
them to a LiveFeed, a CountryChart (bars + map), SessionEvents and a ChatWidget (1 message/s).
Comm messages are counted by a comm that records what a kernel would put on iopub
(:mod:`authviz.widgets.commcount`). Reports: process CPU (producer + pump), comm messages/s and
bytes/s, pump tick time p50/p99/max, RSS every 5 s and its growth after a 10 s warm-up, dropped.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import threading
import time

import psutil

from authviz.auth0.parse import parse_event
from authviz.simulator import TrafficGenerator
from authviz.widgets import ChatWidget, CountryChart, LiveFeed, Pump, SessionEvents
from authviz.widgets.commcount import counting_comms


def machine() -> str:
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"nproc={os.cpu_count()}, {model}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=5000, help="events per second (default 5000)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    ap.add_argument("--hz", type=float, default=4.0, help="pump ticks per second (default 4)")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds before memory is compared")
    args = ap.parse_args()

    events = [parse_event(r).to_dict(include_raw=False) for r in TrafficGenerator(seed=1).generate(n=5000)]
    proc = psutil.Process()
    with counting_comms() as comms:
        pump = Pump(hz=args.hz, max_pending=200_000)
        feed, chart, session, chat = LiveFeed(), CountryChart(), SessionEvents(), ChatWidget()
        pump.add(feed, chart, session, chat)
        tick_times: list[float] = []
        original_tick = pump.tick

        def timed_tick(*, force: bool = False) -> int:
            t0 = time.perf_counter()
            n = original_tick(force=force)
            tick_times.append(time.perf_counter() - t0)
            return n

        pump.tick = timed_tick  # type: ignore[method-assign]
        comms.reset()
        stop = threading.Event()
        produced = [0]

        def produce() -> None:
            per_batch = max(1, args.rate // 100)
            start = time.monotonic()
            i = k = 0
            while not stop.is_set():
                due = start + k / 100
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                batch = [events[(i + j) % len(events)] for j in range(per_batch)]
                pump.submit_many(batch)
                i += per_batch
                k += 1
                if k % 100 == 0:
                    pump.submit(
                        {"id": k, "author": "bench", "text": f"message {k}", "created_at": "2026-11-01T00:00:00Z"},
                        "chat",
                    )
            produced[0] = i

        chat.topics = frozenset({"chat"})
        rss: list[tuple[float, float]] = []
        cpu0 = time.process_time()
        t0 = time.monotonic()
        pump.start(mode="thread")
        producer = threading.Thread(target=produce, name="producer")
        producer.start()
        next_sample = 0.0
        while (elapsed := time.monotonic() - t0) < args.duration:
            if elapsed >= next_sample:
                rss.append((elapsed, proc.memory_info().rss / 2**20))
                next_sample += 5.0
            time.sleep(0.2)
        stop.set()
        producer.join()
        pump.stop(final_tick=False)
        wall = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        rss.append((wall, proc.memory_info().rss / 2**20))
        msgs, nbytes = comms.messages, comms.bytes
        pending = len(pump.buffer)
        pump.tick(force=True)

    after = [m for t, m in rss if t >= args.warmup]
    ticks_ms = sorted(t * 1000 for t in tick_times)
    p = lambda q: ticks_ms[min(len(ticks_ms) - 1, int(q * len(ticks_ms)))]  # noqa: E731
    print(f"machine: {machine()}")
    print(
        f"events: {produced[0]:,} in {wall:.1f} s = {produced[0] / wall:,.0f}/s into 4 widgets "
        f"(pump {args.hz:g} Hz); applied {feed.total:,}; dropped {pump.dropped}; pending at stop {pending}"
    )
    print(
        f"process CPU: {cpu:.1f} s = {100 * cpu / wall:.0f}% of one core (producer + pump); "
        f"{1e6 * cpu / max(1, produced[0]):.1f} us/event"
    )
    print(f"comm messages: {msgs} = {msgs / wall:.1f}/s (target <= 20/s), {nbytes / wall / 1024:.0f} KiB/s")
    print(
        f"pump tick (apply + refresh): p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {ticks_ms[-1]:.1f} ms "
        f"over {len(ticks_ms)} ticks"
    )
    print("RSS MiB: " + ", ".join(f"{t:.0f}s {m:.0f}" for t, m in rss))
    if len(after) >= 2:
        print(
            f"RSS growth after {args.warmup:g} s warm-up: {after[-1] - after[0]:+.1f} MiB "
            f"(max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
