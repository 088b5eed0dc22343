"""Descriptive analytics on the event DataFrame: activity over time, top lists, new vs returning.

All functions are pure, vectorised, and accept any frame with the schema columns
(:mod:`authviz.auth0.schema`); an empty frame gives an empty (but well-typed) answer.
"""

from __future__ import annotations

import pandas as pd

#: Categories counted in :func:`time_series` (column name -> schema category).
SERIES_CATEGORIES: dict[str, str] = {
    "logins": "login_success",
    "signups": "signup",
    "failures": "login_failure",
}
TOP_DIMENSIONS = ("country_name", "country_code", "ip", "client_name", "connection", "user_name", "city", "type")


def time_series(frame: pd.DataFrame, interval: str = "1h") -> pd.DataFrame:
    """Counts per ``interval`` (a pandas frequency: ``"15min"``, ``"1h"``, ``"1D"``): ``logins``,
    ``signups``, ``failures``, ``events`` (all), and ``failure_rate`` = failures / (failures +
    logins), NaN when there were neither. Indexed by interval start (UTC); empty intervals are 0."""
    columns = [*SERIES_CATEGORIES, "events"]
    if frame.empty:
        out = pd.DataFrame(
            {c: pd.Series([], dtype="int64") for c in columns}, index=pd.DatetimeIndex([], tz="UTC", name="timestamp")
        )
        out["failure_rate"] = pd.Series([], dtype="float64")
        return out
    ts = frame["timestamp"]
    ok = ts.notna()
    category = frame.loc[ok, "category"].astype(object)
    bucket = ts[ok].dt.floor(interval)
    data = {name: (category == cat).astype("int64") for name, cat in SERIES_CATEGORIES.items()}
    data["events"] = pd.Series(1, index=category.index, dtype="int64")
    counts = pd.DataFrame(data).groupby(bucket.to_numpy()).sum()
    full = pd.date_range(counts.index.min(), counts.index.max(), freq=interval, tz="UTC")
    counts.index = pd.DatetimeIndex(counts.index).tz_localize("UTC") if counts.index.tz is None else counts.index
    counts = counts.reindex(full, fill_value=0)
    counts.index.name = "timestamp"
    attempts = counts["failures"] + counts["logins"]
    counts["failure_rate"] = (counts["failures"] / attempts.where(attempts > 0)).astype("float64")
    return counts


def top(frame: pd.DataFrame, column: str, n: int = 10, category: str | tuple[str, ...] | None = None) -> pd.DataFrame:
    """The ``n`` most frequent values of ``column`` (optionally among events of ``category``),
    with ``count`` and ``share`` of the counted events. Missing values are left out."""
    if column not in frame.columns:
        raise ValueError(f"unknown column {column!r}; try one of {', '.join(TOP_DIMENSIONS)}")
    sub = frame
    if category is not None:
        cats = [category] if isinstance(category, str) else list(category)
        sub = frame.loc[frame["category"].isin(cats).fillna(False)]
    values = sub[column].dropna()
    counts = values.astype(object).value_counts().head(n)
    out = pd.DataFrame({column: counts.index.astype(object), "count": counts.to_numpy(dtype="int64")})
    out["share"] = out["count"] / max(len(values), 1)
    return out


def top_countries(frame: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` countries with the most events (``country_name``, ``count``, ``share``)."""
    return top(frame, "country_name", n)


def top_ips(frame: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    return top(frame, "ip", n)


def top_clients(frame: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    return top(frame, "client_name", n)


def top_connections(frame: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    return top(frame, "connection", n)


def new_vs_returning(frame: pd.DataFrame, interval: str = "1D") -> pd.DataFrame:
    """Distinct users with a successful login per ``interval``, split into ``new`` (first login
    seen in this frame falls in the interval) and ``returning`` (seen in an earlier interval).

    Users are identified by ``user_id``, else ``user_name``/``email``. Note that the first interval
    of any frame counts everyone as new: the frame's history is all it knows."""
    logins = frame.loc[(frame["category"] == "login_success").fillna(False) & frame["timestamp"].notna()]
    user = logins["user_id"].astype(object)
    for column in ("user_name", "email"):
        user = user.where(user.notna() & (user != ""), logins[column].astype(object))
    ok = user.notna() & (user != "")
    if not ok.any():
        return pd.DataFrame(
            {"new": pd.Series([], dtype="int64"), "returning": pd.Series([], dtype="int64")},
            index=pd.DatetimeIndex([], tz="UTC", name="timestamp"),
        )
    bucket = logins.loc[ok, "timestamp"].dt.floor(interval)
    pairs = pd.DataFrame({"user": user[ok].to_numpy(), "bucket": bucket.to_numpy()}).drop_duplicates()
    first = pairs.groupby("user")["bucket"].transform("min")
    pairs["new"] = pairs["bucket"] == first
    out = pairs.groupby("bucket")["new"].agg(new="sum", total="size")
    out["returning"] = out["total"] - out["new"]
    out = out[["new", "returning"]].astype("int64")
    idx = pd.DatetimeIndex(out.index)
    out.index = (idx if idx.tz is not None else idx.tz_localize("UTC")).rename("timestamp")
    return out
