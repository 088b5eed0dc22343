"""Helpers for the widget tests: event dicts shaped like ``AuthEvent.to_dict()`` and an HTML text
extractor to check what a person would read."""

from __future__ import annotations

from html.parser import HTMLParser


def event(
    category: str = "login_success",
    *,
    n: int = 0,
    email: str | None = None,
    country: str = "France",
    iso3: str = "FRA",
    **extra: object,
) -> dict:
    record = {
        "event_id": f"e{n}",
        "timestamp": f"2026-03-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "category": category,
        "email": email if email is not None else f"user{n}@example.com",
        "user_name": None,
        "user_id": f"auth0|{n}",
        "country_name": country,
        "country_iso3": iso3,
        "description": "Wrong email or password." if category == "login_failure" else None,
        "ip": "198.51.100.7",
    }
    record.update(extra)
    return record


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "style":
            self._skip += 1

    def handle_endtag(self, tag):
        if tag == "style":
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The text a browser shows for ``html`` (style blocks excluded)."""
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)


def tags(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.tags
