"""Seeded, pure generator of realistic Auth0 traffic, with injectable attacks and ground truth.

Quick use::

    from authviz.simulator import TrafficGenerator
    gen = TrafficGenerator(seed=7, start=datetime(2026, 11, 1, tzinfo=UTC), events_per_day=2000)
    records = list(gen.generate(n=1000))            # Log Streaming records, in date order
    attack = gen.scenario("credential-stuffing", at=datetime(2026, 11, 1, 12, tzinfo=UTC))
    records, truth = gen.attack("brute-force", at=datetime(2026, 11, 1, 13, tzinfo=UTC))
    month = month_of_traffic(seed=7, days=30)       # .records and .attacks (InjectedAttack list)
    month = month_of_traffic(seed=7, catalog=True)  # ... plus the attacks of Auth0's Sigma catalog

Everything is a pure function of the seed and the calls: no clock, no I/O. Records are Auth0 Log
Streaming records ``{"log_id", "data": {...}}``; use :func:`rule_payload`, :func:`action_event` or
:func:`management_api_entry` for the other shapes.

Stable API (others import it): :class:`TrafficGenerator` (``generate``, ``scenario``, ``attack``,
``month``), :data:`SCENARIOS` (:data:`BUILTIN_SCENARIOS` + :data:`CATALOG_SCENARIOS`),
:data:`CATALOG_RULE_IDS`, :class:`InjectedAttack`, :class:`SimulatedTraffic`,
:func:`rule_payload`, :func:`action_event`, :func:`management_api_entry`, :func:`month_of_traffic`.
"""

from datetime import datetime

from authviz.simulator.geo import ATTACK_NETWORKS, COUNTRIES, DEFAULT_COUNTRY_MIX, haversine_km
from authviz.simulator.catalog import CATALOG_RULE_IDS
from authviz.simulator.traffic import (
    BUILTIN_SCENARIOS,
    CATALOG_SCENARIOS,
    DEFAULT_EVENT_MIX,
    SCENARIOS,
    InjectedAttack,
    SimulatedTraffic,
    TrafficGenerator,
    action_event,
    default_attack_plan,
    management_api_entry,
    rule_payload,
)


def month_of_traffic(
    seed: int | str = 0,
    start: datetime | None = None,
    days: int = 30,
    events_per_day: float = 2000.0,
    users: int = 500,
    catalog: bool = False,
) -> SimulatedTraffic:
    """``days`` of seeded traffic with every built-in scenario injected, and with ``catalog`` every
    catalog attack too (see :func:`default_attack_plan`)."""
    return TrafficGenerator(seed=seed, start=start, events_per_day=events_per_day, users=users).month(
        days=days, catalog=catalog
    )


__all__ = [
    "ATTACK_NETWORKS",
    "BUILTIN_SCENARIOS",
    "CATALOG_RULE_IDS",
    "CATALOG_SCENARIOS",
    "COUNTRIES",
    "DEFAULT_COUNTRY_MIX",
    "DEFAULT_EVENT_MIX",
    "SCENARIOS",
    "InjectedAttack",
    "SimulatedTraffic",
    "TrafficGenerator",
    "action_event",
    "default_attack_plan",
    "haversine_km",
    "management_api_entry",
    "month_of_traffic",
    "rule_payload",
]
