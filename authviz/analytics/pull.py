"""Historical import from a tenant into Parquet by day, through the Management API client
(:class:`authviz.auth0.management.ManagementClient`: paging, rate limits, tokens).

Durability invariants: pages are buffered and written every ``flush_every`` logs as
``DIR/date=YYYY-MM-DD/part-<first log_id>.parquet`` (temp file + rename), and only then is the last
written ``log_id`` saved in ``DIR/.authviz-pull.json`` (also temp + rename). A crash therefore loses
at most the unsaved buffer, which the next run fetches again from the saved checkpoint; since a
part file is named after its first log, a re-fetched batch overwrites its own earlier file instead
of duplicating it (batches restart exactly at the saved checkpoint, so a batch always starts at the
same log). Records the parser rejects go to ``DIR/_rejects.jsonl`` with the reason; temporary
files start with "." so ``pandas.read_parquet(DIR)`` never sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
from tqdm import tqdm

from authviz.auth0 import read_logs
from authviz.auth0.archive import write_parquet
from authviz.auth0.management import MAX_PAGE_SIZE, ManagementApiError, ManagementClient, normalise_domain
from authviz.errors import AuthvizError, SettingError

__all__ = ["MAX_PAGE_SIZE", "PartitionWriter", "PullError", "PullResult", "PullState", "pull_logs"]

STATE_FILE = ".authviz-pull.json"
REJECTS_FILE = "_rejects.jsonl"  # "_" and "." prefixes: Parquet dataset readers skip them


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
            return cls(
                domain=str(data["domain"]),
                last_log_id=data.get("last_log_id"),
                pulled=int(data.get("pulled", 0)),
                updated_at=float(data.get("updated_at", 0)),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise PullError(
                f"the checkpoint file {path} is unreadable ({error}); remove it to start over, or give from_log_id"
            ).naming("from_log_id") from error

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


class PartitionWriter:
    """Writes schema frames as ``DIR/date=YYYY-MM-DD/part-<first event_id>.parquet`` in the archive
    layout of :mod:`authviz.auth0.archive` (derived columns, rows sorted for rules)."""

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
            # named after the batch's first log (in fetch order): a re-fetched batch overwrites it
            written.append(write_parquet(part, directory / f"part-{part['event_id'].iloc[0]}.parquet"))
        return written


async def pull_logs(
    domain: str,
    out_dir: str | Path,
    *,
    token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    base_url: str | None = None,
    from_log_id: str | None = None,
    page_size: int = MAX_PAGE_SIZE,
    limit: int | None = None,
    flush_every: int = 10_000,
    max_retries: int = 5,
    max_wait: float = 60.0,
    progress: bool = True,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    timeout: float = 30.0,
) -> PullResult:
    """Pull logs after the checkpoint (``from_log_id``, else the saved state, else the oldest) into
    ``out_dir``. ``limit`` caps the number of logs this run; ``max_wait`` is the longest rate-limit
    pause accepted before stopping with a "run again later" error (progress is saved first)."""
    domain = normalise_domain(domain)
    if not 1 <= int(page_size) <= MAX_PAGE_SIZE:
        raise SettingError(
            f"page_size must be between 1 and {MAX_PAGE_SIZE} (Auth0's page limit), not {page_size}", "page_size"
        )
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

    bar = tqdm(
        total=limit,
        unit="log",
        desc=f"pulling {domain}",
        disable=None if progress else True,
        file=sys.stderr,
        leave=False,
    )  # None: off when stderr is not a terminal
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            client = ManagementClient(
                session,
                domain,
                token=token,
                client_id=client_id,
                client_secret=client_secret,
                base_url=base_url,
                max_retries=max_retries,
                max_wait=max_wait,
                sleep=sleep,
            )
            try:
                async with contextlib.aclosing(client.log_pages(start, page_size)) as pages:
                    async for page in pages:
                        if limit is not None:
                            page = page[: limit - result.pulled]
                        buffer.extend(page)
                        result.pulled += len(page)
                        bar.update(len(page))
                        if len(buffer) >= flush_every:
                            flush()
                        if limit is not None and result.pulled >= limit:
                            break
            except ManagementApiError as error:
                raise PullError(str(error)).naming(*error.settings) from error
            finally:
                result.pages, result.retries, result.caught_up = client.pages, client.retries, client.caught_up
    finally:
        bar.close()
        flush()
    return result
