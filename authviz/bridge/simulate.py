"""``authviz simulate``: post simulated Auth0 traffic through the real log-stream webhook.

The generator (:class:`authviz.simulator.TrafficGenerator`) decides *what* happens; this module only
paces it on the wall clock and POSTs it as Auth0 would: JSON lines batches with the token in
``Authorization``, retrying a failed batch (idempotent by ``log_id``) like Auth0's log streams.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import aiohttp

from authviz.bridgeclient import BridgeError, logs_body, logs_headers, read_logs_answer
from authviz.errors import AuthvizError, SettingError, UsageError

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
    #: Simulated people; ``None`` sizes the population to the rate so each keeps a human rate
    #: (:func:`authviz.simulator.pacing.users_for_rate`).
    users: int | None = None
    #: Each scenario plays within this many seconds when paced live (``None``: its own timeline,
    #: e.g. about 20 minutes for sign-up fraud), so its detection fires within seconds.
    scenario_span: float | None = 20.0


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
    return _planned_records(options, start)[0]


def _planned_records(options: SimulateOptions, start: datetime) -> tuple[Iterator[dict], dict[str, float]]:
    """:func:`simulated_records` and, per requested scenario, how many seconds after ``start``
    its last record is (the attacks follow their own timeline, whatever ``count`` and ``rate``)."""
    from authviz.simulator import SCENARIOS, TrafficGenerator
    from authviz.simulator.pacing import compress_timeline, users_for_rate

    for name in options.scenarios:
        if name not in SCENARIOS:
            raise UsageError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}.")
    expected = (
        options.count
        if options.count is not None
        else (math.ceil(options.rate * options.duration) if options.duration is not None else None)
    )
    users = options.users if options.users is not None else users_for_rate(options.rate, events=expected)
    generator = TrafficGenerator(seed=options.seed, start=start, rate_per_s=options.rate, users=users)
    normal: Iterable[dict]
    if options.count is not None:
        normal = generator.generate(n=options.count)
    elif options.duration is not None:
        normal = generator.generate(duration=options.duration)
    else:
        normal = generator.generate()
    at = start + timedelta(seconds=options.scenario_delay)
    attacks: list[dict] = []
    ends: dict[str, float] = {}
    for name in options.scenarios:
        records = generator.scenario(name, at=at)
        if options.scenario_span is not None:
            records = compress_timeline(records, options.scenario_span)
        attacks.extend(records)
        end = max((_date(r) - start).total_seconds() for r in records)
        ends[name] = max(end, ends.get(name, 0.0))
    attacks.sort(key=_date)
    merged = heapq.merge(normal, attacks, key=_date)
    if options.count is not None:
        return itertools.islice(merged, options.count + len(attacks)), ends
    return iter(merged), ends


def _span(seconds: float) -> str:
    """``1.5 s``, ``2 min 16 s``, ``1 h 5 min``: a duration for a person."""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def run_length_notice(options: SimulateOptions, ends: dict[str, float]) -> str | None:
    """One line saying how long a paced run with scenarios takes, when the attacks make it longer
    than the normal traffic asked for (``--count N --rate R`` is about N/R seconds), and why."""
    if not options.pace or not ends:
        return None
    if options.count is not None:
        normal = options.count / options.rate
    elif options.duration is not None:
        normal = float(options.duration)
    else:
        normal = None
    name, end = max(ends.items(), key=lambda item: item[1])
    if normal is not None and end <= normal:
        return None
    why = f"the {name} scenario follows its own timeline, its last record is due {_span(end)} after the start"
    if normal is None:
        return f"authviz simulate: {why}."
    return (
        f"authviz simulate: this run takes about {_span(end)} (the normal traffic alone would take "
        f"about {_span(normal)}): {why}; --no-pace posts everything at once."
    )


class _Poster:
    def __init__(self, options: SimulateOptions, session: aiohttp.ClientSession) -> None:
        self.options = options
        self.session = session
        self.report = SimulateReport()

    async def post(self, batch: list[dict]) -> None:
        """POST one batch as every caller posts log records (:mod:`authviz.bridgeclient`),
        retrying 5xx answers and network errors."""
        target = self.options.target
        body, headers = logs_body(batch), logs_headers(self.options.token)
        last_error = ""
        for attempt in range(self.options.retries + 1):
            if attempt:
                self.report.retried += 1
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))
            try:
                async with self.session.post(target, data=body, headers=headers) as response:
                    answer = await response.read()
                    try:
                        result = read_logs_answer(response.status, answer, target, target_setting="target")
                    except BridgeError as error:
                        if error.status is not None and error.status < 500:
                            raise
                        last_error = f"HTTP {response.status}"
                        continue
                    self.report.posted += len(batch)
                    self.report.batches += 1
                    self.report.stored += int(result.get("stored") or 0)
                    self.report.duplicates += int(result.get("duplicates") or 0)
                    self.report.quarantined += int(result.get("quarantined") or 0)
                    return
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
        raise SettingError("rate must be positive.", "rate")
    if options.count is not None and options.count < 0:
        raise SettingError("count must be zero or more.", "count")
    start = options.start or datetime.now(timezone.utc)
    records, ends = _planned_records(options, start)
    notice = run_length_notice(options, ends)
    if notice:
        print(notice, file=sys.stderr, flush=True)
    wall_start = time.monotonic()
    progress = None
    if options.progress:
        from tqdm import tqdm

        # disable=None: no bar when stderr is not a terminal (a pipe, a log file, CI)
        progress = tqdm(
            total=None if options.scenarios else options.count,
            unit="event",
            file=sys.stderr,
            desc="simulate",
            disable=None,
        )
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
