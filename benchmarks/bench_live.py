"""Sustained ingest through the live client: 1k, 5k and 10k events/s, trigger to consumer.

Three processes, so the numbers are the client's own:

* a server: the embedded hub (own process) or soketi (Node), both allowing 100-event batches;
* a producer process publishing signed HTTP ``batch_events`` on loopback at the target rate, each
  event a normalised Auth0 event (``AuthEvent.to_dict()`` without raw, ~700 bytes) stamped with
  ``sent_at`` (epoch seconds) immediately before its request is signed and sent;
* this process: ``LiveClient`` subscribed to ``private-auth0-events`` (JSON-decoded on the
  websocket thread, handed over through the bounded buffer), consumed by iterating on the main thread.

Reported per run: events sent/received/lost, backlog growth (buffer backlog at the end minus at
the start of the measured window, and its high-water mark), trigger-to-consumer latency p50/p99
(time.time() at consumption minus sent_at), the client's own share of it (hand-over p99: consumption
minus arrival on the websocket thread), and this process's CPU time per second per 1,000 events/s.
``--baseline`` adds bare pysher (latency taken inside its callback on the websocket thread).

    .venv/bin/python benchmarks/bench_live.py [--servers hub soketi] [--rates 1000 5000 10000]
                                              [--seconds 5] [--baseline]
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import platform
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

APP_ID, KEY, SECRET = "4242", "live-key", "live-secret"
CHANNEL = "private-auth0-events"
#: events per batch_events request. Pusher's clusters allow 10, but a Python producer cannot send
#: 1,000 requests/s on this 2-core machine next to the server and the client; --batch changes it.
BATCH = 100


# ------------------------------------------------------------------------------------------ servers
def _hub_process(port_q, stop_evt, batch: int, send_buffer: int) -> None:
    from authviz.hub import running_hub
    from authviz.pusher.limits import DEFAULT_LIMITS

    limits = dataclasses.replace(DEFAULT_LIMITS, max_batch_events=batch)
    with running_hub(app_id=APP_ID, key=KEY, secret=SECRET, limits=limits, send_buffer_bytes=send_buffer) as hub:
        port_q.put(hub.port)
        stop_evt.wait()


class HubProcess:
    name = "hub"

    def __init__(self, batch: int, send_buffer: int) -> None:
        ctx = mp.get_context("spawn")
        self._stop = ctx.Event()
        q = ctx.Queue()
        self._proc = ctx.Process(target=_hub_process, args=(q, self._stop, batch, send_buffer), daemon=True)
        self._proc.start()
        self.port = q.get(timeout=30)

    def close(self) -> None:
        self._stop.set()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


class Soketi:
    name = "soketi"

    def __init__(self, batch: int) -> None:
        from live_support import SoketiServer

        self._server = SoketiServer(max_batch=batch)
        self.port = self._server.port

    def close(self) -> None:
        self._server.close()


# ------------------------------------------------------------------------------------------ producer
def _payloads(n: int = 500) -> list[dict]:
    from authviz.auth0 import parse_event
    from authviz.simulator import TrafficGenerator

    return [parse_event(r).to_dict(include_raw=False) for r in TrafficGenerator(seed=1).generate(n=n)]


#: Stand-in for ``sent_at`` while a batch is encoded; replaced by the real stamp (same width) just
#: before the request is signed and sent. 2100-01-01, so it cannot occur in a payload by accident.
_STAMP_SENTINEL = b"4102444800.123456"


def _producer_process(port: int, rate: int, seconds: float, batch_size: int, go, result_q) -> None:
    """Signed ``batch_events`` over one keep-alive HTTP/1.1 connection (``http.client``).

    The events of a batch are JSON-encoded first (the application has its events ready); their
    ``sent_at`` is stamped immediately before the request is signed and sent, so latency runs
    from the trigger, not from the producer's own encoding. One request at a time: the next
    batch goes out when the previous one was answered (the hub answers after its fan-out).
    """
    import http.client

    from authviz.pusher.signing import sign_request

    payloads = _payloads()
    path = f"/apps/{APP_ID}/batch_events"
    sentinel = float(_STAMP_SENTINEL)
    seq = sent = failures = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    go.wait()
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate) - sent
        threshold = min(batch_size, rate // 100 or 1)
        if due < threshold:  # sleep until the next batch is due (no busy polling)
            time.sleep(max(0.0, (sent + threshold) / rate - elapsed))
            continue
        count = min(batch_size, due)
        batch = []
        for _ in range(count):
            doc = payloads[seq % len(payloads)]
            batch.append(
                {
                    "channel": CHANNEL,
                    "name": "auth-event",
                    "data": orjson.dumps({**doc, "seq": seq, "sent_at": sentinel}).decode(),
                }
            )
            seq += 1
        template = orjson.dumps({"batch": batch})
        body = template.replace(_STAMP_SENTINEL, f"{time.time():.6f}".encode())
        params = sign_request(KEY, SECRET, "POST", path, body=body)
        conn.request("POST", f"{path}?{urlencode(params)}", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            failures += 1
        sent += count
    conn.close()
    result_q.put((sent, failures, time.monotonic() - start))


# ------------------------------------------------------------------------------------------ consumers
@dataclasses.dataclass
class Run:
    server: str
    client: str
    rate: int
    seconds: float
    sent: int = 0
    failures: int = 0
    received: int = 0
    lost: int = 0
    dropped: int = 0
    backlog_growth: int = 0
    high_water: int = 0
    handover_p99_ms: float = float("nan")
    handover_p50_ms: float = float("nan")
    #: trigger -> the websocket thread (producer, server, kernel, websocket read)
    arrival_p50_ms: float = float("nan")
    arrival_p99_ms: float = float("nan")
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    cpu_per_1k: float = float("nan")
    achieved_rate: float = 0.0
    reconnects: int = 0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_authviz(server, rate: int, seconds: float, batch: int) -> Run:
    from authviz.config import PusherSettings
    from authviz.live import LiveClient

    settings = PusherSettings.from_url(f"http://{KEY}:{SECRET}@127.0.0.1:{server.port}/apps/{APP_ID}")
    client = LiveClient(settings)
    sub = client.subscribe(CHANNEL, maxsize=100_000)
    assert sub.wait_subscribed(10), list(sub.errors)
    result = Run(server.name, "authviz", rate, seconds)
    latencies: list[float] = []
    handovers: list[float] = []
    arrivals: list[float] = []
    seen: set[int] = set()
    ctx = mp.get_context("spawn")
    go, q = ctx.Event(), ctx.Queue()
    producer = ctx.Process(target=_producer_process, args=(server.port, rate, seconds, batch, go, q), daemon=True)
    producer.start()
    time.sleep(1.5)  # producer start-up (imports) is not measured
    backlog_start = sub.stats.backlog
    cpu0, wall0 = time.process_time(), time.monotonic()
    go.set()
    produced = None
    last_event = time.monotonic()
    while True:
        event = sub.get(0.2)
        now = time.time()
        if event is not None:
            data = event.data
            latencies.append(now - data["sent_at"])
            handovers.append(now - event.received_at)
            arrivals.append(event.received_at - data["sent_at"])
            seen.add(data["seq"])
            last_event = time.monotonic()
            continue
        if produced is None and not q.empty():
            produced = q.get()
            backlog_end = sub.stats.backlog
            cpu1, wall1 = time.process_time(), time.monotonic()
        if produced is not None and (len(seen) >= produced[0] or time.monotonic() - last_event > 2.0):
            break
    if produced is None:  # pragma: no cover - producer died
        raise RuntimeError("the producer did not report")
    producer.join(10)
    stats = sub.stats
    client.close()
    result.sent, result.failures, elapsed = produced
    result.achieved_rate = result.sent / elapsed
    result.received = len(seen)
    result.lost = result.sent - len(seen)
    result.dropped = stats.dropped
    result.reconnects = stats.reconnects
    result.backlog_growth = backlog_end - backlog_start
    result.high_water = stats.high_water
    result.p50_ms = _percentile(latencies, 0.50) * 1000
    result.p99_ms = _percentile(latencies, 0.99) * 1000
    result.max_ms = max(latencies) * 1000 if latencies else float("nan")
    result.handover_p99_ms = _percentile(handovers, 0.99) * 1000
    result.handover_p50_ms = _percentile(handovers, 0.50) * 1000
    result.arrival_p50_ms = _percentile(arrivals, 0.50) * 1000
    result.arrival_p99_ms = _percentile(arrivals, 0.99) * 1000
    cpu = (cpu1 - cpu0) / (wall1 - wall0)
    result.cpu_per_1k = cpu / (result.achieved_rate / 1000)
    return result


def run_pysher(server, rate: int, seconds: float, batch: int) -> Run:
    """Bare pysher 1.0.8 for comparison: latency measured in its callback (websocket thread)."""
    import logging

    import pysher

    logging.getLogger("pysher").setLevel(logging.WARNING)
    client = pysher.Pusher(
        KEY, secret=SECRET, custom_host="127.0.0.1", port=server.port, secure=False, log_level=logging.WARNING
    )
    latencies: list[float] = []
    seen: set[int] = set()
    subscribed = threading.Event()

    def on_connect(_data):
        channel = client.subscribe(CHANNEL)
        channel.bind("auth-event", on_event)
        channel.bind("pusher_internal:subscription_succeeded", lambda _d: subscribed.set())

    def on_event(data):
        now = time.time()
        doc = orjson.loads(data)
        latencies.append(now - doc["sent_at"])
        seen.add(doc["seq"])

    client.connection.bind("pusher:connection_established", on_connect)
    client.connect()
    assert subscribed.wait(10)
    result = Run(server.name, "bare pysher", rate, seconds)
    ctx = mp.get_context("spawn")
    go, q = ctx.Event(), ctx.Queue()
    producer = ctx.Process(target=_producer_process, args=(server.port, rate, seconds, batch, go, q), daemon=True)
    producer.start()
    time.sleep(1.5)
    cpu0, wall0 = time.process_time(), time.monotonic()
    go.set()
    produced = q.get(timeout=seconds + 60)
    cpu1, wall1 = time.process_time(), time.monotonic()
    deadline = time.monotonic() + 3
    while len(seen) < produced[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    producer.join(10)
    client.disconnect(timeout=3)
    result.sent, result.failures, elapsed = produced
    result.achieved_rate = result.sent / elapsed
    result.received = len(seen)
    result.lost = result.sent - len(seen)
    result.p50_ms = _percentile(latencies, 0.50) * 1000
    result.p99_ms = _percentile(latencies, 0.99) * 1000
    result.max_ms = max(latencies) * 1000 if latencies else float("nan")
    result.cpu_per_1k = (cpu1 - cpu0) / (wall1 - wall0) / (result.achieved_rate / 1000)
    return result


def auth_event_decode_cost(n: int = 2000) -> float:
    """Microseconds to build an AuthEvent from an ``auth-event`` payload (lazy, consumer side)."""
    from authviz.live import LiveEvent

    payloads = _payloads(n)
    events = [LiveEvent(CHANNEL, "auth-event", p, "", 0.0) for p in payloads]
    start = time.perf_counter()
    for e in events:
        assert e.auth_event is not None
    return (time.perf_counter() - start) / n * 1e6


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", nargs="+", default=["hub", "soketi"], choices=["hub", "soketi"])
    parser.add_argument("--rates", nargs="+", type=int, default=[1000, 5000, 10000])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--baseline", action="store_true", help="also measure bare pysher")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"events per request (default {BATCH})")
    parser.add_argument(
        "--hub-send-buffer",
        type=int,
        default=8 << 20,
        metavar="BYTES",
        help="the hub drops a client whose unsent output exceeds this (hub default 1 MiB; "
        "8 MiB here so a CPU-starved moment on a shared machine is measured as "
        "latency, not as a disconnect)",
    )
    args = parser.parse_args(argv)
    print(
        f"# bench_live: {machine()}; {args.seconds:g} s per run, batches of {args.batch}, "
        f"hub send buffer {args.hub_send_buffer >> 20} MiB; "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    header = (
        "server",
        "client",
        "target/s",
        "achieved/s",
        "lost",
        "dropped",
        "reconnects",
        "backlog+",
        "high-water",
        "p50 ms",
        "p99 ms",
        "max ms",
        "hand-over p99 ms",
        "CPU/1k ev/s",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in args.servers:
        server = HubProcess(args.batch, args.hub_send_buffer) if name == "hub" else Soketi(args.batch)
        try:
            for rate in args.rates:
                runs = [run_authviz(server, rate, args.seconds, args.batch)]
                if args.baseline:
                    runs.append(run_pysher(server, rate, args.seconds, args.batch))
                for r in runs:
                    print(
                        f"| {r.server} | {r.client} | {r.rate:,} | {r.achieved_rate:,.0f} | {r.lost} | "
                        f"{r.dropped} | {r.reconnects} | {r.backlog_growth} | {r.high_water} | {r.p50_ms:.2f} | "
                        f"{r.p99_ms:.2f} | {r.max_ms:.1f} | {r.handover_p99_ms:.2f} | "
                        f"{r.cpu_per_1k * 100:.1f}% of a core |",
                        flush=True,
                    )
                    if r.client == "authviz":
                        print(
                            f"|   | where the time went: trigger -> websocket thread p50 {r.arrival_p50_ms:.2f} / "
                            f"p99 {r.arrival_p99_ms:.2f} ms; hand-over p50 {r.handover_p50_ms:.2f} / "
                            f"p99 {r.handover_p99_ms:.2f} ms |",
                            flush=True,
                        )
        finally:
            server.close()
    print(f"# load average at end {os.getloadavg()[0]:.1f}")
    print(f"AuthEvent from an auth-event payload (lazy, consumer thread): {auth_event_decode_cost():.1f} µs/event")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
