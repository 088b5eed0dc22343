"""Security detections on the event DataFrame (schema: :mod:`authviz.auth0.schema`).

Each detection takes the frame and its thresholds (defaults = the published values in
``shared/notes/auth0-events.md``, from Datadog, Panther and Sumo Logic) and returns a tidy
DataFrame with :data:`FINDING_COLUMNS`, one row per incident, sorted by ``start``:

``detection`` (name), ``severity`` (``info`` < ``low`` < ``medium`` < ``high``), ``key`` (what the
incident is grouped by: a user, an IP, or the tenant), ``start``/``end`` (first/last evidence
event), ``count`` (evidence events), ``evidence_ids`` (list of ``event_id``), ``summary`` (a
sentence, e.g. "credential stuffing from 203.0.113.7: 14 users, 1 success").

Users are keyed by ``user_name``, else ``email``, else ``user_id`` (empty text counts as missing),
because failed logins for unknown users carry only the name that was typed. Windows are closed
(an incident's events span at most ``window``) and the hot path is numpy/pandas: work is
proportional to the events of the relevant types, with Python loops only per finding.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from authviz.analytics import windows as win
from authviz.auth0.log_types import category_for
from authviz.auth0.schema import COLUMNS, TIMESTAMP_DTYPE, conform

FINDING_COLUMNS: tuple[str, ...] = ("detection", "severity", "key", "start", "end", "count", "evidence_ids", "summary")
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high")

BREACHED_PASSWORD_TYPES = ("pwd_leak", "reset_pwd_leak", "signup_pwd_leak")
LOCKOUT_TYPES = ("limit_mu", "limit_sul", "limit_wc")
SIGNUP_TYPES = ("ss", "fs", "signup_pwd_leak")
MFA_PUSH_TYPE = "gd_send_pn"
REFRESH_REUSE_TYPE = "ferrt"
REUSE_PATTERN = r"reuse"  # Auth0: "Unsuccessful Refresh Token exchange, reused refresh token detected"
TENANT_FALLBACK = "(all)"


def empty_findings() -> pd.DataFrame:
    """A findings frame with the right columns and dtypes and no rows."""
    return _EMPTY.copy()


def _empty_findings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "detection": pd.Series([], dtype=object),
            "severity": pd.Series([], dtype=object),
            "key": pd.Series([], dtype=object),
            "start": pd.Series([], dtype=TIMESTAMP_DTYPE),
            "end": pd.Series([], dtype=TIMESTAMP_DTYPE),
            "count": pd.Series([], dtype="int64"),
            "evidence_ids": pd.Series([], dtype=object),
            "summary": pd.Series([], dtype=object),
        }
    )


_EMPTY = _empty_findings()


def _ns(window: timedelta | str | int) -> int:
    return int(pd.Timedelta(window).value)


# Keys are computed in pyarrow on the rows of interest only (take, then coalesce, then
# dictionary-encode): no Python object per event and no copy of the rest of the frame.
USER_COLUMNS = ("user_name", "email", "user_id")


def _pa(series: pd.Series, *, combine: bool = True) -> pa.Array | pa.ChunkedArray:
    """A column as large_string pyarrow data (zero-copy for pyarrow-backed strings)."""
    try:
        arr = pa.array(series.array)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        arr = pa.array(series.astype(object).to_numpy(), from_pandas=True, type=pa.large_string())
    if combine and isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if arr.type == pa.large_string() else pc.cast(arr, pa.large_string())


#: The columns detections read; :func:`prepare` keeps only these.
DETECTION_COLUMNS = (
    "event_id",
    "timestamp",
    "type",
    "category",
    "description",
    "user_name",
    "email",
    "user_id",
    "ip",
    "tenant",
    "city",
    "country_code",
    "latitude",
    "longitude",
)


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """The detection columns of ``frame`` with every pyarrow text column in one chunk.

    Why: pyarrow's ``take`` on a multi-chunk column concatenates all chunks first, so every row
    lookup (``iloc``) on a 10M-row frame read from Parquet would copy whole columns. Combining
    once costs one copy of the text columns used; single-chunk columns are shared, not copied.
    Detections call it themselves; :func:`run_detections` calls it once for all of them. A frame
    whose columns are missing or of other dtypes is first brought to the schema with ``conform``."""
    if any(name not in frame.columns or frame[name].dtype != COLUMNS[name] for name in DETECTION_COLUMNS):
        frame = conform(frame)
    columns = {}
    for name in DETECTION_COLUMNS:
        if name not in frame.columns:
            continue
        series = frame[name]
        if isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow":
            data = pa.array(series.array)
            if isinstance(data, pa.ChunkedArray) and data.num_chunks > 1:
                series = pd.Series(
                    pd.arrays.ArrowStringArray(pa.chunked_array([data.combine_chunks()])), index=frame.index, name=name
                )
        columns[name] = series
    return pd.DataFrame(columns, index=frame.index, copy=False)


def _missing(arr: pa.Array) -> np.ndarray:
    """True where null or empty text."""
    return pc.fill_null(pc.equal(arr, ""), True).to_numpy(zero_copy_only=False)


def _key_array(
    frame: pd.DataFrame, positions: np.ndarray, columns: tuple[str, ...], fill: str | None = None
) -> pa.Array:
    """The first non-empty of ``columns`` at ``positions`` (null when none; ``fill`` if given).

    Later columns are only read at the rows still missing a key (usually none)."""
    present = [c for c in columns if c in frame.columns]
    key: pa.Array | None = None
    todo = np.arange(len(positions))
    for column in present:
        part = pc.take(_pa(frame[column]), pa.array(positions[todo], type=pa.int64()))
        if isinstance(part, pa.ChunkedArray):
            part = part.combine_chunks()
        part = pc.if_else(pc.equal(part, ""), pa.scalar(None, pa.large_string()), part)
        if key is None:
            key = part
        else:  # scatter the newly found values into the rows still missing: one take, no Python per row
            index = np.arange(len(key), dtype=np.int64)
            index[todo] = len(key) + np.arange(len(todo), dtype=np.int64)
            key = pc.take(pa.concat_arrays([key, part]), pa.array(index))
        todo = np.flatnonzero(_missing(key))
        if not len(todo):
            break
    if key is None:
        key = pa.nulls(len(positions), pa.large_string())
    if fill is not None and len(todo):
        key = pc.fill_null(key, fill)
    return key


def _user_at(frame: pd.DataFrame, positions: np.ndarray) -> pa.Array:
    return _key_array(frame, positions, USER_COLUMNS)


def _ip_at(frame: pd.DataFrame, positions: np.ndarray) -> pa.Array:
    return _key_array(frame, positions, ("ip",))


def _user_or_ip_at(frame: pd.DataFrame, positions: np.ndarray) -> pa.Array:
    return _key_array(frame, positions, USER_COLUMNS + ("ip",))


def _tenant_at(frame: pd.DataFrame, positions: np.ndarray) -> pa.Array:
    return _key_array(frame, positions, ("tenant",), fill=TENANT_FALLBACK)


def _encode(key: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """(int64 codes with -1 for null, dictionary of distinct values)."""
    encoded = pc.dictionary_encode(key)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary


def user_key(frame: pd.DataFrame) -> pd.Series:
    """The user an event is about: ``user_name``, else ``email``, else ``user_id``."""
    key = _user_at(frame, np.arange(len(frame)))
    return (
        pd.Series(key.to_pandas(types_mapper=pd.ArrowDtype), index=frame.index)
        .astype(object)
        .where(lambda s: s.notna(), None)
    )


def _timestamps_ns(frame: pd.DataFrame) -> np.ndarray:
    """int64 ns since the epoch (NaT = int64 min), a view when the column is already ns."""
    values = frame["timestamp"].array
    if getattr(values, "unit", "ns") != "ns":
        values = values.as_unit("ns")
    return values.asi8


_NAT = np.iinfo(np.int64).min
_MEMBER_COLUMNS = ["event_id", "timestamp", "type", "ip", "user_name", "email", "user_id", "city", "country_code"]


class _Groups:
    """Events of one detection ordered by (key, time): int64 ``codes`` and ``t`` (ns), and
    ``rows``, their positions in the whole frame. Nothing is copied from the frame but the key
    columns at those rows; member rows are materialised only for incidents."""

    def __init__(self, frame: pd.DataFrame, positions: np.ndarray, key: pa.Array) -> None:
        t = _timestamps_ns(frame)[positions]
        codes, dictionary = _encode(key)
        ok = (codes >= 0) & (t != _NAT)
        if not ok.all():
            positions, t, codes = positions[ok], t[ok], codes[ok]
        if len(t) > 1 and bool(np.all(t[1:] >= t[:-1])):
            # already in time order: sort by (code, arrival), a unique int64, with the fast unstable sort
            order = np.argsort(codes * len(t) + np.arange(len(t)))
        else:
            order = np.lexsort((t, codes))
        self.frame = frame
        self.rows = positions[order]
        self.codes = codes[order]
        self.t = t[order]
        self.dictionary = dictionary

    def __len__(self) -> int:
        return len(self.t)

    def column(self, name: str, dtype: str | None = None) -> np.ndarray:
        """A numeric column at the sorted rows."""
        return self.frame[name].to_numpy(dtype=dtype)[self.rows]

    def keys(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(self.dictionary.take(pa.array(codes, type=pa.int64())).to_pylist(), dtype=object)

    def members(self, incident: np.ndarray) -> pd.DataFrame:
        """Rows in an incident, with ``incident`` and ``key`` columns added."""
        mask = incident >= 0
        columns = [c for c in _MEMBER_COLUMNS if c in self.frame.columns]
        out = self.frame.iloc[self.rows[mask]][columns].reset_index(drop=True)
        out["incident"] = incident[mask]
        out["key"] = self.keys(self.codes[mask])
        return out


def _summarise(members: pd.DataFrame) -> pd.DataFrame:
    """One row per incident: key, start, end, count, evidence_ids."""
    grouped = members.groupby("incident", sort=True)
    out = grouped.agg(
        key=("key", "first"), start=("timestamp", "min"), end=("timestamp", "max"), count=("event_id", "size")
    )
    out["evidence_ids"] = _lists_by_incident(members, "event_id")
    return out


def _lists_by_incident(members: pd.DataFrame, column: str) -> list[list]:
    """Per incident (ascending), the list of ``column`` values: one numpy split, no per-group
    Python callback (members of one incident are contiguous or get sorted to be)."""
    incident = members["incident"].to_numpy()
    values = members[column].to_numpy(dtype=object)
    if len(incident) > 1 and not bool(np.all(incident[1:] >= incident[:-1])):
        order = np.argsort(incident, kind="stable")
        incident, values = incident[order], values[order]
    cuts = np.flatnonzero(incident[1:] != incident[:-1]) + 1
    return [part.tolist() for part in np.split(values, cuts)]


def _distinct_ips(members: pd.DataFrame) -> pd.Series:
    """Per incident, its distinct IPs in order of appearance (a list)."""
    pairs = members.loc[members["ip"].notna(), ["incident", "ip"]].drop_duplicates()
    if pairs.empty:
        return pd.Series(dtype=object)
    lists = _lists_by_incident(pairs, "ip")
    return pd.Series(lists, index=np.unique(pairs["incident"].to_numpy()))


def _finish(rows: pd.DataFrame, detection: str) -> pd.DataFrame:
    if rows.empty:
        return empty_findings()
    rows = rows.assign(detection=detection)
    out = rows.loc[:, list(FINDING_COLUMNS)].sort_values(["start", "key"], kind="stable").reset_index(drop=True)
    out["count"] = out["count"].astype("int64")
    return out


def _duration(delta: pd.Timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def _threshold_incidents(
    frame: pd.DataFrame,
    mask: np.ndarray,
    key: Callable[[pd.DataFrame, np.ndarray], pa.Array],
    min_events: int,
    window: timedelta | str,
) -> tuple[_Groups | None, pd.DataFrame, pd.DataFrame]:
    """Incidents where >= ``min_events`` events of one key fall within ``window``."""
    positions = np.flatnonzero(mask)
    if len(positions) < max(int(min_events), 1):  # cheap exit: most batches have none of these types
        return None, pd.DataFrame(), pd.DataFrame()
    groups = _Groups(frame, positions, key(frame, positions))
    if len(groups) == 0:
        return groups, pd.DataFrame(), pd.DataFrame()
    w = _ns(window)
    count, start = win.rolling_count(groups.codes, groups.t, w)
    incident = win.incidents(groups.codes, groups.t, start, count >= int(min_events), w)
    members = groups.members(incident)
    if members.empty:
        return groups, members, pd.DataFrame()
    return groups, members, _summarise(members)


def _followed_by(incidents: pd.DataFrame, successes: pd.DataFrame, within: int, *, from_start: bool) -> pd.DataFrame:
    """For each incident, the successes with the same key after it (``incidents`` indexed by
    incident, with ``key``/``start``/``end``; ``successes`` with ``key``, ``timestamp``, ``event_id``).
    Returns columns incident, event_id, ip, timestamp."""
    if incidents.empty or successes.empty:
        return pd.DataFrame(columns=["incident", "event_id", "ip", "timestamp"])
    succ = successes.loc[successes["key"].isin(set(incidents["key"]))]
    joined = incidents.reset_index()[["incident", "key", "start", "end"]].merge(succ, on="key")
    lower = joined["start"] if from_start else joined["end"]
    ok = (joined["timestamp"] > lower) & (joined["timestamp"] <= joined["end"] + pd.Timedelta(within))
    return joined.loc[ok, ["incident", "event_id", "ip", "timestamp"]]


def _category(frame: pd.DataFrame, name: str) -> np.ndarray:
    return (frame["category"] == name).fillna(False).to_numpy(dtype=bool, copy=True)


def _type_in(frame: pd.DataFrame, codes: tuple[str, ...] | str) -> np.ndarray:
    """Rows whose ``type`` is one of ``codes``; the (categorical, cheap) ``category`` narrows the
    rows first so the string comparison only runs on candidates."""
    codes = (codes,) if isinstance(codes, str) else codes
    categories = sorted({category_for(code) for code in codes})
    mask = frame["category"].isin(categories).fillna(False).to_numpy(dtype=bool, copy=True)
    candidates = np.flatnonzero(mask)
    if len(candidates):
        mask[candidates] = frame["type"].iloc[candidates].isin(list(codes)).fillna(False).to_numpy(dtype=bool)
    return mask


def _add_success(rows: pd.DataFrame, success: pd.DataFrame) -> pd.DataFrame:
    if success.empty:
        rows["successes"] = 0
        return rows
    extra = success.groupby("incident").agg(
        successes=("event_id", "size"), success_ids=("event_id", list), last_success=("timestamp", "max")
    )
    rows = rows.join(extra)
    rows["successes"] = rows["successes"].fillna(0).astype("int64")
    has = rows["successes"] > 0
    rows["evidence_ids"] = [
        ids + extra_ids if isinstance(extra_ids, list) else ids
        for ids, extra_ids in zip(rows["evidence_ids"], rows["success_ids"])
    ]
    rows.loc[has, "count"] = rows.loc[has, "count"] + rows.loc[has, "successes"]
    rows.loc[has, "end"] = rows.loc[has, ["end", "last_success"]].max(axis=1)
    return rows


def _success_frame(frame: pd.DataFrame, keys: set[str], by: str = "user") -> pd.DataFrame:
    """Successful logins whose user (``by="user"``) or IP (``by="ip"``) is one of ``keys``: a
    pyarrow ``is_in`` on whole columns (later user columns only where earlier ones are empty),
    then only matching rows are copied."""
    success = _category(frame, "login_success")
    if not keys or not success.any():
        return pd.DataFrame(columns=["event_id", "timestamp", "ip", "key"])
    value_set = pa.array(sorted(keys), type=pa.large_string())
    columns = [c for c in (("ip",) if by == "ip" else USER_COLUMNS) if c in frame.columns]
    hit = np.zeros(len(frame), dtype=bool)
    undecided = success
    for column in columns:
        arr = _pa(frame[column])
        hit |= undecided & pc.fill_null(pc.is_in(arr, value_set=value_set), False).to_numpy(zero_copy_only=False)
        undecided = undecided & pc.fill_null(pc.equal(arr, ""), True).to_numpy(zero_copy_only=False)
        if not undecided.any():
            break
    rows = np.flatnonzero(hit)
    key = (_ip_at if by == "ip" else _user_at)(frame, rows).to_pylist()
    sub = frame.iloc[rows][["event_id", "timestamp", "ip"]].reset_index(drop=True).assign(key=key)
    return sub.loc[sub["key"].isin(keys)]


# ------------------------------------------------------------------------------------ detections
def brute_force(
    frame: pd.DataFrame,
    min_failures: int = 5,
    window: timedelta | str = timedelta(hours=1),
    success_within: timedelta | str = timedelta(hours=1),
) -> pd.DataFrame:
    """>= ``min_failures`` failed logins for one user within ``window`` (``info``); a successful
    login of that user during the failures or within ``success_within`` after the last one raises it to
    ``medium`` (Datadog's "Brute force attack on an Auth0 user")."""
    frame = prepare(frame)
    _, members, rows = _threshold_incidents(frame, _category(frame, "login_failure"), _user_at, min_failures, window)
    if rows.empty:
        return empty_findings()
    success = _followed_by(rows, _success_frame(frame, set(rows["key"])), _ns(success_within), from_start=True)
    rows = _add_success(rows, success)
    ips = _distinct_ips(members)
    rows["severity"] = np.where(rows["successes"] > 0, "medium", "info")
    failures = rows["count"] - rows["successes"]
    rows["summary"] = [
        f"brute force on {key}: {_plural(int(n), 'failed login')} in {_duration(end - start)}"
        + (f" from {_ip_list(ip)}" if isinstance(ip, list) and ip else "")
        + (", then a successful login" if s else "")
        for key, n, start, end, ip, s in zip(
            rows["key"], failures, rows["start"], rows["end"], ips.reindex(rows.index), rows["successes"]
        )
    ]
    return _finish(rows, "brute_force")


def _ip_list(ips: list, most: int = 2) -> str:
    shown = ", ".join(map(str, ips[:most]))
    return shown + (f" and {len(ips) - most} more" if len(ips) > most else "")


def credential_stuffing(
    frame: pd.DataFrame,
    min_users: int = 10,
    window: timedelta | str = timedelta(hours=1),
    success_within: timedelta | str = timedelta(hours=1),
) -> pd.DataFrame:
    """Failed logins for >= ``min_users`` distinct users from one IP within ``window`` (``info``);
    with a successful login from that IP during or within ``success_within`` after it: ``high``."""
    frame = prepare(frame)
    failures = _category(frame, "login_failure")
    if failures.sum() < int(min_users):
        return empty_findings()
    positions = np.flatnonzero(failures)
    groups = _Groups(frame, positions, _ip_at(frame, positions))
    if len(groups) == 0:
        return empty_findings()
    w = _ns(window)
    user_codes, _ = _encode(_user_at(frame, groups.rows))  # -1 for missing: not counted
    distinct = win.rolling_distinct(groups.codes, groups.t, user_codes, w)
    start = win.window_start(groups.codes, groups.t, w)
    incident = win.incidents(groups.codes, groups.t, start, distinct >= int(min_users), w)
    members = groups.members(incident)
    if members.empty:
        return empty_findings()
    members["user"] = _user_at(members, np.arange(len(members))).to_pylist()
    rows = _summarise(members)
    rows["users"] = members.groupby("incident")["user"].nunique()
    success = _followed_by(rows, _success_frame(frame, set(rows["key"]), by="ip"), _ns(success_within), from_start=True)
    rows = _add_success(rows, success)
    rows["severity"] = np.where(rows["successes"] > 0, "high", "info")
    rows["summary"] = [
        f"credential stuffing from {key}: {_plural(int(u), 'user')}, {_plural(int(s), 'success', 'successes')}"
        for key, u, s in zip(rows["key"], rows["users"], rows["successes"])
    ]
    return _finish(rows, "credential_stuffing")


def impossible_travel(
    frame: pd.DataFrame, min_distance_km: float = 500.0, min_speed_kmh: float = 1000.0
) -> pd.DataFrame:
    """Two consecutive successful logins of one user more than ``min_distance_km`` apart implying
    more than ``min_speed_kmh`` (great-circle distance; zero time = infinite speed). Chains of
    such hops (A -> B -> A) share their middle login and form one ``medium`` finding."""
    frame = prepare(frame)
    mask = (
        _category(frame, "login_success") & frame["latitude"].notna().to_numpy() & frame["longitude"].notna().to_numpy()
    )
    if mask.sum() < 2:
        return empty_findings()
    positions = np.flatnonzero(mask)
    groups = _Groups(frame, positions, _user_at(frame, positions))
    n = len(groups)
    if n < 2:
        return empty_findings()
    lat = groups.column("latitude", "float64")
    lon = groups.column("longitude", "float64")
    same = groups.codes[1:] == groups.codes[:-1]
    moved = np.flatnonzero(same & ((lat[1:] != lat[:-1]) | (lon[1:] != lon[:-1])))  # trig only where the place changed
    km = np.zeros(n - 1)
    km[moved] = win.haversine_km(lat[moved], lon[moved], lat[moved + 1], lon[moved + 1])
    hours = (groups.t[1:] - groups.t[:-1]) / 3.6e12
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(hours > 0, km / np.where(hours > 0, hours, 1.0), np.inf)
    hop = same & (km > float(min_distance_km)) & (speed > float(min_speed_kmh))
    if not hop.any():
        return empty_findings()
    # pair p joins events p and p+1; consecutive hops share an event and form one chain
    first_of_chain = hop & np.concatenate([[True], ~hop[:-1]])
    chain = np.cumsum(first_of_chain) - 1
    member = np.zeros(n, dtype=bool)
    member[:-1] |= hop
    member[1:] |= hop
    incident = np.full(n, -1, dtype=np.int64)
    incident[:-1] = np.where(hop, chain, -1)
    incident[1:] = np.where(hop, chain, incident[1:])
    members = groups.members(incident)
    rows = _summarise(members)
    pairs = pd.DataFrame(
        {
            "incident": chain[hop],
            "km": km[hop],
            "speed": speed[hop],
            "hours": hours[hop],
            "a": np.flatnonzero(hop),
            "b": np.flatnonzero(hop) + 1,
        }
    )
    worst = pairs.sort_values("speed", ascending=False, kind="stable").drop_duplicates("incident").set_index("incident")

    def place(i: int) -> str:
        row = frame.iloc[int(groups.rows[i])]
        city, country = row["city"], row["country_code"]
        return f"{city if isinstance(city, str) else '?'}, {country if isinstance(country, str) else '?'}"

    rows["severity"] = "medium"
    rows["summary"] = [
        f"impossible travel for {key}: {place(w.a)} → {place(w.b)}, {w.km:,.0f} km in {_duration(pd.Timedelta(hours=w.hours))}"
        + (f" ({w.speed:,.0f} km/h)" if np.isfinite(w.speed) else " (same instant)")
        for key, w in zip(rows["key"], worst.reindex(rows.index).itertuples())
    ]
    return _finish(rows, "impossible_travel")


def breached_password(frame: pd.DataFrame, window: timedelta | str = timedelta(hours=1)) -> pd.DataFrame:
    """Every ``pwd_leak`` / ``reset_pwd_leak`` / ``signup_pwd_leak`` event (``medium``); events of
    one user (or, without a user, one IP) within ``window`` of each other form one finding."""
    frame = prepare(frame)
    _, members, rows = _threshold_incidents(frame, _type_in(frame, BREACHED_PASSWORD_TYPES), _user_or_ip_at, 1, window)
    if rows.empty:
        return empty_findings()
    kinds = pd.Series(
        [", ".join(sorted(set(map(str, t)))) for t in _lists_by_incident(members, "type")],
        index=np.unique(members["incident"].to_numpy()),
    )
    rows["severity"] = "medium"
    rows["summary"] = [
        f"breached password for {k}: {_plural(int(n), 'attempt')} with a leaked password ({kind})"
        for k, n, kind in zip(rows["key"], rows["count"], kinds.reindex(rows.index))
    ]
    return _finish(rows, "breached_password")


def lockout_spike(
    frame: pd.DataFrame, min_events: int = 5, window: timedelta | str = timedelta(hours=1)
) -> pd.DataFrame:
    """More than four (``min_events`` = 5) ``limit_mu``/``limit_sul``/``limit_wc`` blocks on one
    tenant within ``window`` (``medium``)."""
    frame = prepare(frame)
    _, members, rows = _threshold_incidents(frame, _type_in(frame, LOCKOUT_TYPES), _tenant_at, min_events, window)
    if rows.empty:
        return empty_findings()
    ips = members.groupby("incident")["ip"].nunique()
    rows["severity"] = "medium"
    rows["summary"] = [
        f"lockout spike on {k}: {n} account/IP blocks in {_duration(e - s)} from {_plural(int(i), 'IP')}"
        for k, n, s, e, i in zip(rows["key"], rows["count"], rows["start"], rows["end"], ips.reindex(rows.index))
    ]
    return _finish(rows, "lockout_spike")


def signup_fraud(
    frame: pd.DataFrame, min_events: int = 20, window: timedelta | str = timedelta(minutes=60)
) -> pd.DataFrame:
    """>= ``min_events`` ``ss``/``fs``/``signup_pwd_leak`` on one tenant within ``window``
    (``medium``; Panther's "Auth0 fraud risk volume")."""
    frame = prepare(frame)
    _, members, rows = _threshold_incidents(frame, _type_in(frame, SIGNUP_TYPES), _tenant_at, min_events, window)
    if rows.empty:
        return empty_findings()
    ips = members.groupby("incident")["ip"].nunique()
    rows["severity"] = "medium"
    rows["summary"] = [
        f"sign-up fraud volume on {k}: {n} sign-ups in {_duration(e - s)} from {_plural(int(i), 'IP')}"
        for k, n, s, e, i in zip(rows["key"], rows["count"], rows["start"], rows["end"], ips.reindex(rows.index))
    ]
    return _finish(rows, "signup_fraud")


def mfa_push_fatigue(
    frame: pd.DataFrame, min_pushes: int = 5, window: timedelta | str = timedelta(minutes=30)
) -> pd.DataFrame:
    """>= ``min_pushes`` ``gd_send_pn`` (MFA push sent) for one user within ``window`` (``high``)."""
    frame = prepare(frame)
    _, _, rows = _threshold_incidents(frame, _type_in(frame, MFA_PUSH_TYPE), _user_at, min_pushes, window)
    if rows.empty:
        return empty_findings()
    rows["severity"] = "high"
    rows["summary"] = [
        f"MFA push fatigue on {k}: {n} push notifications in {_duration(e - s)}"
        for k, n, s, e in zip(rows["key"], rows["count"], rows["start"], rows["end"])
    ]
    return _finish(rows, "mfa_push_fatigue")


def refresh_token_reuse(frame: pd.DataFrame, window: timedelta | str = timedelta(hours=1)) -> pd.DataFrame:
    """``ferrt`` events whose description reports a reused refresh token (``high``); events of one
    user within ``window`` of each other form one finding."""
    frame = prepare(frame)
    mask = _type_in(frame, REFRESH_REUSE_TYPE)
    candidates = np.flatnonzero(mask)
    if len(candidates):
        described = frame["description"].iloc[candidates].str.contains(REUSE_PATTERN, case=False, regex=True, na=False)
        mask[candidates] = described.to_numpy(dtype=bool)
    _, members, rows = _threshold_incidents(frame, mask, _user_or_ip_at, 1, window)
    if rows.empty:
        return empty_findings()
    ips = _distinct_ips(members)
    rows["severity"] = "high"
    rows["summary"] = [
        f"refresh-token reuse for {k}: {_plural(int(n), 'reused refresh token')}"
        + (f" from {_ip_list(i)}" if isinstance(i, list) and i else "")
        for k, n, i in zip(rows["key"], rows["count"], ips.reindex(rows.index))
    ]
    return _finish(rows, "refresh_token_reuse")


#: Detection name -> function, in report order.
DETECTIONS: dict[str, Callable[..., pd.DataFrame]] = {
    "brute_force": brute_force,
    "credential_stuffing": credential_stuffing,
    "impossible_travel": impossible_travel,
    "breached_password": breached_password,
    "lockout_spike": lockout_spike,
    "signup_fraud": signup_fraud,
    "mfa_push_fatigue": mfa_push_fatigue,
    "refresh_token_reuse": refresh_token_reuse,
}


def run_detections(
    frame: pd.DataFrame, only: list[str] | tuple[str, ...] | None = None, **thresholds: dict
) -> pd.DataFrame:
    """Run every detection (or ``only`` those named) and concatenate their findings by ``start``.

    ``thresholds`` maps a detection name to its keyword arguments, e.g.
    ``run_detections(df, brute_force={"min_failures": 3}, credential_stuffing={"window": "30min"})``.
    """
    unknown = sorted((set(thresholds) | set(only or ())) - set(DETECTIONS))
    if unknown:
        raise ValueError(f"unknown detections {unknown}; known: {', '.join(DETECTIONS)}")
    frame = prepare(frame)
    parts = [DETECTIONS[name](frame, **thresholds.get(name, {})) for name in (only or DETECTIONS)]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return empty_findings()
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["start", "detection", "key"], kind="stable").reset_index(drop=True)
