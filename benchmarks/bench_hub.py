"""Benchmark of the embedded hub: fan-out throughput, latency, CPU per delivery, idle memory.

    .venv/bin/python benchmarks/bench_hub.py [--seconds 10] [--clients 2] [--server hub|soketi]
                                             [--only 10x1000,100x300]

* The hub runs in its **own process** (this file with ``--hub``), on the event loop ``authviz
  serve`` uses (uvloop; ``AUTHVIZ_EVENT_LOOP=asyncio`` for the standard one), so its CPU time can be read from
  ``/proc/<pid>/stat`` (utime + stime) and a slow benchmark client cannot hide the hub's cost.
* Subscribers are spread over ``--clients`` client processes; each process runs a plain epoll
  loop over raw websocket sockets with a hand-rolled frame parser (the clients must cost less CPU
  than the hub on a 2-core machine: no JSON decoding per message, only the timestamp is read out
  of the payload).
* A publisher (this process) posts signed ``batch_events`` over one keep-alive HTTP/1.1
  connection at a fixed rate; every event
  carries ``"<seq> <time.monotonic()> <padding>"`` (CLOCK_MONOTONIC is system-wide on Linux, so
  latency is trigger-to-receive across processes). Batches hold up to 10 events and are sent at
  most every 10 ms.

``--server soketi`` measures soketi 1.6.1 (Node; ``make node`` installs it) with the same harness, so
the two servers can be compared in the same window of this VM, whose speed drifts over time.

Scenarios: the hub's RSS growth for 1000 idle (connected, one subscription each) connections on a
fresh hub, then 10 subscribers x 1000 events/s, 100 x 300/s, 1000 x 30/s. ``BENCH_HUB_PROFILE=FILE``
runs the hub under cProfile (numbers are then meaningless; the profile is not).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# The same credentials as the test suite's soketi (tests/live_support.py), so --server soketi works.
APP_ID, KEY, SECRET = "4242", "live-key", "live-secret"
ROOT = Path(__file__).resolve().parent.parent
PAYLOAD_PAD = "x" * 300
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the hub process ----------------------------------------------------------------------------


def hub_main(port_file: str) -> None:
    from aiohttp import web

    from authviz.hub import App, HubServer

    async def main() -> None:
        server = HubServer([App(APP_ID, KEY, SECRET, max_connections=0)])
        runner = web.AppRunner(server.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        gc.freeze()  # as `authviz serve` does
        Path(port_file).write_text(str(runner.addresses[0][1]))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()

    from authviz.hub.loop import run as run_event_loop  # uvloop, as `authviz serve` runs

    if os.environ.get("BENCH_HUB_PROFILE"):
        import cProfile

        cProfile.runctx("run_event_loop(main())", globals(), locals(), os.environ["BENCH_HUB_PROFILE"])
    else:
        run_event_loop(main())


def proc_cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of process ``pid`` (fields 14 and 15 of /proc/pid/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


# --- subscriber processes -----------------------------------------------------------------------


class Subscriber:
    """One websocket subscriber on a non-blocking socket, fed by the process's epoll loop."""

    __slots__ = ("sock", "buf")

    def __init__(self, port: int, channel: str, timeout: float = 10.0) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(
            f"GET /app/{KEY}?protocol=7&client=bench HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError("the hub closed during the handshake")
            buf += chunk
        if not buf.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(bytes(buf[:80]))
        del buf[: buf.index(b"\r\n\r\n") + 4]
        sub = json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}).encode()
        sock.sendall(_client_frame(sub))
        sock.setblocking(False)
        self.sock = sock
        self.buf = buf


def _client_frame(text: bytes) -> bytes:
    """A masked client text frame (mask key 0: valid framing, payload unchanged)."""
    n = len(text)
    if n < 126:
        header = bytes((0x81, 0x80 | n))
    else:
        header = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    return header + b"\x00\x00\x00\x00" + text


def client_main(conn) -> None:
    """A subscriber process: a plain epoll loop (cheaper per message than asyncio)."""
    import select

    ep = select.epoll()
    control = conn.fileno()
    ep.register(control, select.EPOLLIN)
    subs: dict[int, Subscriber] = {}
    received = 0
    subscribed = 0
    latencies: list[float] = []
    waiting = None  # (expected, deadline)
    connecting = None  # (n, deadline)
    monotonic = time.monotonic
    bench_prefix = b'{"event":"bench"'
    while True:
        for fd, _ in ep.poll(0.05):
            if fd == control:
                cmd, *args = conn.recv()
                if cmd == "connect":
                    port, n, channel = args
                    subscribed = 0
                    for i in range(n):
                        s = Subscriber(port, channel.replace("{i}", str(i)))
                        subs[s.sock.fileno()] = s
                        ep.register(s.sock.fileno(), select.EPOLLIN)
                    connecting = (n, monotonic() + 60)
                elif cmd == "reset":
                    received, latencies = 0, []
                    conn.send(True)
                elif cmd == "wait":
                    waiting = (args[0], monotonic() + args[1])
                elif cmd == "close":
                    for s in subs.values():
                        ep.unregister(s.sock.fileno())
                        s.sock.close()
                    subs.clear()
                    conn.send(True)
                elif cmd == "exit":
                    conn.send(True)
                    return
                continue
            s = subs.get(fd)
            if s is None:
                continue
            try:
                data = s.sock.recv(1 << 18)
            except BlockingIOError:
                continue
            if not data:
                ep.unregister(fd)
                del subs[fd]
                continue
            buf = s.buf
            buf += data
            pos, size = 0, len(buf)
            while size - pos >= 2:
                n = buf[pos + 1] & 0x7F
                head = 2
                if n == 126:
                    if size - pos < 4:
                        break
                    n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                    head = 4
                elif n == 127:
                    if size - pos < 10:
                        break
                    n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                    head = 10
                if size - pos < head + n:
                    break
                start = pos + head
                if buf[pos] & 0x0F == 1:
                    if buf.startswith(bench_prefix, start):
                        i = buf.find(b'"data":"', start)
                        parts = bytes(buf[i + 8 : i + 48]).split(b" ", 2)
                        latencies.append(monotonic() - float(parts[1]))
                        received += 1
                    elif buf.find(b"subscription_succeeded", start, start + n) >= 0:
                        subscribed += 1
                pos = start + n
            if pos:
                del buf[:pos]
        if connecting is not None and (subscribed >= connecting[0] or monotonic() > connecting[1]):
            conn.send(subscribed)
            connecting = None
        if waiting is not None and (received >= waiting[0] or monotonic() > waiting[1]):
            conn.send((received, latencies))
            waiting = None


# --- publisher ----------------------------------------------------------------------------------


def publish(port: int, channel: str, rate: int, seconds: float) -> int:
    """Post signed batch_events at ``rate`` events/s over one keep-alive HTTP/1.1 connection."""
    from authviz.pusher.signing import sign_request

    batch_size = min(10, max(1, rate // 100))
    interval = batch_size / rate
    path = f"/apps/{APP_ID}/batch_events"

    def connect():
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, sock.makefile("rb")

    sock, reader = connect()
    seq = 0
    total = int(rate * seconds)
    start = time.monotonic()
    k = 0
    try:
        while seq < total:
            delay = start + k * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            k += 1
            now = time.monotonic()
            batch = []
            for _ in range(min(batch_size, total - seq)):
                batch.append({"channel": channel, "name": "bench", "data": f"{seq} {now:.6f} {PAYLOAD_PAD}"})
                seq += 1
            body = json.dumps({"batch": batch}).encode()
            query = "&".join(f"{k_}={v}" for k_, v in sign_request(KEY, SECRET, "POST", path, {}, body).items())
            sock.sendall(
                f"POST {path}?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            status = reader.readline()
            length, close = 0, False
            while (line := reader.readline()) not in (b"\r\n", b""):
                lower = line.lower()
                if lower.startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif lower.startswith(b"connection:") and b"close" in lower:
                    close = True
            answer = reader.read(length)
            if b" 200 " not in status:
                raise RuntimeError(f"publisher got {status!r}: {answer!r}")
            if close:  # soketi answers every request with Connection: close; reconnect now,
                reader.close()  # outside the timed path (the next stamp is taken after this)
                sock.close()
                sock, reader = connect()
    finally:
        reader.close()
        sock.close()
    return seq


# --- orchestration ------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


SCENARIOS = ((10, 1000), (100, 300), (1000, 30))


class _Soketi:
    """soketi 1.6.1 under Node (installed by `make node`), as the test suite starts it."""

    def __init__(self) -> None:
        sys.path.insert(0, str(ROOT / "tests"))
        from live_support import SoketiServer

        self.server = SoketiServer(max_batch=100)
        self.pid = self.server.process.pid
        self.port = self.server.port

    def stop(self) -> None:
        self.server.close()


class _Hub:
    """The embedded hub in its own process (this file with ``--hub``)."""

    def __init__(self) -> None:
        self.port_file = Path(f"/tmp/authviz-bench-hub-{os.getpid()}.port")
        self.port_file.unlink(missing_ok=True)
        self.process = subprocess.Popen([sys.executable, __file__, "--hub", str(self.port_file)])
        self.pid = self.process.pid
        deadline = time.monotonic() + 30
        while not self.port_file.exists() or not self.port_file.read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("the hub did not start")
            time.sleep(0.05)
        self.port = int(self.port_file.read_text())

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.port_file.unlink(missing_ok=True)


def run(seconds: float, n_clients: int, scenarios=SCENARIOS, server_name: str = "hub") -> dict:
    server = _Soketi() if server_name == "soketi" else _Hub()

    port = server.port
    try:
        ctx = mp.get_context("spawn")
        pipes, procs = [], []
        for _ in range(n_clients):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=client_main, args=(child,), daemon=True)
            p.start()
            pipes.append(parent)
            procs.append(p)

        def ask_all(*msg):
            for pipe in pipes:
                pipe.send(msg)
            return [pipe.recv() for pipe in pipes]

        results = {"scenarios": []}
        # Idle connections first, on the fresh hub (later runs would leave freed memory to
        # reuse): each connected and subscribed to its own channel, after a small warm-up.
        for pipe in pipes:
            pipe.send(("connect", port, 5, "warm-{i}"))
        assert [pipe.recv() for pipe in pipes] == [5] * n_clients
        ask_all("close")
        time.sleep(1.0)
        rss0 = proc_rss_bytes(server.pid)
        idle = 1000
        shares = [idle // n_clients + (1 if i < idle % n_clients else 0) for i in range(n_clients)]
        for pipe, share in zip(pipes, shares):
            pipe.send(("connect", port, share, "idle-{i}"))
        assert [pipe.recv() for pipe in pipes] == shares
        time.sleep(1.0)
        rss1 = proc_rss_bytes(server.pid)
        results["idle"] = {
            "connections": idle,
            "rss_before_mb": round(rss0 / 2**20, 1),
            "rss_after_mb": round(rss1 / 2**20, 1),
            "kb_per_connection": round((rss1 - rss0) / idle / 1024, 1),
        }
        print(json.dumps(results["idle"]), flush=True)
        ask_all("close")
        for subs, rate in scenarios:
            channel = f"bench-{subs}"
            shares = [subs // n_clients + (1 if i < subs % n_clients else 0) for i in range(n_clients)]
            for pipe, share in zip(pipes, shares):
                pipe.send(("connect", port, share, channel))
            got = [pipe.recv() for pipe in pipes]
            assert got == shares, f"only {got} of {shares} subscribed"
            time.sleep(0.5)
            ask_all("reset")
            cpu0, wall0 = proc_cpu_seconds(server.pid), time.monotonic()
            sent = publish(port, channel, rate, seconds)
            for pipe, share in zip(pipes, shares):
                pipe.send(("wait", sent * share, 5.0))
            collected = [pipe.recv() for pipe in pipes]
            wall = time.monotonic() - wall0
            user1, sys1 = proc_cpu_seconds(server.pid)
            cpu = user1 + sys1 - sum(cpu0)
            received = sum(c[0] for c in collected)
            latencies = sorted(x for c in collected for x in c[1])
            expected = sent * subs
            row = {
                "subscribers": subs,
                "events_per_s": rate,
                "seconds": seconds,
                "events_sent": sent,
                "deliveries_expected": expected,
                "deliveries": received,
                "lost": expected - received,
                "delivered_per_s": round(received / seconds),
                "latency_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
                "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
                "latency_max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
                "hub_cpu_s": round(cpu, 2),
                "hub_cpu_us_per_delivery": round(cpu / max(received, 1) * 1e6, 2),
                "hub_cpu_share": round(cpu / wall, 3),
                "hub_system_share_of_cpu": round((sys1 - cpu0[1]) / max(cpu, 1e-9), 2),
            }
            results["scenarios"].append(row)
            print(json.dumps(row), flush=True)
            ask_all("close")
        ask_all("exit")
        for p in procs:
            p.join(5)
        return results
    finally:
        server.stop()


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--hub":
        hub_main(sys.argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time per scenario")
    parser.add_argument("--clients", type=int, default=2, help="subscriber processes")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--server",
        choices=["hub", "soketi"],
        default="hub",
        help="the server measured: the embedded hub, or soketi for comparison",
    )
    parser.add_argument("--only", default=None, help="run only these scenarios, e.g. 10x1000,100x300")
    args = parser.parse_args()
    scenarios = SCENARIOS
    if args.only:
        scenarios = tuple(tuple(int(x) for x in item.split("x")) for item in args.only.split(","))
    print(f"# bench_hub --server {args.server} {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}")
    results = run(args.seconds, args.clients, scenarios, args.server)
    results["server"] = args.server
    results["machine"] = machine()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    print(
        "\n| subscribers x events/s | delivered/s | lost | p50 ms | p99 ms | server CPU us/delivery | of which kernel |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results["scenarios"]:
        print(
            f"| {r['subscribers']} x {r['events_per_s']} | {r['delivered_per_s']} | {r['lost']} "
            f"| {r['latency_p50_ms']} | {r['latency_p99_ms']} | {r['hub_cpu_us_per_delivery']} "
            f"| {r['hub_system_share_of_cpu']:.0%} |"
        )
    idle = results["idle"]
    print(
        f"\nidle: {idle['kb_per_connection']} KB per connection "
        f"({idle['connections']} connections, RSS {idle['rss_before_mb']} -> "
        f"{idle['rss_after_mb']} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
