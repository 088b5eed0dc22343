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

from authviz.analytics import windows as win
from authviz.auth0.schema import TIMESTAMP_DTYPE

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
    return pd.DataFrame({
        "detection": pd.Series([], dtype=object), "severity": pd.Series([], dtype=object),
        "key": pd.Series([], dtype=object), "start": pd.Series([], dtype=TIMESTAMP_DTYPE),
        "end": pd.Series([], dtype=TIMESTAMP_DTYPE), "count": pd.Series([], dtype="int64"),
        "evidence_ids": pd.Series([], dtype=object), "summary": pd.Series([], dtype=object)})


_EMPTY = _empty_findings()


def _ns(window: timedelta | str | int) -> int:
    return int(pd.Timedelta(window).value)


def _text(series: pd.Series) -> pd.Series:
    """Object Series of str/None with empty strings as missing."""
    out = series.astype(object)
    return out.where(out.notna() & (out != ""), None)


def user_key(frame: pd.DataFrame) -> pd.Series:
    """The user an event is about: ``user_name``, else ``email``, else ``user_id``."""
    key = _text(frame["user_name"])
    for column in ("email", "user_id"):
        key = key.where(key.notna(), _text(frame[column]))
    return key


def tenant_key(frame: pd.DataFrame) -> pd.Series:
    return _text(frame["tenant"]).fillna(TENANT_FALLBACK)


class _Groups:
    """Events of one detection sorted by (key, time) with numpy views of codes and times."""

    def __init__(self, frame: pd.DataFrame, key: pd.Series) -> None:
        ts = frame["timestamp"]
        ok = key.notna().to_numpy() & ts.notna().to_numpy()
        sub = frame.loc[ok]
        codes, uniques = pd.factorize(key[ok], sort=False)
        t = ts[ok].to_numpy(dtype="datetime64[ns]").view("i8") if ok.any() else np.zeros(0, dtype=np.int64)
        order = np.lexsort((t, codes))
        self.frame = sub.iloc[order].reset_index(drop=True)
        self.codes = codes[order].astype(np.int64)
        self.t = t[order]
        self.keys = np.asarray(uniques, dtype=object)

    def __len__(self) -> int:
        return len(self.t)

    def members(self, incident: np.ndarray) -> pd.DataFrame:
        """Rows in an incident, with ``incident`` and ``key`` columns added."""
        mask = incident >= 0
        out = self.frame.loc[mask].copy()
        out["incident"] = incident[mask]
        out["key"] = self.keys[self.codes[mask]]
        return out


def _summarise(members: pd.DataFrame) -> pd.DataFrame:
    """One row per incident: key, start, end, count, evidence_ids."""
    grouped = members.groupby("incident", sort=True)
    out = grouped.agg(key=("key", "first"), start=("timestamp", "min"), end=("timestamp", "max"),
                      count=("event_id", "size"))
    out["evidence_ids"] = grouped["event_id"].agg(list)
    return out


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


def _threshold_incidents(frame: pd.DataFrame, mask: pd.Series | np.ndarray, key: Callable[[pd.DataFrame], pd.Series],
                         min_events: int, window: timedelta | str) -> tuple[_Groups, pd.DataFrame, pd.DataFrame]:
    """Incidents where >= ``min_events`` events of one key fall within ``window``."""
    mask = np.asarray(mask, dtype=bool)
    if mask.sum() < max(int(min_events), 1):  # cheap exit: most batches have none of these types
        return None, pd.DataFrame(), pd.DataFrame()  # type: ignore[return-value]
    sub = frame.loc[mask]
    groups = _Groups(sub, key(sub))
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
    codes = (codes,) if isinstance(codes, str) else codes
    return frame["type"].isin(list(codes)).fillna(False).to_numpy(dtype=bool, copy=True)


def _add_success(rows: pd.DataFrame, success: pd.DataFrame) -> pd.DataFrame:
    if success.empty:
        rows["successes"] = 0
        return rows
    extra = success.groupby("incident").agg(successes=("event_id", "size"), success_ids=("event_id", list),
                                            last_success=("timestamp", "max"))
    rows = rows.join(extra)
    rows["successes"] = rows["successes"].fillna(0).astype("int64")
    has = rows["successes"] > 0
    rows["evidence_ids"] = [ids + extra_ids if isinstance(extra_ids, list) else ids
                            for ids, extra_ids in zip(rows["evidence_ids"], rows["success_ids"])]
    rows.loc[has, "count"] = rows.loc[has, "count"] + rows.loc[has, "successes"]
    rows.loc[has, "end"] = rows.loc[has, ["end", "last_success"]].max(axis=1)
    return rows


def _success_frame(frame: pd.DataFrame, key: Callable[[pd.DataFrame], pd.Series]) -> pd.DataFrame:
    succ = frame.loc[_category(frame, "login_success"), ["event_id", "timestamp", "ip", "user_name", "email", "user_id"]]
    return succ.assign(key=key(succ) if len(succ) else pd.Series(dtype=object))


# ------------------------------------------------------------------------------------ detections
def brute_force(frame: pd.DataFrame, min_failures: int = 5, window: timedelta | str = timedelta(hours=1),
                success_within: timedelta | str = timedelta(hours=1)) -> pd.DataFrame:
    """>= ``min_failures`` failed logins for one user within ``window`` (``info``); a successful
    login of that user during the failures or within ``success_within`` after the last one raises it to
    ``medium`` (Datadog's "Brute force attack on an Auth0 user")."""
    _, members, rows = _threshold_incidents(frame, _category(frame, "login_failure"), user_key, min_failures, window)
    if rows.empty:
        return empty_findings()
    success = _followed_by(rows, _success_frame(frame, user_key), _ns(success_within), from_start=True)
    rows = _add_success(rows, success)
    ips = members.groupby("incident")["ip"].agg(lambda s: s.dropna().unique().tolist())
    rows["severity"] = np.where(rows["successes"] > 0, "medium", "info")
    failures = rows["count"] - rows["successes"]
    rows["summary"] = [
        f"brute force on {key}: {_plural(int(n), 'failed login')} in {_duration(end - start)}"
        + (f" from {_ip_list(ip)}" if ip else "") + (", then a successful login" if s else "")
        for key, n, start, end, ip, s in zip(rows["key"], failures, rows["start"], rows["end"], ips.reindex(rows.index), rows["successes"])
    ]
    return _finish(rows, "brute_force")


def _ip_list(ips: list, most: int = 2) -> str:
    shown = ", ".join(map(str, ips[:most]))
    return shown + (f" and {len(ips) - most} more" if len(ips) > most else "")


def credential_stuffing(frame: pd.DataFrame, min_users: int = 10, window: timedelta | str = timedelta(hours=1),
                        success_within: timedelta | str = timedelta(hours=1)) -> pd.DataFrame:
    """Failed logins for >= ``min_users`` distinct users from one IP within ``window`` (``info``);
    with a successful login from that IP during or within ``success_within`` after it: ``high``."""
    failures = _category(frame, "login_failure")
    if failures.sum() < int(min_users):
        return empty_findings()
    sub = frame.loc[failures]
    groups = _Groups(sub, _text(sub["ip"]))
    if len(groups) == 0:
        return empty_findings()
    w = _ns(window)
    users = user_key(groups.frame)
    user_codes = pd.factorize(users)[0].astype(np.int64)  # -1 for missing: not counted
    distinct = win.rolling_distinct(groups.codes, groups.t, user_codes, w)
    start = win.window_start(groups.codes, groups.t, w)
    incident = win.incidents(groups.codes, groups.t, start, distinct >= int(min_users), w)
    members = groups.members(incident)
    if members.empty:
        return empty_findings()
    members["user"] = user_key(members)
    rows = _summarise(members)
    rows["users"] = members.groupby("incident")["user"].nunique()
    succ = frame.loc[_category(frame, "login_success"), ["event_id", "timestamp", "ip"]]
    succ = succ.assign(key=_text(succ["ip"]))
    success = _followed_by(rows, succ, _ns(success_within), from_start=True)
    rows = _add_success(rows, success)
    rows["severity"] = np.where(rows["successes"] > 0, "high", "info")
    rows["summary"] = [f"credential stuffing from {key}: {_plural(int(u), 'user')}, {_plural(int(s), 'success', 'successes')}"
                       for key, u, s in zip(rows["key"], rows["users"], rows["successes"])]
    return _finish(rows, "credential_stuffing")


def impossible_travel(frame: pd.DataFrame, min_distance_km: float = 500.0, min_speed_kmh: float = 1000.0) -> pd.DataFrame:
    """Two consecutive successful logins of one user more than ``min_distance_km`` apart implying
    more than ``min_speed_kmh`` (great-circle distance; zero time = infinite speed). Chains of
    such hops (A -> B -> A) share their middle login and form one ``medium`` finding."""
    mask = _category(frame, "login_success") & frame["latitude"].notna().to_numpy() & frame["longitude"].notna().to_numpy()
    if mask.sum() < 2:
        return empty_findings()
    sub = frame.loc[mask]
    groups = _Groups(sub, user_key(sub))
    n = len(groups)
    if n < 2:
        return empty_findings()
    lat = groups.frame["latitude"].to_numpy(dtype=float)
    lon = groups.frame["longitude"].to_numpy(dtype=float)
    same = groups.codes[1:] == groups.codes[:-1]
    km = win.haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
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
    pairs = pd.DataFrame({"incident": chain[hop], "km": km[hop], "speed": speed[hop], "hours": hours[hop],
                          "a": np.flatnonzero(hop), "b": np.flatnonzero(hop) + 1})
    worst = pairs.sort_values("speed", ascending=False, kind="stable").drop_duplicates("incident").set_index("incident")
    place = (groups.frame["city"].astype(object).fillna("?") + ", " + groups.frame["country_code"].astype(object).fillna("?")).to_numpy()
    rows["severity"] = "medium"
    rows["summary"] = [
        f"impossible travel for {key}: {place[int(w.a)]} → {place[int(w.b)]}, {w.km:,.0f} km in {_duration(pd.Timedelta(hours=w.hours))}"
        + (f" ({w.speed:,.0f} km/h)" if np.isfinite(w.speed) else " (same instant)")
        for key, w in zip(rows["key"], worst.reindex(rows.index).itertuples())
    ]
    return _finish(rows, "impossible_travel")


def breached_password(frame: pd.DataFrame, window: timedelta | str = timedelta(hours=1)) -> pd.DataFrame:
    """Every ``pwd_leak`` / ``reset_pwd_leak`` / ``signup_pwd_leak`` event (``medium``); events of
    one user (or, without a user, one IP) within ``window`` of each other form one finding."""
    def key(sub: pd.DataFrame) -> pd.Series:
        k = user_key(sub)
        return k.where(k.notna(), _text(sub["ip"]))
    _, members, rows = _threshold_incidents(frame, _type_in(frame, BREACHED_PASSWORD_TYPES), key, 1, window)
    if rows.empty:
        return empty_findings()
    kinds = members.groupby("incident")["type"].agg(lambda s: ", ".join(sorted(set(map(str, s)))))
    rows["severity"] = "medium"
    rows["summary"] = [f"breached password for {k}: {_plural(int(n), 'attempt')} with a leaked password ({kind})"
                       for k, n, kind in zip(rows["key"], rows["count"], kinds.reindex(rows.index))]
    return _finish(rows, "breached_password")


def lockout_spike(frame: pd.DataFrame, min_events: int = 5, window: timedelta | str = timedelta(hours=1)) -> pd.DataFrame:
    """More than four (``min_events`` = 5) ``limit_mu``/``limit_sul``/``limit_wc`` blocks on one
    tenant within ``window`` (``medium``)."""
    _, members, rows = _threshold_incidents(frame, _type_in(frame, LOCKOUT_TYPES), tenant_key, min_events, window)
    if rows.empty:
        return empty_findings()
    ips = members.groupby("incident")["ip"].nunique()
    rows["severity"] = "medium"
    rows["summary"] = [f"lockout spike on {k}: {n} account/IP blocks in {_duration(e - s)} from {_plural(int(i), 'IP')}"
                       for k, n, s, e, i in zip(rows["key"], rows["count"], rows["start"], rows["end"], ips.reindex(rows.index))]
    return _finish(rows, "lockout_spike")


def signup_fraud(frame: pd.DataFrame, min_events: int = 20, window: timedelta | str = timedelta(minutes=60)) -> pd.DataFrame:
    """>= ``min_events`` ``ss``/``fs``/``signup_pwd_leak`` on one tenant within ``window``
    (``medium``; Panther's "Auth0 fraud risk volume")."""
    _, members, rows = _threshold_incidents(frame, _type_in(frame, SIGNUP_TYPES), tenant_key, min_events, window)
    if rows.empty:
        return empty_findings()
    ips = members.groupby("incident")["ip"].nunique()
    rows["severity"] = "medium"
    rows["summary"] = [f"sign-up fraud volume on {k}: {n} sign-ups in {_duration(e - s)} from {_plural(int(i), 'IP')}"
                       for k, n, s, e, i in zip(rows["key"], rows["count"], rows["start"], rows["end"], ips.reindex(rows.index))]
    return _finish(rows, "signup_fraud")


def mfa_push_fatigue(frame: pd.DataFrame, min_pushes: int = 5, window: timedelta | str = timedelta(minutes=30)) -> pd.DataFrame:
    """>= ``min_pushes`` ``gd_send_pn`` (MFA push sent) for one user within ``window`` (``high``)."""
    _, _, rows = _threshold_incidents(frame, _type_in(frame, MFA_PUSH_TYPE), user_key, min_pushes, window)
    if rows.empty:
        return empty_findings()
    rows["severity"] = "high"
    rows["summary"] = [f"MFA push fatigue on {k}: {n} push notifications in {_duration(e - s)}"
                       for k, n, s, e in zip(rows["key"], rows["count"], rows["start"], rows["end"])]
    return _finish(rows, "mfa_push_fatigue")


def refresh_token_reuse(frame: pd.DataFrame, window: timedelta | str = timedelta(hours=1)) -> pd.DataFrame:
    """``ferrt`` events whose description reports a reused refresh token (``high``); events of one
    user within ``window`` of each other form one finding."""
    mask = _type_in(frame, REFRESH_REUSE_TYPE)
    if mask.any():
        mask = mask & frame["description"].str.contains(REUSE_PATTERN, case=False, regex=True, na=False).to_numpy(dtype=bool)
    def key(sub: pd.DataFrame) -> pd.Series:
        k = user_key(sub)
        return k.where(k.notna(), _text(sub["ip"]))
    _, members, rows = _threshold_incidents(frame, mask, key, 1, window)
    if rows.empty:
        return empty_findings()
    ips = members.groupby("incident")["ip"].agg(lambda s: s.dropna().unique().tolist())
    rows["severity"] = "high"
    rows["summary"] = [f"refresh-token reuse for {k}: {_plural(int(n), 'reused refresh token')}" + (f" from {_ip_list(i)}" if i else "")
                       for k, n, i in zip(rows["key"], rows["count"], ips.reindex(rows.index))]
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


def run_detections(frame: pd.DataFrame, only: list[str] | tuple[str, ...] | None = None, **thresholds: dict) -> pd.DataFrame:
    """Run every detection (or ``only`` those named) and concatenate their findings by ``start``.

    ``thresholds`` maps a detection name to its keyword arguments, e.g.
    ``run_detections(df, brute_force={"min_failures": 3}, credential_stuffing={"window": "30min"})``.
    """
    unknown = sorted((set(thresholds) | set(only or ())) - set(DETECTIONS))
    if unknown:
        raise ValueError(f"unknown detections {unknown}; known: {', '.join(DETECTIONS)}")
    parts = [DETECTIONS[name](frame, **thresholds.get(name, {})) for name in (only or DETECTIONS)]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return empty_findings()
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["start", "detection", "key"], kind="stable").reset_index(drop=True)
