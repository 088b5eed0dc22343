"""The seeded traffic generator: realistic Auth0 Log Streaming records, no I/O.

Invariants:
- Pure and deterministic: the same constructor arguments and the same sequence of calls give the
  same records, byte for byte (one :class:`random.Random` per generator, one per scenario, seeded
  from strings, never from the clock).
- :meth:`TrafficGenerator.generate` yields records in non-decreasing ``data.date`` order and
  continues where the previous call stopped (the generator owns a clock). Interleaving two live
  iterators of one generator is not supported.
- Normal traffic never contains an attack: users move between cities only at speeds below
  :data:`MAX_TRAVEL_SPEED_KMH`, no breached-password events, no refresh-token reuse; the per-user
  and per-IP rates stay far below the detection thresholds at the default volume (2,000 events/day
  for 500 users). Attacks come only from :meth:`TrafficGenerator.scenario`.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from authviz.simulator import catalog
from authviz.simulator.geo import (
    ATTACK_NETWORKS,
    COUNTRIES,
    COUNTRY_BY_CODE,
    DEFAULT_COUNTRY_MIX,
    City,
    Country,
    haversine_km,
)

#: Relative weights of the event types in normal traffic (log-ins >> sign-ups; ~10 % failures).
DEFAULT_EVENT_MIX: dict[str, float] = {
    "s": 46.0,  # successful login
    "seacft": 14.0,  # authorization code exchanged for a token (follows a login)
    "sertft": 5.0,  # refresh token exchanged
    "ssa": 5.0,  # successful silent auth
    "fsa": 6.0,  # failed silent auth (login required): common, not a login failure
    "slo": 9.0,  # logout
    "fp": 4.0,  # wrong password
    "fu": 1.5,  # unknown username
    "f": 0.6,  # other login failure
    "ss": 3.0,  # sign-up (creates a new user)
    "fs": 0.4,  # failed sign-up
    "scp": 0.6,  # password changed
    "scpr": 0.9,  # password change requested
    "fcp": 0.1,  # password change failed
    "gd_send_pn": 1.5,  # MFA push sent (MFA users only)
    "ferrt": 0.2,  # refresh-token exchange failed for an ordinary reason (not reuse)
    "limit_wc": 0.05,  # an IP blocked for one account (rare in normal traffic)
}

#: Travellers in normal traffic never imply a speed above this (the detection threshold is 1,000).
MAX_TRAVEL_SPEED_KMH = 700.0
DEFAULT_USERS = 500
DEFAULT_EVENTS_PER_DAY = 2000.0
DIURNAL_AMPLITUDE = 0.6  # activity at local 14:00 is (1+A)/(1-A) = 4x that at 02:00
DIURNAL_PEAK_HOUR = 14.0

_FIRST = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "nina",
    "oscar",
    "peggy",
    "quinn",
    "rupert",
    "sybil",
    "trent",
    "ursula",
    "victor",
    "wendy",
    "xavier",
    "yara",
    "zoe",
    "amir",
    "bea",
    "chen",
    "divya",
    "emeka",
    "farah",
    "goro",
    "hana",
    "ines",
    "jonas",
    "kofi",
    "lena",
    "mateo",
    "noor",
    "olga",
    "priya",
)
_LAST = (
    "smith",
    "jones",
    "garcia",
    "muller",
    "martin",
    "rossi",
    "silva",
    "kim",
    "tanaka",
    "singh",
    "nguyen",
    "kowalski",
    "johansson",
    "dubois",
    "ozturk",
    "mensah",
    "lopez",
    "brown",
    "wang",
    "ivanova",
    "haddad",
    "novak",
    "costa",
    "sato",
    "patel",
    "jensen",
    "okafor",
    "reyes",
)
_DOMAINS = ("example.com", "example.org", "example.net")

_DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
)
_MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
)
_ATTACK_UA = "python-requests/2.32.3"


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    mobile: bool


@dataclass(frozen=True)
class Auth0Connection:
    """An Auth0 connection: where users sign in (a database, a social or enterprise provider)."""

    name: str
    connection_id: str
    strategy: str
    strategy_type: str


CLIENTS: tuple[Client, ...] = (
    Client("aI61p8I8aFjmYRliLWgvM9ev97kCCNDB", "Acme Web", False),
    Client("360yuN1BXP4u3tBChK5VOgekgGJ7CwLL", "Acme Mobile", True),
    Client("7RyK6txXYPZTQGOAwwln6Eoie0gVZ2cu", "Acme Admin Console", False),
)
CONNECTIONS: tuple[Auth0Connection, ...] = (
    Auth0Connection("Username-Password-Authentication", "con_BvGURiLLdngYaT0D", "auth0", "database"),
    Auth0Connection("google-oauth2", "con_H5LL8aMFnXVZ2TS8", "google-oauth2", "social"),
    Auth0Connection("apple", "con_nD3XkfFNuYUPnmbp", "apple", "social"),
)
_DB = CONNECTIONS[0]


@dataclass
class SimUser:
    """One simulated person. ``home`` never changes; ``location`` follows plausible trips."""

    user_id: str
    email: str
    connection: Auth0Connection
    client: Client
    home: tuple[Country, City]
    ip: str
    user_agent: str
    traveller: bool
    mfa: bool
    location: tuple[Country, City] = field(default=None)  # type: ignore[assignment]
    home_ip: str = ""
    last_login: datetime | None = None

    def __post_init__(self) -> None:
        if self.location is None:
            self.location = self.home
        self.home_ip = self.home_ip or self.ip


@dataclass(frozen=True)
class InjectedAttack:
    """Ground truth for one injected attack.

    ``kind`` is the scenario name (``"brute-force"``...), ``detection`` the name
    :func:`authviz.analytics.run_detections` reports for it (``""`` for the catalog's attacks the
    built-in detections do not cover), ``key`` the value it groups by (a user name, an IP, a user id,
    or the tenant for tenant-wide detections), ``start``/``end`` the first and last injected record
    times, ``log_ids`` every injected record, ``severity`` what the built-in detection reports (the
    catalog rule's level when there is none), ``rule_ids`` the Sigma ids of Auth0's catalog rules
    whose detection matches the injected records (see :mod:`authviz.simulator.catalog`).
    """

    kind: str
    detection: str
    key: str
    start: datetime
    end: datetime
    log_ids: tuple[str, ...]
    severity: str = ""
    rule_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SimulatedTraffic:
    """A stretch of traffic with attacks mixed in (records in date order) and the ground truth."""

    records: list[dict]
    attacks: list[InjectedAttack]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _ms(t: datetime) -> datetime:
    return t.replace(microsecond=(t.microsecond // 1000) * 1000)


class TrafficGenerator:
    """Seeded generator of Auth0 Log Streaming records ``{"log_id", "data": {...}}``.

    Parameters: ``seed`` (any int/str), ``start`` (aware or naive-UTC datetime; default
    2026-11-01T00:00Z), either ``rate_per_s`` or ``events_per_day`` (mean volume; default 2,000 a
    day), ``countries`` (ISO alpha-2 -> weight; default :data:`DEFAULT_COUNTRY_MIX`), ``users``
    (initial population; sign-ups add more), ``diurnal`` (activity follows each user's local hour),
    ``tenant``/``hostname``, ``event_mix`` (type -> weight, see :data:`DEFAULT_EVENT_MIX`),
    ``traveller_share`` (users who take plausible trips), ``mfa_share``, ``mobile_share``.
    """

    def __init__(
        self,
        seed: int | str = 0,
        start: datetime | None = None,
        *,
        rate_per_s: float | None = None,
        events_per_day: float | None = None,
        countries: Mapping[str, float] | None = None,
        users: int = DEFAULT_USERS,
        diurnal: bool = True,
        tenant: str = "acme-prod",
        hostname: str = "acme-prod.eu.auth0.com",
        event_mix: Mapping[str, float] | None = None,
        traveller_share: float = 0.05,
        mfa_share: float = 0.3,
        mobile_share: float = 0.3,
    ) -> None:
        if rate_per_s is not None and events_per_day is not None:
            raise ValueError("give rate_per_s or events_per_day, not both")
        rate = rate_per_s if rate_per_s is not None else (events_per_day or DEFAULT_EVENTS_PER_DAY) / 86400.0
        if not rate > 0:
            raise ValueError("the event rate must be positive")
        if users < 1:
            raise ValueError("users must be at least 1")
        mix = dict(countries or DEFAULT_COUNTRY_MIX)
        unknown = sorted(set(mix) - set(COUNTRY_BY_CODE))
        if unknown:
            raise ValueError(f"unknown country codes {unknown}; known: {sorted(COUNTRY_BY_CODE)}")
        self.seed = seed
        self.start = _ms(
            (start or datetime(2026, 11, 1, tzinfo=UTC)).replace(
                tzinfo=(start.tzinfo if start and start.tzinfo else UTC)
            )
        )
        self.rate_per_s = float(rate)
        self.diurnal = diurnal
        self.tenant = tenant
        self.hostname = hostname
        self.traveller_share = traveller_share
        self.mfa_share = mfa_share
        self.mobile_share = mobile_share
        self._countries = [COUNTRY_BY_CODE[c] for c in mix]
        self._country_weights = [float(w) for w in mix.values()]
        event_mix = dict(event_mix or DEFAULT_EVENT_MIX)
        self._types = list(event_mix)
        self._type_cum = _cumulative(list(event_mix.values()))
        self._rng = random.Random(f"authviz-sim:{seed}")
        self._clock = self.start
        self._pending: list[tuple[datetime, int, dict]] = []
        self._seq = 0
        self._emails: set[str] = set()
        self.users: list[SimUser] = [self._new_user(self._rng) for _ in range(users)]
        # Tenant members (Dashboard admins, all owners), from their own stream: adding them changes no
        # record of the normal traffic.
        admins = random.Random(f"authviz-admins:{seed}")
        self.admins: list[dict[str, str]] = []
        for first in admins.sample(_FIRST, 3):
            last = admins.choice(_LAST)
            self.admins.append(
                {
                    "email": f"{first}.{last}@{_DOMAINS[0]}",
                    "name": f"{first.capitalize()} {last.capitalize()}",
                    "user_id": f"google-oauth2|{admins.getrandbits(70) % 10**21:021d}",
                }
            )

    # ---------------------------------------------------------------- population
    def _new_user(self, rng: random.Random, country: Country | None = None) -> SimUser:
        country = country or rng.choices(self._countries, self._country_weights)[0]
        city = rng.choice(country.cities)
        while True:  # e-mail addresses (the analytics' user key) are unique in the population
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first}.{last}{rng.randrange(1, 1000)}@{rng.choice(_DOMAINS)}"
            if email not in self._emails:
                self._emails.add(email)
                break
        connection = rng.choices(CONNECTIONS, (0.7, 0.2, 0.1))[0]
        if connection.strategy == "auth0":
            user_id = f"auth0|{rng.getrandbits(96):024x}"
        else:
            user_id = f"{connection.strategy}|{rng.getrandbits(70) % 10**21:021d}"
        mobile = rng.random() < self.mobile_share
        client = CLIENTS[1] if mobile else (CLIENTS[2] if rng.random() < 0.05 else CLIENTS[0])
        return SimUser(
            user_id=user_id,
            email=email,
            connection=connection,
            client=client,
            home=(country, city),
            ip=_plausible_ip(rng, country),
            user_agent=rng.choice(_MOBILE_UA if mobile else _DESKTOP_UA),
            traveller=rng.random() < self.traveller_share,
            mfa=rng.random() < self.mfa_share,
        )

    # ---------------------------------------------------------------- records
    def _record(
        self,
        rng: random.Random,
        t: datetime,
        type_: str,
        description: str,
        *,
        user_id: str | None,
        user_name: str | None,
        ip: str,
        where: tuple[Country, City],
        client: Client,
        connection: Auth0Connection | None,
        user_agent: str,
    ) -> dict:
        country, city = where
        log_id = "900" + t.strftime("%Y%m%d%H%M%S") + f"{t.microsecond // 1000:03d}{rng.getrandbits(120) % 10**36:036d}"
        data: dict = {
            "date": _iso(t),
            "type": type_,
            "description": description,
            "log_id": log_id,
            "tenant_name": self.tenant,
            "client_id": client.client_id,
            "client_name": client.name,
        }
        if connection is not None:
            data.update(
                connection=connection.name,
                connection_id=connection.connection_id,
                strategy=connection.strategy,
                strategy_type=connection.strategy_type,
            )
        data.update(ip=ip, user_agent=user_agent)
        if user_id is not None:
            data["user_id"] = user_id
        if user_name is not None:
            data["user_name"] = user_name
        data.update(
            is_mobile=client.mobile,
            hostname=self.hostname,
            location_info={
                "country_code": country.code,
                "country_code3": country.code3,
                "country_name": country.name,
                "city_name": city.name,
                "latitude": city.latitude,
                "longitude": city.longitude,
                "time_zone": city.time_zone,
                "continent_code": country.continent,
            },
        )
        return {"log_id": log_id, "data": data}

    def _admin_record(
        self,
        rng: random.Random,
        t: datetime,
        description: str,
        admin: Mapping[str, str],
        *,
        ip: str,
        user_agent: str,
        jti: str,
        method: str,
        path: str,
        body: object,
        status: int,
        response: object,
    ) -> dict:
        """A Management API log record (``sapi``) for a change a tenant member made in the Dashboard."""
        log_id = "900" + t.strftime("%Y%m%d%H%M%S") + f"{t.microsecond // 1000:03d}{rng.getrandbits(120) % 10**36:036d}"
        data = {
            "date": _iso(t),
            "type": "sapi",
            "description": description,
            "log_id": log_id,
            "tenant_name": self.tenant,
            "client_id": catalog.DASHBOARD_CLIENT_ID,
            "client_name": "",
            "ip": ip,
            "user_agent": user_agent,
            "user_id": admin["user_id"],
            "hostname": self.hostname,
            "details": catalog.management_details(
                admin=admin,
                jti=jti,
                ip=ip,
                user_agent=user_agent,
                method=method,
                path=path,
                body=body,
                status=status,
                response=response,
            ),
        }
        return {"log_id": log_id, "data": data}

    def _user_record(
        self,
        rng: random.Random,
        t: datetime,
        type_: str,
        description: str,
        user: SimUser,
        *,
        connection: bool = True,
        user_name: str | None = None,
        with_id: bool = True,
        ip: str | None = None,
        where: tuple[Country, City] | None = None,
        user_agent: str | None = None,
    ) -> dict:
        return self._record(
            rng,
            t,
            type_,
            description,
            user_id=user.user_id if with_id else None,
            user_name=user_name or user.email,
            ip=ip or user.ip,
            where=where or user.location,
            client=user.client,
            connection=user.connection if connection else None,
            user_agent=user_agent or user.user_agent,
        )

    def _maybe_travel(self, rng: random.Random, user: SimUser, t: datetime) -> None:
        """Move a traveller, only at an implied speed below MAX_TRAVEL_SPEED_KMH (or back home)."""
        if not user.traveller or user.last_login is None or rng.random() > 0.15:
            return
        if user.location != user.home and rng.random() < 0.5:
            target = user.home
        else:
            country = rng.choices(self._countries, self._country_weights)[0]
            target = (country, rng.choice(country.cities))
        km = haversine_km(
            user.location[1].latitude, user.location[1].longitude, target[1].latitude, target[1].longitude
        )
        hours = (t - user.last_login).total_seconds() / 3600.0
        if km <= hours * MAX_TRAVEL_SPEED_KMH:
            user.location = target
            user.ip = user.home_ip if target == user.home else _plausible_ip(rng, target[0])

    def _normal(self, rng: random.Random, t: datetime, type_: str, user: SimUser) -> list[tuple[datetime, dict]]:
        """Records for one normal occurrence of ``type_`` (follow-ups carry later times)."""
        later = lambda seconds: _ms(t + timedelta(seconds=seconds))  # noqa: E731
        if type_ == "ss":
            new = self._new_user(rng)
            new.connection = _DB
            new.user_id = f"auth0|{rng.getrandbits(96):024x}"
            self.users.append(new)
            new.last_login = later(2)
            return [
                (t, self._user_record(rng, t, "ss", "", new)),
                (later(2), self._user_record(rng, later(2), "s", "Successful login", new)),
                (
                    later(3),
                    self._user_record(
                        rng, later(3), "seacft", "Authorization Code for Access Token", new, connection=False
                    ),
                ),
            ]
        if type_ in ("fp", "fu", "fs", "scp", "scpr", "fcp") and user.connection is not _DB:
            type_ = "s"  # social users have no password: they just log in
        if type_ == "gd_send_pn" and not user.mfa:
            type_ = "s"
        if type_ == "s":
            self._maybe_travel(rng, user, t)
            user.last_login = t
            out = [(t, self._user_record(rng, t, "s", "Successful login", user))]
            if user.mfa and rng.random() < 0.3:
                out.insert(0, (t, self._user_record(rng, t, "gd_send_pn", catalog.PUSH_SENT, user)))
            return out
        if type_ == "fp":
            return [(t, self._user_record(rng, t, "fp", "Wrong email or password.", user))]
        if type_ == "fu":
            local, domain = user.email.split("@")
            typo = local[:-1] + rng.choice("abcdefghijklmnopqrstuvwxyz") + "@" + domain
            return [
                (t, self._user_record(rng, t, "fu", "Wrong email or password.", user, user_name=typo, with_id=False))
            ]
        if type_ == "f":
            reason = rng.choice(
                (
                    "Callback URL mismatch. https://app.example.com/callback is not in the list of allowed callback URLs",
                    "the connection is not enabled",
                    "Invalid state",
                )
            )
            return [(t, self._user_record(rng, t, "f", reason, user))]
        if type_ == "fs":
            return [(t, self._user_record(rng, t, "fs", "The user already exists.", user, with_id=False))]
        descriptions = {
            "seacft": "Authorization Code for Access Token",
            "sertft": "Refresh Token for Access Token",
            "ssa": "Successful silent authentication",
            "fsa": "Login required",
            "slo": "User successfully logged out",
            "scp": "Password changed",
            "scpr": "Change password request",
            "fcp": "Password change failed: invalid ticket",
            "gd_send_pn": catalog.PUSH_SENT,
            "ferrt": "Unsuccessful Refresh Token exchange, invalid refresh token",
            "limit_wc": f"User ({user.email}) attempted 10 consecutive logins unsuccessfully. Brute force protection is enabled for this connection, further attempts are blocked from this IP address for this user.",
        }
        no_connection = type_ in ("seacft", "sertft", "ferrt")
        return [(t, self._user_record(rng, t, type_, descriptions.get(type_, ""), user, connection=not no_connection))]

    # ---------------------------------------------------------------- public API
    def generate(self, n: int | None = None, duration: timedelta | float | None = None) -> Iterator[dict]:
        """Yield normal traffic in date order: ``n`` records, or everything within ``duration``
        (a timedelta or seconds) from the current clock, or forever if neither is given."""
        if n is not None and n < 0:
            raise ValueError("n must be >= 0")
        if isinstance(duration, (int, float)):
            duration = timedelta(seconds=duration)
        end = self._clock + duration if duration is not None else None
        rng = self._rng
        amplitude = DIURNAL_AMPLITUDE if self.diurnal else 0.0
        candidate_rate = self.rate_per_s * (1.0 + amplitude)
        produced = 0
        while n is None or produced < n:
            t = self._clock + timedelta(seconds=rng.expovariate(candidate_rate))
            while self._pending and self._pending[0][0] <= t and (end is None or self._pending[0][0] <= end):
                if n is not None and produced >= n:
                    return
                yield heapq.heappop(self._pending)[2]
                produced += 1
            if n is not None and produced >= n:
                return
            if end is not None and t > end:
                self._clock = end
                while self._pending and self._pending[0][0] <= end:
                    yield heapq.heappop(self._pending)[2]
                return
            self._clock = t
            user = rng.choice(self.users)
            if amplitude:
                local_hour = (t.hour + t.minute / 60.0 + user.location[1].utc_offset) % 24.0
                activity = 1.0 + amplitude * math.cos(2 * math.pi * (local_hour - DIURNAL_PEAK_HOUR) / 24.0)
                if rng.random() * (1.0 + amplitude) > activity:
                    continue
            type_ = self._types[_pick(self._type_cum, rng.random())]
            for when, record in self._normal(rng, _ms(t), type_, user):
                self._seq += 1
                heapq.heappush(self._pending, (when, self._seq, record))

    def scenario(self, name: str, at: datetime, **options: object) -> list[dict]:
        """Records of one injected attack starting at ``at`` (see :data:`SCENARIOS`)."""
        return self.attack(name, at, **options)[0]

    def attack(self, name: str, at: datetime, **options: object) -> tuple[list[dict], InjectedAttack]:
        """Records of one injected attack and its ground truth. Does not touch the normal stream."""
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        at = _ms(at if at.tzinfo else at.replace(tzinfo=UTC))
        rng = random.Random(f"authviz-scenario:{self.seed}:{name}:{at.isoformat()}:{sorted(options.items())}")
        records, detection, key, severity, *rules = getattr(self, "_scn_" + name.replace("-", "_"))(rng, at, **options)
        times = [datetime.fromisoformat(r["data"]["date"].replace("Z", "+00:00")) for r in records]
        return records, InjectedAttack(
            name,
            detection,
            key,
            min(times),
            max(times),
            tuple(r["log_id"] for r in records),
            severity,
            tuple(rules[0]) if rules else (),
        )

    def month(
        self, days: int = 30, attacks: list[tuple[str, timedelta]] | None = None, catalog: bool = False
    ) -> SimulatedTraffic:
        """``days`` of normal traffic from the current clock with attacks mixed in.

        ``attacks`` is a list of (scenario name, offset from the start[, options]); by default every
        built-in scenario once (brute force and credential stuffing also once without a success),
        spread over the period at seeded hours, and with ``catalog`` also every catalog attack
        (see :func:`default_attack_plan`).
        """
        origin = self._clock
        if attacks is None:
            attacks = default_attack_plan(self.seed, days, catalog=catalog)
        normal = list(self.generate(duration=timedelta(days=days)))
        injected: list[InjectedAttack] = []
        extra: list[dict] = []
        for spec in attacks:
            name, offset, *rest = spec
            opts = rest[0] if rest else {}
            records, truth = self.attack(name, origin + offset, **opts)
            extra.extend(records)
            injected.append(truth)
        records = sorted(normal + extra, key=lambda r: (r["data"]["date"], r["log_id"]))
        return SimulatedTraffic(records, injected)

    # ---------------------------------------------------------------- scenarios
    def _victim(self, rng: random.Random, database: bool = True) -> SimUser:
        pool = [
            u
            for u in self.users[: max(1, len(self.users))]
            if not u.traveller and (u.connection is _DB or not database)
        ]
        return rng.choice(pool or self.users)

    def _attacker_ip(self, rng: random.Random) -> str:
        return f"{rng.choice(ATTACK_NETWORKS)}.{rng.randrange(1, 255)}"

    def _scn_brute_force(self, rng: random.Random, at: datetime, attempts: int = 8, success: bool = True):
        victim, ip = self._victim(rng), self._attacker_ip(rng)
        out, t = [], at
        for _ in range(int(attempts)):
            out.append(
                self._user_record(
                    rng, t, "fp", "Wrong email or password.", victim, ip=ip, where=victim.home, user_agent=_ATTACK_UA
                )
            )
            t = _ms(t + timedelta(seconds=rng.uniform(5, 25)))
        if success:
            out.append(
                self._user_record(
                    rng, t, "s", "Successful login", victim, ip=ip, where=victim.home, user_agent=_ATTACK_UA
                )
            )
        return (
            out,
            "brute_force",
            victim.email,
            "medium" if success else "info",
            catalog.rule_ids("credential_stuffing_signals"),
        )

    def _scn_credential_stuffing(self, rng: random.Random, at: datetime, users: int = 14, successes: int = 1):
        ip = self._attacker_ip(rng)
        pool = [u for u in self.users if not u.traveller and u.connection is _DB]
        known = rng.sample(pool, min(len(pool), max(int(users) - 4, int(successes))))
        where = known[0].home if known else self.users[0].home
        out, t = [], at
        for user in known:
            out.append(
                self._user_record(
                    rng, t, "fp", "Wrong email or password.", user, ip=ip, where=where, user_agent=_ATTACK_UA
                )
            )
            t = _ms(t + timedelta(seconds=rng.uniform(3, 15)))
        for _ in range(int(users) - len(known)):
            name = f"{rng.choice(_FIRST)}{rng.randrange(10000)}@{rng.choice(_DOMAINS)}"
            out.append(
                self._record(
                    rng,
                    t,
                    "fu",
                    "Wrong email or password.",
                    user_id=None,
                    user_name=name,
                    ip=ip,
                    where=where,
                    client=CLIENTS[0],
                    connection=_DB,
                    user_agent=_ATTACK_UA,
                )
            )
            t = _ms(t + timedelta(seconds=rng.uniform(3, 15)))
        for user in known[: int(successes)]:
            # the compromised account is one whose home the attacker's IP appears in: no travel signal
            out.append(
                self._user_record(
                    rng,
                    t,
                    "s",
                    "Successful login",
                    user,
                    ip=ip,
                    where=user.home if user is known[0] else where,
                    user_agent=_ATTACK_UA,
                )
            )
            t = _ms(t + timedelta(seconds=rng.uniform(3, 15)))
        return (
            out,
            "credential_stuffing",
            ip,
            "high" if successes else "info",
            catalog.rule_ids("credential_stuffing_signals"),
        )

    def _scn_impossible_travel(self, rng: random.Random, at: datetime, minutes: float = 40.0):
        victim = self._victim(rng, database=False)
        home_km = lambda c: haversine_km(
            victim.home[1].latitude, victim.home[1].longitude, c.cities[0].latitude, c.cities[0].longitude
        )  # noqa: E731
        far = rng.choice([c for c in COUNTRIES if home_km(c) > 5000])
        first = self._user_record(rng, at, "s", "Successful login", victim, ip=victim.home_ip, where=victim.home)
        t2 = _ms(at + timedelta(minutes=float(minutes)))
        second = self._user_record(
            rng,
            t2,
            "s",
            "Successful login",
            victim,
            ip=self._attacker_ip(rng),
            where=(far, far.cities[0]),
            user_agent=_ATTACK_UA,
        )
        return [first, second], "impossible_travel", victim.email, "medium"

    def _scn_breached_password(self, rng: random.Random, at: datetime):
        victim, ip = self._victim(rng), self._attacker_ip(rng)
        description = f"Someone behind the IP address: {ip} attempted to login with a leaked password."
        return (
            [
                self._user_record(
                    rng, at, "pwd_leak", description, victim, ip=ip, where=victim.home, user_agent=_ATTACK_UA
                )
            ],
            "breached_password",
            victim.email,
            "medium",
        )

    def _scn_lockout_spike(self, rng: random.Random, at: datetime, events: int = 6):
        out, t = [], at
        for i in range(int(events)):
            victim, ip = self._victim(rng), self._attacker_ip(rng)
            if i % 3 == 2:
                out.append(
                    self._record(
                        rng,
                        t,
                        "limit_mu",
                        f"Too many failed login attempts from IP {ip}.",
                        user_id=None,
                        user_name=None,
                        ip=ip,
                        where=victim.home,
                        client=CLIENTS[0],
                        connection=_DB,
                        user_agent=_ATTACK_UA,
                    )
                )
            else:
                out.append(
                    self._user_record(
                        rng,
                        t,
                        "limit_wc",
                        f"User ({victim.email}) attempted 10 consecutive logins unsuccessfully.",
                        victim,
                        ip=ip,
                        where=victim.home,
                        user_agent=_ATTACK_UA,
                    )
                )
            t = _ms(t + timedelta(minutes=rng.uniform(2, 8)))
        return out, "lockout_spike", self.tenant, "medium"

    def _scn_signup_fraud(self, rng: random.Random, at: datetime, events: int = 30):
        ips = [self._attacker_ip(rng) for _ in range(3)]
        country = COUNTRY_BY_CODE["US"]
        out, t = [], at
        for i in range(int(events)):
            name = f"user{rng.randrange(10**6):06d}@{rng.choice(_DOMAINS)}"
            ok = i % 5 != 4
            user_id = f"auth0|{rng.getrandbits(96):024x}" if ok else None
            out.append(
                self._record(
                    rng,
                    t,
                    "ss" if ok else "fs",
                    "" if ok else "The user already exists.",
                    user_id=user_id,
                    user_name=name,
                    ip=rng.choice(ips),
                    where=(country, country.cities[0]),
                    client=CLIENTS[0],
                    connection=_DB,
                    user_agent=_ATTACK_UA,
                )
            )
            t = _ms(t + timedelta(seconds=rng.uniform(20, 70)))
        return out, "signup_fraud", self.tenant, "medium", catalog.rule_ids("risk_of_signup_fraud_by_volume")

    def _scn_mfa_push_fatigue(self, rng: random.Random, at: datetime, pushes: int = 8):
        victim, ip = self._victim(rng), self._attacker_ip(rng)
        out, t = [], at
        for _ in range(int(pushes)):
            out.append(
                self._user_record(
                    rng, t, "gd_send_pn", catalog.PUSH_SENT, victim, ip=ip, where=victim.home, user_agent=_ATTACK_UA
                )
            )
            t = _ms(t + timedelta(seconds=rng.uniform(40, 120)))
        return out, "mfa_push_fatigue", victim.email, "high", catalog.rule_ids("risk_for_mfa_push_fatigue")

    def _scn_refresh_token_reuse(self, rng: random.Random, at: datetime):
        victim, ip = self._victim(rng), self._attacker_ip(rng)
        record = self._user_record(
            rng,
            at,
            "ferrt",
            catalog.REFRESH_TOKEN_REUSED,
            victim,
            connection=False,
            ip=ip,
            where=victim.home,
            user_agent=_ATTACK_UA,
        )
        return [record], "refresh_token_reuse", victim.email, "high", catalog.rule_ids("refresh_token_reuse")

    # ------------------------------------------------ the catalog's attacks (authviz.simulator.catalog)
    def _scn_sms_bombing(self, rng: random.Random, at: datetime, messages: int = 15, minutes: float = 40.0):
        victim, ip = self._victim(rng), self._attacker_ip(rng)
        out, step = [], float(minutes) * 60.0 / max(int(messages) - 1, 1)
        for i in range(int(messages)):
            t = _ms(at + timedelta(seconds=i * step + (rng.uniform(0, step / 3) if i else 0.0)))
            out.append(
                self._user_record(
                    rng,
                    t,
                    "gd_send_sms",
                    catalog.SMS_SENT,
                    victim,
                    connection=False,
                    ip=ip,
                    where=victim.home,
                    user_agent=_ATTACK_UA,
                )
            )
        return out, "", victim.user_id, "medium", catalog.rule_ids("sms_bombarding")

    def _scn_disposable_signups(self, rng: random.Random, at: datetime, accounts: int = 10, minutes: float = 50.0):
        ips = [self._attacker_ip(rng) for _ in range(2)]
        country = COUNTRY_BY_CODE["US"]
        out, step = [], float(minutes) * 60.0 / max(int(accounts) - 1, 1)
        for i in range(int(accounts)):
            t = _ms(at + timedelta(seconds=i * step + (rng.uniform(0, step / 3) if i else 0.0)))
            name = f"{rng.choice(_FIRST)}{rng.randrange(10**5):05d}@{rng.choice(catalog.DISPOSABLE_DOMAINS)}"
            out.append(
                self._record(
                    rng,
                    t,
                    "ss",
                    "",
                    user_id=f"auth0|{rng.getrandbits(96):024x}",
                    user_name=name,
                    ip=rng.choice(ips),
                    where=(country, country.cities[0]),
                    client=CLIENTS[0],
                    connection=_DB,
                    user_agent=_ATTACK_UA,
                )
            )
        return (
            out,
            "",
            self.tenant,
            "medium",
            catalog.rule_ids("risk_of_signup_fraud_by_disposable_domains", "risk_of_signup_fraud_by_volume"),
        )

    def _scn_attack_protection_off(
        self,
        rng: random.Random,
        at: datetime,
        features: tuple[str, ...] | list[str] | str = tuple(catalog.ATTACK_PROTECTION),
    ):
        features = (features,) if isinstance(features, str) else tuple(features)
        unknown = sorted(set(features) - set(catalog.ATTACK_PROTECTION))
        if unknown or not features:
            raise ValueError(
                f"unknown attack-protection features {unknown}; known: {', '.join(catalog.ATTACK_PROTECTION)}"
            )
        admin, ip, agent = rng.choice(self.admins), self._attacker_ip(rng), rng.choice(_DESKTOP_UA)
        jti = f"{rng.getrandbits(128):032x}"
        out, t, rules = [], at, []
        for feature in features:
            description, path, settings = catalog.ATTACK_PROTECTION[feature]
            body = {
                k: v
                for k, v in settings.items()
                if k in ("enabled", "policy", "passwordless_policy", "password_reset_policy")
            }
            out.append(
                self._admin_record(
                    rng,
                    t,
                    description,
                    admin,
                    ip=ip,
                    user_agent=agent,
                    jti=jti,
                    method="patch",
                    path=path,
                    body=body,
                    status=200,
                    response=settings,
                )
            )
            rules += catalog.ATTACK_PROTECTION_RULES[feature]
            t = _ms(t + timedelta(seconds=rng.uniform(20, 90)))
        return out, "", self.tenant, "medium", catalog.rule_ids(*rules)

    def _scn_mfa_disabled(
        self, rng: random.Random, at: datetime, changes: tuple[str, ...] | list[str] | str = tuple(catalog.MFA_CHANGES)
    ):
        changes = (changes,) if isinstance(changes, str) else tuple(changes)
        unknown = sorted(set(changes) - set(catalog.MFA_CHANGES))
        if unknown or not changes:
            raise ValueError(f"unknown MFA changes {unknown}; known: {', '.join(catalog.MFA_CHANGES)}")
        admin, ip, agent = rng.choice(self.admins), self._attacker_ip(rng), rng.choice(_DESKTOP_UA)
        jti = f"{rng.getrandbits(128):032x}"
        out, t, rules = [], at, []
        for change in changes:
            description, method, path, body, response, names = catalog.MFA_CHANGES[change]
            out.append(
                self._admin_record(
                    rng,
                    t,
                    description,
                    admin,
                    ip=ip,
                    user_agent=agent,
                    jti=jti,
                    method=method,
                    path=path,
                    body=body,
                    status=200,
                    response=response,
                )
            )
            rules += names
            t = _ms(t + timedelta(seconds=rng.uniform(20, 90)))
        return out, "", self.tenant, "medium", catalog.rule_ids(*rules)

    def _scn_tenant_takeover(self, rng: random.Random, at: datetime, deletions: int = 2):
        if not 1 <= int(deletions) < len(self.admins):
            raise ValueError(f"deletions must be between 1 and {len(self.admins) - 1}")
        insider, *others = rng.sample(self.admins, len(self.admins))
        ip, agent = self._attacker_ip(rng), rng.choice(_DESKTOP_UA)
        jti = f"{rng.getrandbits(128):032x}"
        invited = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randrange(100)}@{rng.choice(catalog.PERSONAL_DOMAINS)}"
        expires = _iso(at + timedelta(days=3))
        invitation = f"inv_{rng.getrandbits(80):020x}"[:20]
        out = [
            self._admin_record(
                rng,
                at,
                "Create tenant invitations for a given client",
                insider,
                ip=ip,
                user_agent=agent,
                jti=jti,
                method="post",
                path="/api/v2/tenants/invitations",
                body={"owners": [invited], "roles": ["owner"]},
                status=201,
                response=[{"email": invited, "expires_at": expires, "invitation_id": invitation}],
            )
        ]
        t = at
        for member in others[: int(deletions)]:
            t = _ms(t + timedelta(seconds=rng.uniform(60, 240)))
            out.append(
                self._admin_record(
                    rng,
                    t,
                    "Delete tenant member",
                    insider,
                    ip=ip,
                    user_agent=agent,
                    jti=jti,
                    method="delete",
                    path=f"/api/v2/tenants/members/{member['user_id']}",
                    body={"roles": ["owner"]},
                    status=204,
                    response={},
                )
            )
        return out, "", self.tenant, "medium", catalog.rule_ids("risk_of_tenant_takeover")


#: Scenario name -> what it injects.
SCENARIOS: dict[str, str] = {
    "brute-force": "repeated wrong passwords for one user from one IP, then (by default) a success",
    "credential-stuffing": "one IP fails logins for many users (14 by default), then one success",
    "impossible-travel": "one user logs in at home, then 40 minutes later more than 5,000 km away",
    "breached-password": "a login attempt with a leaked password (pwd_leak)",
    "lockout-spike": "six limit_wc / limit_mu blocks within an hour",
    "signup-fraud": "30 sign-ups and failed sign-ups within half an hour from three IPs",
    "mfa-push-fatigue": "eight MFA push notifications to one user within a quarter of an hour",
    "refresh-token-reuse": "a refresh-token exchange rejected because the token was reused",
    "sms-bombing": "fifteen MFA text messages (gd_send_sms) to one user within 40 minutes",
    "disposable-signups": "ten sign-ups with disposable e-mail domains (mailinator.com...) within an hour",
    "attack-protection-off": "an admin turns off brute-force, breached-password, suspicious-IP and bot protection",
    "mfa-disabled": "an admin turns off MFA factors, adaptive-MFA risk assessment and the MFA policy",
    "tenant-takeover": "an admin invites a personal address as owner, then deletes two owners within minutes",
}

#: The scenarios :func:`authviz.analytics.run_detections` has a built-in detection for; the others
#: (catalog attacks) are found by Auth0's catalog rules (``InjectedAttack.rule_ids``).
BUILTIN_SCENARIOS: tuple[str, ...] = (
    "brute-force",
    "credential-stuffing",
    "impossible-travel",
    "breached-password",
    "lockout-spike",
    "signup-fraud",
    "mfa-push-fatigue",
    "refresh-token-reuse",
)
CATALOG_SCENARIOS: tuple[str, ...] = tuple(name for name in SCENARIOS if name not in BUILTIN_SCENARIOS)


def default_attack_plan(seed: int | str, days: int = 30, catalog: bool = False) -> list[tuple[str, timedelta, dict]]:
    """Every built-in scenario once (plus failed variants of brute force / stuffing), spread over
    ``days``; with ``catalog``, also every catalog attack (:data:`CATALOG_SCENARIOS`) once, placed
    between them. The built-in part is the same with or without ``catalog``."""
    rng = random.Random(f"authviz-plan:{seed}")
    plan: list[tuple[str, dict]] = [(name, {}) for name in BUILTIN_SCENARIOS]
    plan += [("brute-force", {"success": False}), ("credential-stuffing", {"successes": 0})]
    step = max(days - 2, 1) / len(plan)
    out = [(name, timedelta(days=1 + i * step, hours=rng.uniform(0, 20)), opts) for i, (name, opts) in enumerate(plan)]
    if catalog:
        rng = random.Random(f"authviz-plan-catalog:{seed}")
        step = max(days - 2, 1) / len(CATALOG_SCENARIOS)
        out += [
            (name, timedelta(days=1 + (i + 0.5) * step, hours=rng.uniform(0, 20)), {})
            for i, name in enumerate(CATALOG_SCENARIOS)
        ]
    return out


def _plausible_ip(rng: random.Random, country: Country) -> str:
    return f"{rng.choice(country.ip_prefixes)}.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        if w < 0:
            raise ValueError("weights must be >= 0")
        total += w
        out.append(total)
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    return [x / total for x in out]


def _pick(cumulative: list[float], u: float) -> int:
    lo, hi = 0, len(cumulative) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] < u:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _name_from_email(email: str) -> str:
    local = email.split("@")[0].rstrip("0123456789")
    return " ".join(part.capitalize() for part in local.replace("_", ".").split(".") if part) or email


def rule_payload(record: Mapping) -> dict:
    """The classic tutorial Rule's Pusher payload for a log record: the user profile plus
    ``country`` and ``app_metadata.signedUp`` (absent on the sign-up, set afterwards)."""
    data = record.get("data", record)
    email = data.get("user_name") or ""
    user_id = data.get("user_id") or ""
    provider, _, ident = user_id.partition("|")
    loc = data.get("location_info") or {}
    digest = hashlib.md5(email.lower().encode()).hexdigest()  # noqa: S324 - gravatar convention, not security
    return {
        "user_id": user_id,
        "email": email,
        "email_verified": True,
        "name": _name_from_email(email),
        "nickname": email.split("@")[0],
        "picture": f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d=identicon",
        "updated_at": data.get("date"),
        "identities": [
            {
                "provider": provider,
                "user_id": ident,
                "connection": data.get("connection"),
                "isSocial": data.get("strategy_type") == "social",
            }
        ],
        "app_metadata": {} if data.get("type") == "ss" else {"signedUp": True},
        "country": loc.get("country_name"),
    }


def action_event(record: Mapping) -> dict:
    """An Actions post-login ``event`` object for a log record (camelCase geoip, stats, client...)."""
    data = record.get("data", record)
    loc = data.get("location_info") or {}
    email = data.get("user_name") or ""
    user_id = data.get("user_id") or ""
    seed = int(hashlib.sha256((data.get("log_id") or "").encode()).hexdigest()[:8], 16)
    return {
        "user": {
            "user_id": user_id,
            "email": email,
            "name": _name_from_email(email),
            "email_verified": True,
            "app_metadata": {} if data.get("type") == "ss" else {"signedUp": True},
            "user_metadata": {},
            "updated_at": data.get("date"),
        },
        "client": {"client_id": data.get("client_id"), "name": data.get("client_name")},
        "connection": {
            "id": data.get("connection_id"),
            "name": data.get("connection"),
            "strategy": data.get("strategy"),
        },
        "stats": {"logins_count": 1 if data.get("type") == "ss" else 2 + seed % 60},
        "tenant": {"id": data.get("tenant_name")},
        "transaction": {"id": f"tx_{seed:08x}", "protocol": "oidc-basic-profile"},
        "session": {"id": f"sess_{seed:08x}"},
        "authentication": {"methods": [{"name": "pwd", "timestamp": data.get("date")}]},
        "request": {
            "ip": data.get("ip"),
            "user_agent": data.get("user_agent"),
            "hostname": data.get("hostname"),
            "geoip": {
                "cityName": loc.get("city_name"),
                "continentCode": loc.get("continent_code"),
                "countryCode": loc.get("country_code"),
                "countryCode3": loc.get("country_code3"),
                "countryName": loc.get("country_name"),
                "latitude": loc.get("latitude"),
                "longitude": loc.get("longitude"),
                "timeZone": loc.get("time_zone"),
            },
        },
        "timestamp": data.get("date"),
    }


def management_api_entry(record: Mapping) -> dict:
    """The same log as ``GET /api/v2/logs`` returns it: flat, with ``_id`` and ``isMobile``."""
    data = dict(record.get("data", record))
    entry = {k: v for k, v in data.items() if k != "is_mobile"}
    entry["_id"] = data.get("log_id")
    entry["isMobile"] = bool(data.get("is_mobile"))
    return entry
