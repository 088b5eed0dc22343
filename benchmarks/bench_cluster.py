"""End-to-end throughput to a soketi cluster, beside the embedded hub, in the same run.

    log-stream webhook -> bridge (SQLite, synchronous=FULL) -> soketi node A -> Redis -> node B -> tail
    log-stream webhook -> authviz serve (bridge + embedded hub, one process)              -> tail

The tail is authviz's own live client (``LiveClient``, what ``authviz tail`` runs) in its own
process, subscribed to ``private-auth0-events`` with the bridge's history (so its reorder window
and head checks are on). The poster sends batches of ``--batch`` simulated records with
``--posters`` requests in flight. Measured per setup: events/s from the first POST to the last
event at the tail, lag at the tail (arrival minus the bridge's ``received_at``) p50/p99/max, and
whether every event arrived once and in ``seq`` order. The cluster is measured with the bridge's
publishing concurrency ``--concurrency`` (default ``1,8``: 1 is the one-request-at-a-time
publishing of before, 8 the default now), interleaved with the embedded hub, ``--rounds`` times.

Needs Node with soketi (``make node``) and ``redis-server`` (``make redis``).
Usage: ``python benchmarks/bench_cluster.py [--events N] [--concurrency 1,8] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

TOKEN = "bench-log-token"
#: the tail's reorder_delay (set from --reorder-delay)
REORDER = [1.0]


def make_batches(n: int, batch: int, seed: int) -> list[bytes]:
    from authviz.simulator import TrafficGenerator

    records = list(TrafficGenerator(seed=seed, rate_per_s=50.0).generate(n=n))
    return [b"\n".join(orjson.dumps(r) for r in records[i : i + batch]) for i in range(0, n, batch)]


def tail_process(
    port: int, key: str, secret: str, app_id: str, history_url: str, reorder_delay: float, total: int, conn
) -> None:
    """The live client in its own process: every auth-event's seq and lag, then a summary."""
    from authviz.config import PusherSettings
    from authviz.live import LiveClient
    from authviz.topics import AUTH_EVENT, EVENTS_CHANNEL

    settings = PusherSettings(key=key, secret=secret, app_id=app_id, host="127.0.0.1", port=port)
    client = LiveClient(settings, history_url=history_url, history_token=TOKEN, reorder_delay=reorder_delay)
    sub = client.subscribe(EVENTS_CHANNEL, events=[AUTH_EVENT], maxsize=200_000)
    if not sub.wait_subscribed(30):
        conn.send({"error": "not subscribed"})
        return
    deadline = time.monotonic() + 30
    while (client.backfill.last_seq is None or client.backfill._scheduled) and time.monotonic() < deadline:
        time.sleep(0.05)
    conn.send("ready")
    cpu_start = time.process_time()
    seqs: list[int] = []
    lags: list[float] = []
    last_at = 0.0
    idle_limit = 20.0
    last_arrival = time.monotonic()
    while len(seqs) < total and time.monotonic() - last_arrival < idle_limit:
        item = sub.get(0.5)
        if item is None:
            continue
        now = time.time()
        last_arrival = time.monotonic()
        last_at = now
        seqs.append(item.data["seq"])
        received = datetime.fromisoformat(item.data["received_at"].replace("Z", "+00:00")).timestamp()
        lags.append(now - received)
    time.sleep(1.0)  # anything more is a duplicate
    extra = 0
    while sub.get(0.1) is not None:
        extra += 1
    lags.sort()
    conn.send(
        {
            "received": len(seqs),
            "unique": len(set(seqs)),
            "extra": extra,
            "in_order": all(a < b for a, b in zip(seqs, seqs[1:])),
            "last_at": last_at,
            "lag_p50": statistics.median(lags) if lags else float("nan"),
            "lag_p99": lags[int(0.99 * (len(lags) - 1))] if lags else float("nan"),
            "lag_max": lags[-1] if lags else float("nan"),
            "reordered": client.backfill.reordered,
            "backfilled": client.backfill.backfilled,
            "gap_fills": client.backfill.gap_fills,
            "tail_cpu": time.process_time() - cpu_start,
        }
    )
    client.close()


def bridge_process(state_dir: str, urls: list[str], concurrency: int, conn, before: str | None = None) -> None:
    """``authviz bridge`` (standalone_app) publishing with ``concurrency`` requests in flight;
    ``before``: a directory holding an older ``authviz`` package to run instead (one URL)."""
    if before:
        sys.path.insert(0, before)
    from aiohttp import web

    from authviz.bridge import serve

    async def main() -> None:
        if before:  # the code of 10f0c68: its standalone_app took the parsed options, one URL
            parser = argparse.ArgumentParser()
            parser.add_argument("--host", default="127.0.0.1")
            parser.add_argument("--port", type=int, default=0)
            serve.add_arguments(parser, standalone=True)
            args = parser.parse_args(["--state-dir", state_dir, "--log-token", TOKEN])
            args.pusher_url = urls[0]
            app, _ = serve.standalone_app(args)
        else:
            from cluster_support import bridge_settings_for

            settings = bridge_settings_for(Path(state_dir), publish_concurrency=concurrency)
            settings = dataclasses.replace(settings, log_token=TOKEN)
            app, _ = serve.standalone_app(settings, urls, host="127.0.0.1", port=0)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send(runner.addresses[0][1])
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # until told to stop
        await runner.cleanup()

    asyncio.run(main())  # the loop `authviz bridge` runs on


async def post_all(url: str, batches: list[bytes], posters: int, rate: float) -> tuple[float, float]:
    """(wall start, seconds until every batch was acknowledged); ``rate`` > 0: batches are
    started on a schedule of ``rate`` events/s (an offered load), else as fast as acknowledged."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    async with aiohttp.ClientSession() as session:
        per_batch = (batches[0].count(b"\n") + 1) if batches else 1
        t_start = time.perf_counter()
        sent = 0

        async def poster() -> None:
            nonlocal sent
            while not queue.empty():
                body = queue.get_nowait()
                if rate > 0:
                    due = t_start + sent * per_batch / rate
                    sent += 1
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                async with session.post(url + "/auth0/logs", data=body, headers={"Authorization": TOKEN}) as r:
                    assert r.status == 200, await r.text()
                    await r.read()

        start, t0 = time.time(), time.perf_counter()
        await asyncio.gather(*(poster() for _ in range(posters)))
        return start, time.perf_counter() - t0


def measure(url: str, tail_args: tuple, batches: list[bytes], posters: int, rate: float, pids: dict[str, int]) -> dict:
    total = sum(b.count(b"\n") + 1 for b in batches)
    parent, child = mp.Pipe()
    tail = mp.Process(target=tail_process, args=(*tail_args, total, child))
    tail.start()
    ready = parent.recv()
    if ready != "ready":
        raise SystemExit(f"the tail did not start: {ready}")
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    poster_cpu = time.process_time()
    start, acked = asyncio.run(post_all(url, batches, posters, rate))
    poster_cpu = time.process_time() - poster_cpu
    result = parent.recv()
    result["cpu"] = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    result["cpu"]["tail"] = result.pop("tail_cpu")
    result["cpu"]["poster"] = poster_cpu
    tail.join(10)
    result["events"] = total
    result["acked_s"] = acked
    result["per_s"] = result["received"] / (result["last_at"] - start) if result["received"] else 0.0
    return result


def run_hub(batches: list[bytes], posters: int, rate: float) -> dict:
    from live_support import free_port

    key, secret, app_id = "bench-key", "bench-secret", "1"
    state = tempfile.mkdtemp(prefix="authviz-bench-hub-")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "authviz",
            "serve",
            "--port",
            str(port),
            "--app-id",
            app_id,
            "--key",
            key,
            "--secret",
            secret,
            "--log-token",
            TOKEN,
            "--state-dir",
            state,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url, proc)
        return measure(
            url,
            (port, key, secret, app_id, url + "/auth0/events", REORDER[0]),
            batches,
            posters,
            rate,
            {"serve": proc.pid},
        )
    finally:
        proc.send_signal(2)
        proc.wait(20)
        shutil.rmtree(state, ignore_errors=True)


def wait_up(url: str, proc: subprocess.Popen | None = None) -> None:
    import urllib.request

    for _ in range(300):
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            request = urllib.request.Request(url + "/auth0/events?limit=1", headers={"Authorization": TOKEN})
            with urllib.request.urlopen(request, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not come up")


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and its children (psutil)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0.0


def run_cluster(
    nodes: list,
    batches: list[bytes],
    posters: int,
    concurrency: int,
    rate: float,
    redis=None,
    before: str | None = None,
) -> dict:
    from live_support import APP_ID, KEY, SECRET

    a, b = nodes
    state = tempfile.mkdtemp(prefix="authviz-bench-cluster-")
    parent, child = mp.Pipe()
    bridge = mp.Process(target=bridge_process, args=(state, [a.pusher_url], concurrency, child, before))
    bridge.start()
    try:
        port = parent.recv()
        url = f"http://127.0.0.1:{port}"
        wait_up(url)
        pids = {"bridge": bridge.pid, "node A": a.process.pid, "node B": b.process.pid}
        if redis is not None:
            pids["redis"] = redis.process.pid
        return measure(
            url, (b.port, KEY, SECRET, APP_ID, url + "/auth0/events", REORDER[0]), batches, posters, rate, pids
        )
    finally:
        parent.send("stop")
        bridge.join(20)
        shutil.rmtree(state, ignore_errors=True)


def line(name: str, r: dict) -> str:
    once = (
        "once"
        if r["unique"] == r["received"] == r["events"] and not r["extra"]
        else (f"{r['unique']} unique of {r['events']}, {r['received'] - r['unique'] + r['extra']} repeats")
    )
    return (
        f"  {name:<28} {r['per_s']:>7,.0f} events/s end to end ({r['events']} events: {once}, "
        f"{'in seq order' if r['in_order'] else 'NOT in order'}); lag p50 {1000 * r['lag_p50']:,.0f} ms, "
        f"p99 {1000 * r['lag_p99']:,.0f} ms, max {1000 * r['lag_max']:,.0f} ms; reordered {r['reordered']}, "
        f"backfilled {r['backfilled']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100, help="records per webhook request")
    parser.add_argument("--posters", type=int, default=4, help="webhook requests in flight")
    parser.add_argument("--concurrency", default="1,8", help="bridge publishing concurrency levels")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="offered load in events/s (0: post as fast as the bridge acknowledges)"
    )
    parser.add_argument(
        "--before", metavar="DIR", help="also run the bridge of an older checkout (DIR holds its authviz package)"
    )
    parser.add_argument("--reorder-delay", type=float, default=1.0, help="the tail's reorder_delay (s)")
    args = parser.parse_args()
    REORDER[0] = args.reorder_delay
    mp.set_start_method("spawn")
    from cluster_support import RedisServer
    from live_support import SoketiServer

    levels = [int(c) for c in args.concurrency.split(",")]
    redis = RedisServer()
    nodes = [
        SoketiServer(redis_port=redis.port, redis_prefix="bench"),
        SoketiServer(redis_port=redis.port, redis_prefix="bench"),
    ]
    started = datetime.now().astimezone()
    try:
        seed = 5000
        for round_ in range(1, args.rounds + 1):
            for what in ["hub", *(["before"] if args.before else []), *levels]:
                seed += 1
                batches = make_batches(args.events, args.batch, seed)  # fresh log_ids every run
                if what == "before":
                    name = f"cluster, code before (round {round_})"
                    r = run_cluster(nodes, batches, args.posters, 1, args.rate, redis, args.before)
                elif what == "hub":
                    name, r = f"embedded hub (round {round_})", run_hub(batches, args.posters, args.rate)
                else:
                    name = f"cluster, concurrency {what} (round {round_})"
                    r = run_cluster(nodes, batches, args.posters, int(what), args.rate, redis)
                print(line(name, r), flush=True)
                total = sum(r["cpu"].values())
                n = r["events"]
                parts = ", ".join(f"{k} {1e6 * v / n:,.0f}" for k, v in r["cpu"].items())
                print(
                    f"    CPU: {1e6 * total / n:,.0f} us per event in all ({parts}): at most "
                    f"{2 * n / total:,.0f} events/s if 2 idle cores did nothing else",
                    flush=True,
                )
    finally:
        for node in nodes:
            node.close()
        redis.close()
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"bench_cluster {started:%Y-%m-%d %H:%M %Z}: {os.cpu_count()} CPUs ({cpu}), Python "
        f"{platform.python_version()}, soketi 1.6.1 x2 + Redis, batches of {args.batch} records, "
        f"{args.posters} posters, offered {args.rate or 'max'} events/s; load average now {os.getloadavg()[0]:.1f} (machine shared)"
    )


if __name__ == "__main__":
    main()
