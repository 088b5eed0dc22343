"""Historical import from a tenant: ``GET /api/v2/logs`` with checkpoint paging, to Parquet by day.

Protocol facts (Auth0 docs, "Retrieve log events using the Management API"): ``from=<log_id>&take=<=100``
returns a bare JSON array of the logs *after* that id, ordered by ``log_id``; the next page is the
``rel="next"`` URL of the ``Link`` header, and an empty array means caught up (its next link
repeats the request). Without ``from`` the first page starts at the oldest retained log. Rate
limits answer 429 with ``x-ratelimit-limit/remaining/reset`` (reset = epoch seconds) and may carry
``Retry-After``. A client-credentials token comes from ``POST https://DOMAIN/oauth/token`` with
audience ``https://DOMAIN/api/v2/``.

Durability invariants: pages are buffered and written every ``flush_every`` logs as
``DIR/date=YYYY-MM-DD/part-<first log_id>.parquet`` (temp file + rename), and only then is the last
written ``log_id`` saved in ``DIR/.authviz-pull.json`` (also temp + rename). A crash therefore loses
at most the unsaved buffer, which the next run fetches again from the saved checkpoint; since a
part file is named after its first log, a re-fetched batch overwrites its own earlier file instead
of duplicating it (batches restart exactly at the saved checkpoint, so a batch always starts at the
same log). Records the parser rejects go to ``DIR/_rejects.jsonl`` with the reason; temporary
files start with "." so ``pandas.read_parquet(DIR)`` never sees them.
The token is sent only to the configured origin (a ``Link`` to another host is refused) and never
logged.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from authviz import __version__
from authviz.auth0 import read_logs
from authviz.errors import AuthvizError, SettingError

MAX_PAGE_SIZE = 100  # Auth0's limit for `take`
STATE_FILE = ".authviz-pull.json"
REJECTS_FILE = "_rejects.jsonl"  # "_" and "." prefixes: Parquet dataset readers skip them
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class PullError(AuthvizError):
    """The import stopped; the sentence says why and what to do. Progress so far is saved."""


@dataclass
class PullState:
    """What ``DIR/.authviz-pull.json`` holds: the tenant and the last log written."""

    domain: str
    last_log_id: str | None = None
    pulled: int = 0
    updated_at: float = 0.0

    @classmethod
    def load(cls, out_dir: Path) -> PullState | None:
        path = out_dir / STATE_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return cls(domain=str(data["domain"]), last_log_id=data.get("last_log_id"),
                       pulled=int(data.get("pulled", 0)), updated_at=float(data.get("updated_at", 0)))
        except (ValueError, KeyError, TypeError) as error:
            raise PullError(f"the checkpoint file {path} is unreadable ({error}); remove it to start over, or give from_log_id").naming("from_log_id") from error

    def save(self, out_dir: Path) -> None:
        self.updated_at = time.time()
        _atomic_write(out_dir / STATE_FILE, json.dumps(asdict(self), indent=2).encode())


@dataclass
class PullResult:
    pulled: int = 0
    pages: int = 0
    retries: int = 0
    last_log_id: str | None = None
    files: list[Path] = field(default_factory=list)
    rejects: int = 0
    caught_up: bool = False


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name("." + path.name.lstrip(".") + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def normalise_domain(domain: str) -> str:
    """``tenant.eu.auth0.com`` from what a user may paste (scheme and trailing slash removed)."""
    text = (domain or "").strip()
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    text = text.rstrip("/")
    host = urlsplit("//" + text).hostname if text else None
    if not text or "/" in text or not host or any(c.isspace() for c in text):
        raise SettingError(f"domain {domain!r} is not a tenant domain such as acme.eu.auth0.com", "domain")
    return text


def base_url_for(domain: str, base_url: str | None = None) -> str:
    """``https://DOMAIN`` or a validated override (http is only allowed on loopback, for tests)."""
    if not base_url:
        return f"https://{domain}"
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(f"base_url {base_url!r} must be an http(s) URL", "base_url")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise SettingError("base_url may use plain http only on 127.0.0.1 (a local test server); use https",
                           "base_url")
    return f"{parts.scheme}://{parts.netloc}"


def retry_delay(headers: Mapping[str, str], now: float, attempt: int) -> float:
    """Seconds to wait after a 429/5xx: ``Retry-After`` (seconds or HTTP date), else
    ``x-ratelimit-reset`` (epoch seconds), else exponential backoff 1, 2, 4... s."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = headers.get("x-ratelimit-reset") or headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            pass
    return float(2 ** min(attempt, 6))


class PartitionWriter:
    """Writes schema frames as ``DIR/date=YYYY-MM-DD/part-<first event_id>.parquet``."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir

    def write(self, frame) -> list[Path]:
        if frame.empty:
            return []
        days = frame["timestamp"].dt.strftime("%Y-%m-%d").astype(object).fillna("unknown")
        written = []
        for day, part in frame.groupby(days.to_numpy(), sort=True):
            directory = self.out_dir / f"date={day}"
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"part-{part['event_id'].iloc[0]}.parquet"
            tmp = path.with_name("." + path.name + ".tmp")
            pq.write_table(pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False), tmp)
            os.replace(tmp, path)
            written.append(path)
        return written


async def fetch_token(session: aiohttp.ClientSession, base: str, domain: str, client_id: str, client_secret: str) -> str:
    """A Management API token by the client-credentials grant."""
    body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
            "audience": f"https://{domain}/api/v2/"}
    try:
        async with session.post(f"{base}/oauth/token", json=body) as response:
            payload = await _json(response)
            if response.status != 200:
                reason = payload.get("error_description") or payload.get("error") if isinstance(payload, dict) else None
                raise PullError(f"{domain} refused the client credentials ({response.status}{': ' + str(reason) if reason else ''}); "
                                "check --client-id/--client-secret and that the application is authorized for the Management API")
    except aiohttp.ClientError as error:
        raise PullError(f"cannot reach {base}/oauth/token ({error.__class__.__name__}); check domain and the network"
                        ).naming("domain") from error
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token:
        raise PullError(f"{domain}'s token endpoint answered without an access_token")
    return token


async def _json(response: aiohttp.ClientResponse) -> Any:
    text = await response.text()
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


async def pull_logs(domain: str, out_dir: str | Path, *, token: str | None = None, client_id: str | None = None,
                    client_secret: str | None = None, base_url: str | None = None, from_log_id: str | None = None,
                    page_size: int = MAX_PAGE_SIZE, limit: int | None = None, flush_every: int = 10_000,
                    max_retries: int = 5, max_wait: float = 60.0, progress: bool = True,
                    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, timeout: float = 30.0) -> PullResult:
    """Pull logs after the checkpoint (``from_log_id``, else the saved state, else the oldest) into
    ``out_dir``. ``limit`` caps the number of logs this run; ``max_wait`` is the longest rate-limit
    pause accepted before stopping with a "run again later" error (progress is saved first)."""
    domain = normalise_domain(domain)
    base = base_url_for(domain, base_url)
    if not 1 <= int(page_size) <= MAX_PAGE_SIZE:
        raise SettingError(f"page_size must be between 1 and {MAX_PAGE_SIZE} (Auth0's page limit), not {page_size}",
                           "page_size")
    if limit is not None and limit < 1:
        raise SettingError("limit must be at least 1", "limit")
    if not token and not (client_id and client_secret):
        raise SettingError("give token, or client_id and client_secret", "token", "client_id", "client_secret")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = PullState.load(out)
    if state is not None and state.domain != domain:
        raise PullError(f"{out} holds logs of {state.domain}, not {domain}; use another directory")
    state = state or PullState(domain=domain)
    start = from_log_id or state.last_log_id
    result = PullResult(last_log_id=start)
    writer = PartitionWriter(out)
    buffer: list[dict] = []

    def flush() -> None:
        if not buffer:
            return
        parsed = read_logs(list(buffer), source_shape="management_api")
        result.files.extend(writer.write(parsed.frame))
        if parsed.rejects:
            with open(out / REJECTS_FILE, "ab") as handle:
                for reject in parsed.rejects:
                    handle.write(json.dumps(reject.to_dict(), default=str).encode() + b"\n")
            result.rejects += len(parsed.rejects)
        last = next((e.get("log_id") or e.get("_id") for e in reversed(buffer) if isinstance(e, dict)), None)
        if last:
            state.last_log_id = result.last_log_id = str(last)
        state.pulled += len(buffer)
        state.save(out)
        buffer.clear()

    query = {"take": int(page_size)}
    if start:
        query["from"] = start
    url = f"{base}/api/v2/logs?{urlencode(query)}"
    headers = {"Accept": "application/json", "User-Agent": f"authviz/{__version__}"}
    bar = tqdm(total=limit, unit="log", desc=f"pulling {domain}", disable=None if progress else True, file=sys.stderr, leave=False)  # None: off when stderr is not a terminal
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            bearer = token or await fetch_token(session, base, domain, client_id or "", client_secret or "")
            refreshed = False
            while limit is None or result.pulled < limit:
                attempt = 0
                while True:
                    try:
                        async with session.get(url, headers={**headers, "Authorization": f"Bearer {bearer}"}) as response:
                            status = response.status
                            payload = await _json(response)
                            link = response.links.get("next", {}).get("url")
                            next_url = str(link) if link is not None else None
                            response_headers = response.headers
                    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                        status, payload, next_url, response_headers = -1, None, None, {}
                        network_error: Exception | None = error
                    else:
                        network_error = None
                    if status == 200:
                        break
                    if status == 401 and client_id and client_secret and not refreshed:
                        bearer, refreshed = await fetch_token(session, base, domain, client_id, client_secret), True
                        continue
                    if status in (401, 403):
                        message = payload.get("message") if isinstance(payload, dict) else None
                        raise PullError(f"{domain} refused the token ({status}{': ' + message if message else ''}); "
                                        "check --token, or that the application has the read:logs scope")
                    if status == 429 or status == -1 or status >= 500:
                        attempt += 1
                        result.retries += 1
                        delay = retry_delay(response_headers, time.time(), attempt - 1)
                        if attempt > max_retries:
                            what = "the rate limit" if status == 429 else ("the network" if status == -1 else f"server errors ({status})")
                            raise PullError(f"gave up after {max_retries} retries because of {what}; "
                                            "run the same command again later: it resumes from the last saved log")
                        if delay > max_wait:
                            raise PullError(f"{domain}'s rate limit resets in {math.ceil(delay)} s (more than max_wait "
                                            f"{max_wait:g} s); run the same command again later: it resumes from the last saved log"
                                            ).naming("max_wait")
                        await sleep(delay)
                        continue
                    message = payload.get("message") if isinstance(payload, dict) else None
                    raise PullError(f"{domain} answered {status} to the logs request"
                                    + (f": {message}" if message else "") + (f" ({network_error})" if network_error else ""))
                if not isinstance(payload, list):
                    raise PullError(f"{domain} answered the checkpoint request without a JSON array; is domain an Auth0 tenant?"
                                    ).naming("domain")
                result.pages += 1
                if not payload:
                    result.caught_up = True
                    break
                if limit is not None:
                    payload = payload[: limit - result.pulled]
                buffer.extend(payload)
                result.pulled += len(payload)
                bar.update(len(payload))
                if len(buffer) >= flush_every:
                    flush()
                if not next_url:
                    break  # nothing to follow: stop here, the checkpoint is saved
                if next_url == url:
                    result.caught_up = True
                    break
                if not _same_origin(next_url, base):
                    raise PullError(f"refusing to follow a next-page link to another host ({urlsplit(next_url).hostname})")
                url = next_url
    finally:
        bar.close()
        flush()
    return result
