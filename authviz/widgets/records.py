"""Turn whatever a source hands over into the small, plain record the widgets draw.

Widgets accept :class:`authviz.auth0.AuthEvent` objects or mappings with the schema's column names
(``AuthEvent.to_dict()``, a DataFrame row as a dict, the ``auth-event`` payload). Only the fields a
widget shows are read; nothing here touches HTML: escaping happens where HTML is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

#: How each category reads in the feed (the tutorial's "Sign Up:" / "Log In:" first) and its style.
CATEGORY_LABELS: dict[str, str] = {
    "signup": "Sign Up",
    "login_success": "Log In",
    "login_failure": "Failed Log In",
    "signup_failure": "Failed Sign Up",
    "logout": "Log Out",
    "logout_failure": "Failed Log Out",
    "password_change": "Password Changed",
    "password_reset": "Password Reset",
    "breached_password": "Breached Password",
    "blocked": "Blocked",
    "mfa": "MFA",
    "token_exchange": "Token Exchange",
    "silent_auth": "Silent Auth",
    "management_api": "Management API",
    "other": "Other",
}

#: The look of each category: "ok" (green), "fail" (red), "warn" (amber), "info" (grey).
CATEGORY_TONES: dict[str, str] = {
    "signup": "ok",
    "login_success": "ok",
    "login_failure": "fail",
    "signup_failure": "fail",
    "logout_failure": "fail",
    "breached_password": "warn",
    "blocked": "warn",
    "password_change": "warn",
    "password_reset": "warn",
}


#: Tenants whose events the authviz simulator made (``TrafficGenerator``'s default tenant): such
#: rows are marked "simulated" so nobody takes them for real sign-ins.
SIMULATED_TENANTS: frozenset[str] = frozenset({"acme-prod"})


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """The fields the widgets show of one event; strings are raw (unescaped) text or ``""``.

    ``timestamp`` is kept as received (parsed only when a row is drawn: most rows never are).
    """

    event_id: str
    timestamp: Any
    category: str
    who: str
    user_id: str
    country_name: str
    country_iso3: str
    description: str
    ip: str
    tenant: str = ""

    @property
    def simulated(self) -> bool:
        return self.tenant in SIMULATED_TENANTS

    @property
    def time(self) -> datetime | None:
        return parse_timestamp(self.timestamp)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        return value
    try:
        if value != value:  # NaN / pd.NA compare unequal to themselves
            return ""
    except (TypeError, ValueError):  # pd.NA raises on bool()
        return ""
    return str(value)


def parse_timestamp(value: Any) -> datetime | None:
    """A tz-aware UTC datetime from a datetime/Timestamp/ISO string/epoch ms; ``None`` if unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value / 1000.0, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


_FIELDS = (
    "event_id",
    "timestamp",
    "category",
    "email",
    "user_name",
    "user_id",
    "country_name",
    "country_iso3",
    "description",
    "ip",
)


def to_record(event: Any) -> FeedRecord:
    """The :class:`FeedRecord` of an ``AuthEvent`` or schema mapping; unknown categories read ``other``.

    Hot path (called once per event by the pump): plain dicts take the fast branch.
    """
    if type(event) is FeedRecord:
        return event
    if type(event) is dict:
        get = event.get
    elif isinstance(event, Mapping):
        get = event.get
    else:

        def get(name: str, _e: Any = event) -> Any:
            return getattr(_e, name, None)

    category = _text(get("category")) or "other"
    if category not in CATEGORY_LABELS:
        category = "other"
    who = _text(get("email")) or _text(get("user_name")) or _text(get("user_id"))
    return FeedRecord(
        event_id=_text(get("event_id")),
        timestamp=get("timestamp"),
        category=category,
        who=who,
        user_id=_text(get("user_id")),
        country_name=_text(get("country_name")),
        country_iso3=_text(get("country_iso3")),
        description=_text(get("description")),
        ip=_text(get("ip")),
        tenant=_text(get("tenant")),
    )
