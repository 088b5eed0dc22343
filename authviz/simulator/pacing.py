"""Live pacing of simulated traffic: a population that fits the rate, and attacks a room can watch.

Two facts about simulated traffic played live (``authviz simulate``, ``authviz demo``):

- The generator's default population (500 users for 2,000 events a day: four events per person
  per day) is right for a month of history, but at a live rate of a few events per second the
  same 500 people would each log in, fail and receive MFA pushes hundreds of times a day, and the
  per-user detections would fire on ordinary traffic. :func:`users_for_rate` sizes the population
  so each person keeps a human rate.
- The attack scenarios follow a realistic timeline (a sign-up fraud run lasts about 20 minutes,
  a lockout spike about 25). Played live for people watching, :func:`compress_timeline` replays
  an attack's records within a short span, in the same order and proportions, so its detection
  fires within seconds of the start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

__all__ = ["EVENTS_PER_USER_PER_DAY", "MAX_LIVE_USERS", "LIVE_SCENARIO_SPAN", "users_for_rate", "compress_timeline"]

#: What one simulated person does in a day, as in the generator's defaults (2,000 events / 500 users).
EVENTS_PER_USER_PER_DAY = 4.0
#: The largest population :func:`users_for_rate` asks for (creating it takes a few seconds).
MAX_LIVE_USERS = 250_000
#: Seconds within which a live scenario plays by default.
LIVE_SCENARIO_SPAN = 20.0


def users_for_rate(rate_per_s: float, minimum: int = 500, events: int | None = None) -> int:
    """The population for ``rate_per_s`` events a second at a human rate per person (at least
    ``minimum``, at most :data:`MAX_LIVE_USERS`). ``events``: how many the run will produce, when
    known; a population larger than that changes nothing, so it is not created."""
    if not rate_per_s > 0:
        raise ValueError("the event rate must be positive")
    wanted = math.ceil(rate_per_s * 86_400 / EVENTS_PER_USER_PER_DAY)
    if events is not None:
        wanted = min(wanted, int(events))
    return int(min(MAX_LIVE_USERS, max(minimum, wanted)))


def _parse(date: str) -> datetime:
    return datetime.fromisoformat(date.replace("Z", "+00:00"))


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def compress_timeline(records: Sequence[dict], span: float | timedelta = LIVE_SCENARIO_SPAN) -> list[dict]:
    """Copies of ``records`` (one attack, Log Streaming shape) whose dates are squeezed so the
    attack lasts at most ``span``: the first record keeps its time, the others keep their order
    and relative spacing. Records already within ``span`` are returned unchanged (as copies).
    ``log_id`` keeps its value (its time prefix is not rewritten: ids are stable identities)."""
    span_s = span.total_seconds() if isinstance(span, timedelta) else float(span)
    if span_s < 0:
        raise ValueError("span must be >= 0")
    if not records:
        return []
    times = [_parse(r["data"]["date"]) for r in records]
    first, last = min(times), max(times)
    length = (last - first).total_seconds()
    factor = 1.0 if length <= span_s or length == 0 else span_s / length
    out = []
    for record, t in zip(records, times):
        new_t = first + timedelta(seconds=(t - first).total_seconds() * factor)
        new_t = new_t.replace(microsecond=(new_t.microsecond // 1000) * 1000)
        out.append({**record, "data": {**record["data"], "date": _iso(new_t)}})
    return out
