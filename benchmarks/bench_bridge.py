"""Bridge ingest benchmark: a real ``authviz serve --dev-identity`` process, durability on
(SQLite WAL, synchronous=FULL, committed before each 200), batches of 100 simulated log-stream
records posted through ``POST /auth0/logs``; a websocket subscriber of ``private-auth0-events``
counts the published ``auth-event`` messages.

Measures, per concurrency level: stored events/s (acknowledged), end-to-end published events/s
(first POST to the last ``auth-event`` received), batch latency p50/p99, and events per CPU-second
of the server process (user+system, all its threads; also as microseconds per event, and the part
spent on the event loop thread, the rest being SQLite's writer and reader threads): the figure
that depends least on what else the machine runs. Target: >= 5,000 events/s stored and published.

Usage: ``python benchmarks/bench_bridge.py [--events N] [--concurrency 1,4]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET, TOKEN = "bench-key", "bench-secret", "bench-log-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_batches(n: int, batch: int, seed: int) -> list[bytes]:
    from authviz.simulator import TrafficGenerator

    records = list(TrafficGenerator(seed=seed, rate_per_s=50.0).generate(n=n))
    return [b"\n".join(orjson.dumps(r) for r in records[i : i + batch]) for i in range(0, n, batch)]


async def wait_up(session: aiohttp.ClientSession, url: str, proc: subprocess.Popen) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"authviz serve exited with {proc.returncode}")
        try:
            async with session.get(url + "/auth0/events?limit=1", headers={"Authorization": TOKEN}) as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("authviz serve did not come up")


def subscriber_process(url: str, user_token: str, total: int, conn) -> None:
    """A separate process (as a real client would be): subscribe to the private event feed and
    report how many ``auth-event`` arrived and when the last one did (wall clock)."""

    async def run() -> tuple[int, float, str]:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(
                url.replace("http", "ws") + f"/app/{KEY}?protocol=7&client=bench", max_msg_size=0
            )
            hello = json.loads((await ws.receive()).data)
            socket_id = json.loads(hello["data"])["socket_id"]
            async with session.post(
                url + "/pusher/auth",
                data=urlencode({"socket_id": socket_id, "channel_name": "private-auth0-events"}),
                headers={"Authorization": f"Bearer {user_token}", "Content-Type": "application/x-www-form-urlencoded"},
            ) as r:
                auth = await r.json()
            await ws.send_str(
                json.dumps({"event": "pusher:subscribe", "data": {"channel": "private-auth0-events", **auth}})
            )
            while json.loads((await ws.receive()).data)["event"] != "pusher_internal:subscription_succeeded":
                pass
            conn.send("ready")
            received, last_at, why = 0, 0.0, "complete"
            while received < total:
                try:
                    message = await asyncio.wait_for(ws.receive(), 60)
                except asyncio.TimeoutError:
                    why = "timed out"
                    break
                if message.type != aiohttp.WSMsgType.TEXT:
                    why = f"closed by the hub ({ws.close_code})"
                    break
                if '"auth-event"' in message.data:
                    received += 1
                    last_at = time.time()
            await ws.close()
            return received, last_at, why

    conn.send(asyncio.run(run()))


async def run_level(url: str, batches: list[bytes], concurrency: int, server_pid: int) -> dict:
    import multiprocessing

    import psutil

    server = psutil.Process(server_pid)

    def cpu() -> float:  # the server and its parse workers
        total = 0.0
        for process in [server, *server.children(recursive=True)]:
            try:
                total += sum(process.cpu_times()[:2])
            except psutil.NoSuchProcess:
                pass
        return total

    def loop_cpu() -> float:  # the server's main thread: the event loop (parse, publish, HTTP)
        for thread in server.threads():
            if thread.id == server_pid:
                return thread.user_time + thread.system_time
        return 0.0

    total = sum(b.count(b"\n") + 1 for b in batches)
    async with aiohttp.ClientSession() as session:
        # the subscriber reads private-auth0-events: it needs read:auth_events (issue #11)
        async with session.post(url + "/dev/token", data={"user": "bench", "permission": "read:auth_events"}) as r:
            user_token = (await r.json())["access_token"]
        parent, child = multiprocessing.Pipe()
        sub = multiprocessing.Process(target=subscriber_process, args=(url, user_token, total, child))
        sub.start()
        assert await asyncio.get_running_loop().run_in_executor(None, parent.recv) == "ready"
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for b in batches:
            queue.put_nowait(b)
        latencies: list[float] = []
        stored = 0

        async def poster() -> None:
            nonlocal stored
            while not queue.empty():
                body = queue.get_nowait()
                t0 = time.perf_counter()
                async with session.post(url + "/auth0/logs", data=body, headers={"Authorization": TOKEN}) as r:
                    result = await r.json()
                    assert r.status == 200, result
                latencies.append(time.perf_counter() - t0)
                stored += result["stored"]

        cpu_before, loop_before = cpu(), loop_cpu()
        wall_start, start = time.time(), time.perf_counter()
        await asyncio.gather(*(poster() for _ in range(concurrency)))
        acked = time.perf_counter()
        received, last_at, why = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
        server_cpu = cpu() - cpu_before
        loop_cpu_s = loop_cpu() - loop_before
        sub.join(10)
    latencies.sort()
    return {
        "concurrency": concurrency,
        "events": total,
        "stored": stored,
        "stored_per_s": stored / (acked - start),
        "received": received,
        "why": why,
        "published_per_s": received / (last_at - wall_start) if received else 0.0,
        "per_cpu_s": received / server_cpu if server_cpu else 0.0,
        "us_per_event": 1e6 * server_cpu / total,
        "loop_us_per_event": 1e6 * loop_cpu_s / total,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument("--parse-workers", type=int, default=0)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    state = Path(tempfile.mkdtemp(prefix="authviz-bench-bridge-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "authviz",
            "serve",
            "--dev-identity",
            "--port",
            str(port),
            "--key",
            KEY,
            "--secret",
            SECRET,
            "--log-token",
            TOKEN,
            "--state-dir",
            str(state),
            "--parse-workers",
            str(args.parse_workers),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            await wait_up(session, url, proc)
        results = []
        for i, level in enumerate(levels):
            batches = make_batches(args.events, args.batch, seed=1000 + i)  # fresh log_ids per level
            results.append(await run_level(url, batches, level, proc.pid))
    finally:
        proc.send_signal(2)
        proc.wait(timeout=20)
        shutil.rmtree(state, ignore_errors=True)
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"bench_bridge: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"SQLite WAL synchronous=FULL, batches of {args.batch}, parse workers {args.parse_workers}"
    )
    for r in results:
        print(
            f"  concurrency {r['concurrency']}: {r['events']} events, stored {r['stored_per_s']:,.0f}/s, "
            f"stored+published {r['published_per_s']:,.0f}/s ({r['received']} received, {r['why']}), "
            f"batch latency p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms; "
            f"server CPU: {r['per_cpu_s']:,.0f} events per CPU-second ({r['us_per_event']:.0f} us "
            f"per event, {r['loop_us_per_event']:.0f} us of it on the event loop thread)"
        )
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} (machine shared with other work)")


if __name__ == "__main__":
    asyncio.run(main())
