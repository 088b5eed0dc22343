"""What the connection guard (read timeouts, connection caps: ``authviz.hub.guard``) costs.

The same tiny aiohttp application is served twice in one process, alternately, on loopback:
plain (``web.Application`` + ``web.TCPSite``, the code before issue #11) and guarded
(``guarded_application`` + ``GuardedSite``). A client process-free load: ``CONCURRENCY`` aiohttp
keep-alive clients and ``NEW_CONNECTIONS`` fresh connections each doing GET requests. Prints
requests per second for each, interleaved over ``ROUNDS`` rounds, and the median ratio.

    .venv/bin/python benchmarks/bench_guard.py
"""

from __future__ import annotations

import asyncio
import statistics
import time

import aiohttp
from aiohttp import web

from authviz.hub.guard import ConnectionGuard, GuardedSite, ServerLimits, guarded_application

ROUNDS = 5
REQUESTS = 3000
CONCURRENCY = 20


async def _hello(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _serve(guarded: bool) -> tuple[web.AppRunner, int]:
    if guarded:
        guard = ConnectionGuard(ServerLimits())
        app = guarded_application(guard)
    else:
        app = web.Application()
    app.router.add_get("/", _hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, guard=guard) if guarded else web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def _load(port: int, keep_alive: bool) -> float:
    url = f"http://127.0.0.1:{port}/"
    per_worker = REQUESTS // CONCURRENCY

    async def worker() -> None:
        connector = aiohttp.TCPConnector(force_close=not keep_alive, limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(per_worker):
                async with session.get(url) as response:
                    await response.read()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return per_worker * CONCURRENCY / (time.perf_counter() - start)


async def main() -> None:
    results: dict[tuple[str, bool], list[float]] = {}
    for _ in range(ROUNDS):
        for guarded in (False, True):
            runner, port = await _serve(guarded)
            try:
                for keep_alive in (True, False):
                    rate = await _load(port, keep_alive)
                    results.setdefault(("guarded" if guarded else "plain", keep_alive), []).append(rate)
            finally:
                await runner.cleanup()
    for keep_alive in (True, False):
        plain = statistics.median(results[("plain", keep_alive)])
        guarded = statistics.median(results[("guarded", keep_alive)])
        kind = "keep-alive" if keep_alive else "new connection per request"
        print(f"{kind:28s} plain {plain:8.0f} req/s   guarded {guarded:8.0f} req/s   ratio {guarded / plain:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
