"""The normalised event schema: categories, sources and DataFrame columns with their dtypes.

This module is the contract between the parser (``authviz.auth0``), the bridge, the live client,
the widgets and the analytics: every DataFrame of events has exactly these columns, in this order,
with these dtypes (``empty_frame()`` builds one with no rows).

``raw`` is the whole original record as JSON text (the line as it was read, or the record
re-serialised): the Parquet archive that ``authviz logs convert`` writes carries it, so a rule can
read any field of Auth0's ``data`` object (in DuckDB: ``raw->>'$.data.details.request.path'``).
The columns did not change when the bulk reader gained its DuckDB engine.
"""

from __future__ import annotations

import pandas as pd

#: The only values ``category`` takes. Unknown Auth0 type codes map to ``"other"``.
CATEGORIES: tuple[str, ...] = (
    "login_success",
    "login_failure",
    "signup",
    "signup_failure",
    "logout",
    "logout_failure",
    "password_change",
    "password_reset",
    "breached_password",
    "blocked",
    "mfa",
    "token_exchange",
    "silent_auth",
    "management_api",
    "other",
)

#: Which shape an event came from.
SOURCES: tuple[str, ...] = (
    "rule",  # payload of the classic tutorial Rule (user profile + country)
    "action",  # Actions post-login `event` object
    "log_stream",  # Log Streaming custom webhook record {"log_id", "data"}
    "management_api",  # /api/v2/logs entry (flat, `_id`, `isMobile`)
    "eventbridge",  # EventBridge envelope {"detail": {"log_id", "data"}}
)

CATEGORY_DTYPE = pd.CategoricalDtype(list(CATEGORIES))
SOURCE_DTYPE = pd.CategoricalDtype(list(SOURCES))
STRING_DTYPE = pd.StringDtype()
TIMESTAMP_DTYPE = pd.DatetimeTZDtype("ns", "UTC")

#: Column name -> dtype, in DataFrame order. ``raw`` holds the untouched record as JSON text.
COLUMNS: dict[str, object] = {
    "event_id": STRING_DTYPE,
    "timestamp": TIMESTAMP_DTYPE,
    "type": STRING_DTYPE,
    "category": CATEGORY_DTYPE,
    "description": STRING_DTYPE,
    "user_id": STRING_DTYPE,
    "user_name": STRING_DTYPE,
    "email": STRING_DTYPE,
    "connection": STRING_DTYPE,
    "client_id": STRING_DTYPE,
    "client_name": STRING_DTYPE,
    "ip": STRING_DTYPE,
    "user_agent": STRING_DTYPE,
    "country_code": STRING_DTYPE,
    "country_iso3": STRING_DTYPE,
    "country_name": STRING_DTYPE,
    "city": STRING_DTYPE,
    "latitude": "float64",
    "longitude": "float64",
    "is_mobile": "boolean",
    "tenant": STRING_DTYPE,
    "source": SOURCE_DTYPE,
    "raw": STRING_DTYPE,
}


def empty_frame() -> pd.DataFrame:
    """A DataFrame with every schema column, the right dtypes and no rows."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in COLUMNS.items()})


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the schema columns, in order, cast to the schema dtypes.

    Missing columns are added as all-missing; extra columns are dropped.
    """
    out = {}
    n = len(frame)
    for name, dtype in COLUMNS.items():
        if name in frame.columns:
            column = frame[name]
            if name == "timestamp":
                column = pd.to_datetime(column, utc=True).astype(TIMESTAMP_DTYPE)
            else:
                column = column.astype(dtype)
        else:
            column = pd.Series([None] * n, index=frame.index, dtype=dtype if dtype != "float64" else "float64")
        out[name] = column
    return pd.DataFrame(out, index=frame.index)
