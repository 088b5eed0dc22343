"""Impossible travel, incrementally: the SQL rule of :mod:`authviz.detections.sqlrules`, one login at a time.

The batch rule (:data:`~authviz.detections.sqlrules.IMPOSSIBLE_TRAVEL_SQL`) orders each user's
successful logins that have a place (latitude and longitude) by (time, event id) and flags a *hop*
between two consecutive ones more than 500 km apart that implies more than 1000 km/h (great
circle; no time between them: infinite speed). :class:`TravelState` keeps, per user, the last
logins and returns each hop as it happens, with the same arithmetic as the SQL (times in whole
milliseconds, ``epoch_ms``). No I/O, no clock.

Invariants (bounded memory): per user, only the logins newer than the newest login seen minus
``lateness`` and the one before them (at most ``max_per_user``); at most ``max_users`` users
(least recently seen dropped first, counted in ``evicted``). A login that arrives out of order is
put in its place and compared with both neighbours; a hop it splits was already reported.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["Hop", "TravelState", "MIN_DISTANCE_KM", "MIN_SPEED_KMH", "hop_km"]

#: the batch rule's thresholds (IMPOSSIBLE_TRAVEL_SQL: ``km > 500 AND (hours <= 0 OR km / hours > 1000)``)
MIN_DISTANCE_KM = 500.0
MIN_SPEED_KMH = 1000.0
_EARTH_KM = 6371.0088


def hop_km(lat0: float, lon0: float, lat: float, lon: float) -> float:
    """Great-circle distance as the SQL computes it (haversine, the same constants and clamping)."""
    if lat0 == lat and lon0 == lon:
        return 0.0
    a = (
        math.sin(math.radians(lat - lat0) / 2) ** 2
        + math.cos(math.radians(lat0)) * math.cos(math.radians(lat)) * math.sin(math.radians(lon - lon0) / 2) ** 2
    )
    return 2 * _EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class Hop:
    """Two consecutive logins of ``user`` too far apart for the time between them."""

    user: str
    first_ns: int
    last_ns: int
    event_ids: tuple[str, str]
    km: float


class TravelState:
    """Per-user last logins; :meth:`add` returns the hops a new login makes."""

    def __init__(self, *, max_users: int = 100_000, max_per_user: int = 64, lateness_ns: int = 0) -> None:
        if max_users < 1 or max_per_user < 2:
            raise ValueError("max_users must be >= 1 and max_per_user >= 2")
        self.max_users = int(max_users)
        self.max_per_user = int(max_per_user)
        self.lateness_ns = int(lateness_ns)
        #: user -> logins sorted by (t_ns, event_id): (t_ns, event_id, latitude, longitude)
        self._users: OrderedDict[str, tuple[tuple[int, str, float, float], ...]] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._users)

    def add(self, user: str, t_ns: int, event_id: str, latitude: float, longitude: float) -> list[Hop]:
        entry = (t_ns, event_id, float(latitude), float(longitude))
        kept = self._users.get(user)
        if kept is None:
            self._users[user] = (entry,)
            while len(self._users) > self.max_users:
                self._users.popitem(last=False)
                self.evicted += 1
            return []
        self._users.move_to_end(user)
        if entry > kept[-1]:
            logins = [*kept, entry]
            position = len(logins) - 1
        else:
            position = bisect.bisect_left(kept, entry)
            if position < len(kept) and kept[position][:2] == entry[:2]:
                return []  # the same login again
            logins = [*kept[:position], entry, *kept[position:]]
        hops = []
        if position > 0:
            hops.append(self._hop(user, logins[position - 1], entry))
        if position + 1 < len(logins):
            hops.append(self._hop(user, entry, logins[position + 1]))
        # keep the logins a late arrival may still fall between, and the one before them
        floor = logins[-1][0] - self.lateness_ns
        cut = max(bisect.bisect_left(logins, (floor,)) - 1, len(logins) - self.max_per_user, 0)
        # a tuple of tuples of atoms: the garbage collector stops tracking it
        self._users[user] = tuple(logins[cut:])
        return [hop for hop in hops if hop is not None]

    @staticmethod
    def _hop(user: str, before: tuple, after: tuple) -> Hop | None:
        km = hop_km(before[2], before[3], after[2], after[3])
        if km <= MIN_DISTANCE_KM:
            return None
        hours = (after[0] // 1_000_000 - before[0] // 1_000_000) / 3_600_000.0
        if hours > 0 and km / hours <= MIN_SPEED_KMH:
            return None
        return Hop(user, before[0], after[0], (before[1], after[1]), km)
