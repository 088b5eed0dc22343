"""Benchmark: live rule evaluation at 5,000 events/s (target: p99 rule latency <= 100 ms).

Events of the seeded simulator (ordinary traffic at a live rate, every scenario injected) are
parsed first (not measured), then offered to the detector on a wall-clock schedule of RATE events a
second, as ``authviz tail`` offers them: every INTERVAL seconds (default: tail's ``ALERT_INTERVAL``)
the events that arrived since the last batch are fed at once. An event's *rule latency* is the time from its arrival to the return
of the ``feed`` that evaluated it against every rule (waiting for its batch included). When the
detector cannot keep up, the backlog grows and the latency shows it.

``--baseline`` also runs main's previous live detector (``authviz/alerts/live.py`` and
``correlate.py`` at commit 45b121b: one DuckDB query per batch, the SQL impossible-travel rule over
recent events every second), loaded from git, through the same schedule: old and new alternate
(``--rounds`` of each, interleaved in time, so both see the same machine), each run in a fresh
process as ``authviz tail`` would be (one detector's threads and heap never weigh on the other's:
DuckDB leaves a dozen threads behind).

Before each run, after a warm-up that loads every module either detector uses, the process calls
``gc.collect(); gc.freeze()`` as ``authviz tail`` does once its rules are loaded: what lives as
long as the process (modules, rules) and the harness's pre-parsed events (about a million objects
a live process never holds at once) stay out of the garbage collector's full collections, which
then scan what the detector creates. GC pauses are reported per run.

    .venv/bin/python benchmarks/bench_alerts.py [--rate 5000] [--seconds 20] [--interval 0.02] [--baseline] [--rounds 2]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
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
from authviz.cli.tail import ALERT_INTERVAL  # noqa: E402
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


class GcPauses:
    """The garbage collector's pauses during a run (its callbacks), for the report."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._start)

    def __enter__(self) -> "GcPauses":
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


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


#: main before the Python evaluator (issue #13, session 3): the DuckDB live detector
BASELINE_COMMIT = "45b121b"
#: the target: p99 rule latency at most this, at 5,000 events/s
TARGET_P99_MS = 100.0


def _module_from_git(path: str, name: str, replace: dict[str, str] | None = None):
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BASELINE_COMMIT}:{path}"], capture_output=True, text=True, check=True
    ).stdout
    for old, new in (replace or {}).items():
        source = source.replace(old, new)
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def baseline_detector():
    """Main's previous LiveDetector (and its correlation state), loaded from git into modules of their own."""
    if "old_live" not in sys.modules:
        _module_from_git("authviz/alerts/correlate.py", "old_correlate")
        _module_from_git(
            "authviz/alerts/live.py", "old_live", {"from authviz.alerts.correlate import": "from old_correlate import"}
        )
    from authviz.alerts import live_rules

    return sys.modules["old_live"].LiveDetector(live_rules())  # the same rules as the new one


CONTENDERS = {
    "old": f"old (main {BASELINE_COMMIT}: DuckDB per batch)",
    "new": "new (Python, indexed conditions)",
}


def one_run(kind: str, rate: float, seconds: float, interval: float) -> dict:
    """One detector through the schedule, in this process (a fresh one per run: see main)."""
    from authviz.alerts import LiveDetector

    events = events_for(rate, seconds)
    make = baseline_detector if kind == "old" else LiveDetector
    warm = make()  # warm-up: every module the detector loads is loaded
    warm.feed(events[:2000])
    warm.close()
    del warm
    detector = make()
    # as `authviz tail` does once its rules are loaded: what lives as long as the process (and the
    # harness's input) kept out of the full collections
    gc.collect()
    gc.freeze()
    cpu = time.process_time()
    with GcPauses() as pauses:
        result = run(detector, events, rate, interval)
    result["cpu_us"] = 1e6 * (time.process_time() - cpu) / result["events"]
    result["gc_ms"] = 1000 * sum(pauses.pauses)
    result["gc_pauses"] = len(pauses.pauses)
    result["gc_longest_ms"] = 1000 * max(pauses.pauses, default=0)
    result["rules"] = len(detector.rules)
    detector.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5000.0, help="events per second offered (default 5000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of one run (default 20)")
    parser.add_argument(
        "--interval",
        type=float,
        default=ALERT_INTERVAL,
        help=f"seconds between batches (default {ALERT_INTERVAL:g}: authviz tail's ALERT_INTERVAL)",
    )
    parser.add_argument(
        "--baseline", action="store_true", help=f"also run main's previous live detector (commit {BASELINE_COMMIT})"
    )
    parser.add_argument("--rounds", type=int, default=2, help="runs of each detector, interleaved (default 2)")
    parser.add_argument("--only", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)  # one run, in this process
    args = parser.parse_args()
    if args.only:
        print("RESULT " + json.dumps(one_run(args.only, args.rate, args.seconds, args.interval)), flush=True)
        return
    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; {args.rate:g} events/s for {args.seconds:g} s, every scenario "
        f"injected, a batch every {args.interval:g} s; each run in a fresh process"
    )
    kinds = ["old", "new"] if args.baseline else ["new"]
    p99s: dict[str, list[float]] = {kind: [] for kind in kinds}
    for round_ in range(1, args.rounds + 1):
        for kind in kinds:
            load = os.getloadavg()[0]
            command = [sys.executable, __file__, "--only", kind, "--rate", str(args.rate)]
            command += ["--seconds", str(args.seconds), "--interval", str(args.interval)]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                raise SystemExit(f"the {kind} run failed:\n{done.stderr[-2000:]}")
            r = json.loads(lines[-1][len("RESULT ") :])
            p99s[kind].append(r["p99_ms"])
            print(
                f"round {round_} {CONTENDERS[kind]}: {r['events']:,} events, {r['rules']} rules, "
                f"{r['throughput']:,.0f} events/s, {r['batches']} batches, {r['alerts']} alerts; latency p50 "
                f"{r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms; CPU {r['cpu_us']:.0f} "
                f"us/event; GC {r['gc_ms']:.0f} ms in {r['gc_pauses']} pauses (longest {r['gc_longest_ms']:.0f} ms); "
                f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    for kind, values in p99s.items():
        verdict = "met" if max(values) <= TARGET_P99_MS else "NOT met"
        print(
            f"{CONTENDERS[kind]}: p99 {', '.join(f'{v:.1f}' for v in values)} ms (target <= {TARGET_P99_MS:g} ms "
            f"at {args.rate:g} events/s: {verdict})"
        )


if __name__ == "__main__":
    main()
