"""Benchmark: live rule evaluation at 5,000 events/s (target: p99 rule latency <= 100 ms).

Events of the seeded simulator (ordinary traffic at a live rate, every scenario injected) are
parsed first (not measured), then offered to the detector on a wall-clock schedule of RATE events a
second, as ``authviz tail`` offers them: every INTERVAL seconds the events that arrived since the
last batch are fed at once. An event's *rule latency* is the time from its arrival to the return
of the ``feed`` that evaluated it against every rule (waiting for its batch included). When the
detector cannot keep up, the backlog grows and the latency shows it.

``--baseline`` runs the previous live detector (``authviz/analytics/live.py`` at commit 10f0c68, which reran
the pandas detections over a sliding window) through the same schedule, in the same process run.

    .venv/bin/python benchmarks/bench_alerts.py [--rate 5000] [--seconds 20] [--interval 0.05] [--baseline]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from authviz.auth0 import parse_records  # noqa: E402
from authviz.bridge.simulate import SimulateOptions, simulated_records  # noqa: E402
from authviz.simulator import SCENARIOS  # noqa: E402


def events_for(rate: float, seconds: float) -> list:
    options = SimulateOptions(
        target="-",
        token="-",
        rate=rate,
        seed=7,
        duration=seconds,
        scenarios=tuple(SCENARIOS),
        scenario_delay=seconds / 4,
    )
    records = list(simulated_records(options, datetime(2026, 12, 3, 14, tzinfo=UTC)))
    return parse_records(records).events


def run(detector, events: list, rate: float, interval: float) -> dict:
    latencies: list[float] = []
    alerts = 0
    batches = 0
    start = time.perf_counter()
    sent = 0
    while sent < len(events):
        now = time.perf_counter()
        arrived = min(len(events), int((now - start) * rate) + 1)
        if arrived > sent:
            batch = events[sent:arrived]
            alerts += len(detector.feed(batch))
            done = time.perf_counter()
            latencies += [done - (start + i / rate) for i in range(sent, arrived)]
            sent = arrived
            batches += 1
        pause = interval - (time.perf_counter() - now)
        if pause > 0:
            time.sleep(pause)
    wall = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return {
        "events": len(events),
        "wall_s": wall,
        "throughput": len(events) / wall,
        "batches": batches,
        "alerts": alerts,
        "p50_ms": 1000 * pick(0.50),
        "p99_ms": 1000 * pick(0.99),
        "max_ms": 1000 * latencies[-1],
    }


#: the last commit with the pandas live detector
BASELINE_COMMIT = "10f0c68"


def baseline_detector():
    """The previous LiveDetector, loaded from git into a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BASELINE_COMMIT}:authviz/analytics/live.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_live.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_live", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_live"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.LiveDetector()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5000.0, help="events per second offered (default 5000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the run (default 20)")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between batches (default 0.05)")
    parser.add_argument("--baseline", action="store_true", help="also run main's previous live detector")
    args = parser.parse_args()
    from authviz.alerts import LiveDetector

    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    events = events_for(args.rate, args.seconds)
    print(f"{len(events):,} events ({args.rate:g}/s for {args.seconds:g} s, every scenario injected)")
    detector = LiveDetector()
    print(f"rules: {len(detector.rules)} live ({len(detector.needs_configuration)} need configuration)")
    contenders = [("rules (authviz.alerts.LiveDetector)", detector)]
    if args.baseline:
        contenders.append(("previous (pandas detections over a sliding window)", baseline_detector()))
    for name, candidate in contenders:
        result = run(candidate, events, args.rate, args.interval)
        print(
            f"{name}: {result['throughput']:,.0f} events/s over {result['wall_s']:.1f} s, {result['batches']} "
            f"batches, {result['alerts']} alerts; latency p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
            f"max {result['max_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
