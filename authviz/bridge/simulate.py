"""``authviz simulate``: post simulated Auth0 traffic through the real log-stream webhook.

The generator (:class:`authviz.simulator.TrafficGenerator`) decides *what* happens; this module only
paces it on the wall clock and POSTs it as Auth0 would: JSON lines batches with the token in
``Authorization``, retrying a failed batch (idempotent by ``log_id``) like Auth0's log streams.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import aiohttp
import orjson

from authviz.errors import AuthvizError, UsageError

__all__ = ["SimulateOptions", "SimulateReport", "run_simulation", "simulated_records"]


@dataclass
class SimulateOptions:
    target: str
    token: str
    rate: float = 5.0
    duration: float | None = None
    count: int | None = None
    seed: int = 0
    scenarios: tuple[str, ...] = ()
    #: Seconds after the start at which the scenarios are injected.
    scenario_delay: float = 5.0
    batch_size: int = 100
    #: Longest a due record waits before its batch is sent (seconds).
    flush_interval: float = 0.5
    #: ``False`` posts as fast as the server answers (the timestamps still follow ``rate``).
    pace: bool = True
    retries: int = 3
    timeout: float = 10.0
    start: datetime | None = None
    progress: bool = True


@dataclass
class SimulateReport:
    posted: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    retried: int = 0


def _date(record: dict) -> datetime:
    return datetime.fromisoformat(record["data"]["date"].replace("Z", "+00:00"))


def simulated_records(options: SimulateOptions, start: datetime) -> Iterator[dict]:
    """Normal traffic merged with the requested scenarios, in date order."""
    from authviz.simulator import SCENARIOS, TrafficGenerator

    for name in options.scenarios:
        if name not in SCENARIOS:
            raise UsageError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}.")
    generator = TrafficGenerator(seed=options.seed, start=start, rate_per_s=options.rate)
    normal: Iterable[dict]
    if options.count is not None:
        normal = generator.generate(n=options.count)
    elif options.duration is not None:
        normal = generator.generate(duration=options.duration)
    else:
        normal = generator.generate()
    at = start + timedelta(seconds=options.scenario_delay)
    attacks: list[dict] = []
    for name in options.scenarios:
        attacks.extend(generator.scenario(name, at=at))
    attacks.sort(key=_date)
    merged = heapq.merge(normal, attacks, key=_date)
    if options.count is not None:
        return itertools.islice(merged, options.count + len(attacks))
    return iter(merged)


class _Poster:
    def __init__(self, options: SimulateOptions, session: aiohttp.ClientSession) -> None:
        self.options = options
        self.session = session
        self.report = SimulateReport()

    async def post(self, batch: list[dict]) -> None:
        body = b"\n".join(orjson.dumps(record) for record in batch) + b"\n"
        headers = {"Authorization": self.options.token, "Content-Type": "application/x-ndjson"}
        last_error = ""
        for attempt in range(self.options.retries + 1):
            if attempt:
                self.report.retried += 1
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))
            try:
                async with self.session.post(self.options.target, data=body, headers=headers) as response:
                    text = await response.text()
                    if response.status == 200:
                        result = orjson.loads(text)
                        self.report.posted += len(batch)
                        self.report.batches += 1
                        self.report.stored += int(result.get("stored") or 0)
                        self.report.duplicates += int(result.get("duplicates") or 0)
                        self.report.quarantined += int(result.get("quarantined") or 0)
                        return
                    if response.status == 401:
                        raise AuthvizError(
                            f"{self.options.target} refused the token (HTTP 401); pass the log-stream "
                            "token the server was started with (--token)."
                        )
                    if response.status in (400, 404, 405, 413):
                        raise AuthvizError(
                            f"{self.options.target} answered HTTP {response.status}: {text[:200]}"
                        )
                    last_error = f"HTTP {response.status}"
            except aiohttp.ClientConnectionError as error:
                last_error = f"cannot connect ({error.__class__.__name__})"
            except asyncio.TimeoutError:
                last_error = f"no answer within {self.options.timeout:g} s"
        raise AuthvizError(
            f"cannot post to {self.options.target}: {last_error} after {self.options.retries + 1} "
            "attempts; is `authviz serve` running there?"
        )


async def run_simulation(options: SimulateOptions) -> SimulateReport:
    """Generate, pace and post; returns what the server reported."""
    if options.rate <= 0:
        raise UsageError("--rate must be positive.")
    if options.count is not None and options.count < 0:
        raise UsageError("--count must be zero or more.")
    start = options.start or datetime.now(timezone.utc)
    records = simulated_records(options, start)
    wall_start = time.monotonic()
    progress = None
    if options.progress:
        from tqdm import tqdm

        progress = tqdm(total=None if options.scenarios else options.count, unit="event", file=sys.stderr, desc="simulate")
    timeout = aiohttp.ClientTimeout(total=options.timeout)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            poster = _Poster(options, session)
            batch: list[dict] = []
            batch_opened = time.monotonic()
            for record in records:
                if options.pace:
                    due = (_date(record) - start).total_seconds() - (time.monotonic() - wall_start)
                    if due > 0 and batch and time.monotonic() - batch_opened + due > options.flush_interval:
                        await poster.post(batch)
                        if progress is not None:
                            progress.update(len(batch))
                        batch = []
                    if due > 0:
                        await asyncio.sleep(due)
                if not batch:
                    batch_opened = time.monotonic()
                batch.append(record)
                if len(batch) >= options.batch_size:
                    await poster.post(batch)
                    if progress is not None:
                        progress.update(len(batch))
                    batch = []
            if batch:
                await poster.post(batch)
                if progress is not None:
                    progress.update(len(batch))
            return poster.report
    finally:
        if progress is not None:
            progress.close()
