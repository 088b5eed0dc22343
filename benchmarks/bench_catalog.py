"""Benchmark: what the catalog engineer's changes cost (issue #13), old against new in one run.

1. **Three more catalog rules** (refresh-token reuse, disposable-domain sign-ups, tenant takeover):
   every packaged rule over a day-partitioned Parquet archive (``bench_rules.py``'s, 1M events by
   default) with the 27 catalog rules of before ("old") and the 30 of now ("new"), interleaved.
   The team's target for the whole set: 10M events in <= 10 s (``bench_rules.py`` measures it).
2. **IPv6 ``cidr``**: one rule ``data.ip|cidr`` with an IPv4 range ("old": all ``cidr`` could do)
   and with an IPv6 range, over the archive's events with half their IPs rewritten as IPv6.
3. **``temporal_ordered``**: a failed then a successful log-in per user within 10 minutes, as
   ``temporal`` (any order: "old") and ``temporal_ordered``, over the archive.
4. **Live**: :class:`authviz.alerts.LiveDetector` with the live rules without and with the three
   rules, fed a simulated stream in batches of 0.05 s at 5,000 events/s (250 events); per-batch
   evaluation time p50/p99 (the team's target: p99 rule latency <= 100 ms, ``bench_alerts.py``).

    .venv/bin/python benchmarks/bench_catalog.py                 # 1M events, 3 rounds (a few minutes)
    .venv/bin/python benchmarks/bench_catalog.py --events 10000000 --rounds 2

Each number is printed with the load average beside it (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

import bench_rules  # noqa: E402

from authviz.detections import DetectionEngine, TenantSettings, load_rule_text, packaged_rules  # noqa: E402

#: The catalog rules packaged by this change (their Sigma ids).
NEW_RULES = {
    "a7b2e75c-7171-11f0-aa28-723487b9527c",  # refresh_token_reuse.yml
    "e92605d8-716d-11f0-b2ae-723487b9527c",  # risk_of_signup_fraud_by_disposable_domains.yml
    "711501ce-716e-11f0-8b6e-723487b9527c",  # risk_of_tenant_takeover.yml
}
SETTINGS = TenantSettings({k: (v,) for k, v in bench_rules.SETTINGS.items()})

CIDR_RULE = """
title: Log-ins from a network
id: 0c1d0000-0000-4000-8000-00000000000{n}
logsource: {{product: auth0}}
detection: {{selection: {{data.ip|cidr: '{network}'}}, condition: selection}}
"""
ORDER_RULE = """
title: Failed log-in
name: failed
logsource: {{product: auth0}}
detection: {{selection: {{data.type: f}}, condition: selection}}
---
title: Successful log-in
name: good
logsource: {{product: auth0}}
detection: {{selection: {{data.type: s}}, condition: selection}}
---
title: Failed then successful log-in
id: 0c1d0000-0000-4000-8000-0000000000{n}
correlation: {{type: {kind}, rules: [failed, good], group-by: [data.user_id], timespan: 10m}}
"""


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def timed_run(source, rules) -> tuple[float, int]:
    with DetectionEngine(temp_directory=str(bench_rules.OUT / "tmp")) as engine:
        source(engine)
        engine.define_events()
        started = time.perf_counter()
        report = engine.run(rules, SETTINGS)
        seconds = time.perf_counter() - started
        if report.failed:
            raise SystemExit(f"rules failed: {report.failed}")
        return seconds, report.findings


def compare(label: str, target: str, variants: dict, rounds: int) -> None:
    """Run each variant ``rounds`` times, interleaved; print the median and every run with the load."""
    times: dict[str, list[tuple[float, int, str]]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (source, rules) in variants.items():
            seconds, findings = timed_run(source, rules)
            times[name].append((seconds, findings, load()))
    print(f"\n{label}  (target: {target})")
    for name, runs in times.items():
        median = statistics.median(s for s, _, _ in runs)
        each = "; ".join(f"{s:.2f} s ({loadavg})" for s, _, loadavg in runs)
        print(f"  {name:<34} median {median:6.2f} s, {runs[0][1]:,} findings   [{each}]")


def live(rounds: int) -> None:
    from authviz.alerts.live import LiveDetector, live_rules
    from authviz.auth0 import read_logs
    from authviz.simulator import month_of_traffic

    month = month_of_traffic(seed=7, days=10, events_per_day=3000, catalog=True)
    frame = read_logs(month.records).frame.sort_values("timestamp").reset_index(drop=True)
    batches = [frame.iloc[i : i + 250] for i in range(0, len(frame), 250)]
    new = live_rules()
    old = [r for r in new if r.id not in NEW_RULES]
    results: dict[str, list[float]] = {"old: live rules without the three": [], "new: live rules with the three": []}
    loads = []
    for _ in range(rounds):
        for name, rules in (("old: live rules without the three", old), ("new: live rules with the three", new)):
            detector = LiveDetector(rules)
            for batch in batches:
                started = time.perf_counter()
                detector.feed(batch)
                results[name].append((time.perf_counter() - started) * 1000)
            detector.close()
            loads.append(load())
    print(f"\nlive: one feed() of 250 events (0.05 s at 5,000 events/s), {len(batches)} batches x {rounds} rounds")
    print("  (target: p99 rule latency <= 100 ms at 5,000 events/s, measured end to end by bench_alerts.py)")
    for name, samples in results.items():
        samples.sort()
        p50 = samples[len(samples) // 2]
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        print(f"  {name:<34} p50 {p50:6.1f} ms, p99 {p99:6.1f} ms")
    print(f"  [{'; '.join(loads)}]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="archive size (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of each variant (default 3)")
    args = parser.parse_args()
    print(
        f"bench_catalog: {platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    folder = bench_rules.OUT / f"archive-{args.events}"
    generated = bench_rules.generate(args.events, folder)
    print(
        f"archive {folder} ({args.events:,} events{f', generated in {generated:.1f} s' if generated else ''}); {load()}"
    )

    def archive(engine):
        engine.add_parquet(folder)

    rules = packaged_rules().rules
    compare(
        f"1. every packaged rule over {args.events:,} events",
        "10M events in <= 10 s for the whole set, bench_rules.py",
        {
            f"old: {len(rules) - len(NEW_RULES)} rules (27 catalog)": (
                archive,
                [r for r in rules if r.id not in NEW_RULES],
            ),
            f"new: {len(rules)} rules (30 catalog)": (archive, rules),
        },
        args.rounds,
    )

    compare(
        f"1b. the three rules alone over {args.events:,} events",
        "their share of the whole set's time",
        {f"new: {r.title[:30]}": (archive, [r]) for r in rules if r.id in NEW_RULES},
        args.rounds,
    )

    def half_ipv6(engine):
        # the archive with every other event's IP written as IPv6 (inside 2001:db8::/32 or not)
        engine.con.execute(
            f"CREATE OR REPLACE TABLE v6_events AS SELECT * REPLACE (CASE WHEN hash(event_id) % 2 = 0 THEN "
            f"printf('2001:db%x:%x::%x', hash(event_id) % 16, hash(event_id) % 65536, hash(user_id) % 65536) "
            f"ELSE ip END AS ip) FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"
        )
        engine.add_table("v6_events")

    v4 = load_rule_text(CIDR_RULE.format(n=1, network="10.0.0.0/8"), "v4.yml").rules
    v6 = load_rule_text(CIDR_RULE.format(n=2, network="2001:db8::/32"), "v6.yml").rules
    compare(
        f"2. one cidr rule over {args.events:,} events (half of them IPv6)",
        "no target; the IPv4 rule is what cidr did before",
        {"old: data.ip|cidr 10.0.0.0/8": (half_ipv6, v4), "new: data.ip|cidr 2001:db8::/32": (half_ipv6, v6)},
        args.rounds,
    )
    temporal = load_rule_text(ORDER_RULE.format(n=11, kind="temporal"), "t.yml").rules
    ordered = load_rule_text(ORDER_RULE.format(n=12, kind="temporal_ordered"), "o.yml").rules
    compare(
        f"3. f then s per user in 10 minutes over {args.events:,} events",
        "no target; temporal (any order) is what could be said before",
        {"old: temporal": (archive, temporal), "new: temporal_ordered": (archive, ordered)},
        args.rounds,
    )
    live(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
