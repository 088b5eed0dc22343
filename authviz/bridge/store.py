"""The durable store: SQLite in WAL mode, one writer thread, every batch one transaction.

Invariants:

* A batch is committed (``synchronous=FULL``: the WAL is fsynced at each commit) before
  :meth:`EventStore.add_batch` returns, so anything the webhook acknowledged survives a crash
  (``kill -9``, power loss of the process) at any later moment.
* ``events.log_id`` is UNIQUE and rows are written with ``INSERT OR IGNORE``: a batch retried by
  Auth0 stores nothing twice, and only rows that are new come back as :class:`StoredEvent`.
* ``events.seq`` (``INTEGER PRIMARY KEY AUTOINCREMENT``) only grows, never reused after a delete:
  it is the cursor of ``GET /auth0/events?after=SEQ``. It may have gaps (an ignored duplicate
  can consume a number); never treat it as a count.
* All writes run on one dedicated thread (``writer``); reads on another (``reader``), each with its
  own connection. The asyncio loop never touches SQLite directly and never blocks on it.
* Group commit: webhook batches that arrive while a commit is in progress are written together
  in the next transaction (one fsync for all), each in its own SAVEPOINT.
* Text (chat messages, raw records) is stored exactly as received; escaping is the renderer's job.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import orjson

from authviz.errors import AuthvizError
from authviz.statefiles import DIR_MODE, StateFileError, private_file, tighten_sqlite_files

__all__ = [
    "ChatMessage",
    "EventStore",
    "NewEvent",
    "NewReject",
    "BatchResult",
    "StoreError",
    "StoredEvent",
]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    log_id TEXT NOT NULL UNIQUE,
    received_at TEXT NOT NULL,
    timestamp TEXT,
    type TEXT,
    category TEXT,
    user_id TEXT,
    event TEXT NOT NULL,      -- the normalised event (AuthEvent.to_dict()) as JSON
    raw TEXT NOT NULL         -- the record exactly as received, as JSON text
);
-- no index on user_id: nothing reads by user, and it cost ~15% of every insert
DROP INDEX IF EXISTS events_user;
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    position INTEGER,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL    -- published_seq: every event up to it was handed to the publisher
);
CREATE TABLE IF NOT EXISTS chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT,
    picture TEXT,
    text TEXT NOT NULL
);
"""


class StoreError(AuthvizError):
    """The store could not be opened or written (disk full, corrupt file, closed store).

    An :class:`~authviz.errors.AuthvizError`: ``str()`` is one sentence, so ``authviz serve
    --store DIR`` fails with it (exit 1) instead of a traceback."""


class NewEvent(NamedTuple):
    """One event to store: its id (``log_id``), normalised form and raw record.

    ``event_json``, when given, is ``orjson.dumps(event)`` (the store writes it as it is and the
    publisher splices it: an event is encoded once). A named tuple: one is built per event.
    """

    log_id: str
    event: dict[str, Any]
    raw: str
    timestamp: str | None = None
    type: str | None = None
    category: str | None = None
    user_id: str | None = None
    event_json: str | None = None


@dataclass(frozen=True, slots=True)
class NewReject:
    """One record the parser refused, kept with its reason."""

    position: int | None
    reason: str
    raw: str


class StoredEvent(NamedTuple):
    """A stored event as history returns it and ``auth-event`` publishes it (a named tuple).

    ``event`` is ``AuthEvent.to_dict(include_raw=False)``; ``raw`` the record as JSON text;
    ``event_json`` (when known) the JSON text of ``event`` exactly as ``orjson.dumps`` writes it.
    """

    seq: int
    log_id: str
    received_at: str
    event: dict[str, Any]
    raw: str | None = None
    event_json: str | None = None

    def to_json_dict(self, *, include_raw: bool = True) -> dict[str, Any]:
        """``event`` plus ``seq``, ``received_at`` and (when asked) ``raw`` as a JSON value."""
        out = dict(self.event)
        out["seq"] = self.seq
        out["received_at"] = self.received_at
        if include_raw and self.raw is not None:
            out["raw"] = orjson.loads(self.raw)
        return out

    def to_json(self, *, include_raw: bool = True) -> str:
        """The JSON text of :meth:`to_json_dict`, built without re-parsing ``raw`` (nor
        re-encoding ``event`` when ``event_json`` is known): the same text either way."""
        if self.event_json is not None and len(self.event_json) > 2:
            # ``event`` holds no "seq"/"received_at" (schema columns only): appending them
            # gives exactly what orjson writes for the merged dict.
            text = (
                f'{self.event_json[:-1]},"seq":{int(self.seq)},"received_at":'
                f"{orjson.dumps(self.received_at).decode()}}}"
            )
        else:
            out = dict(self.event)
            out["seq"] = self.seq
            out["received_at"] = self.received_at
            text = orjson.dumps(out).decode()
        if include_raw and self.raw is not None:
            text = text[:-1] + ',"raw":' + self.raw + "}"
        return text


@dataclass(slots=True)
class BatchResult:
    """What one :meth:`EventStore.add_batch` did; ``stored`` lists only the new rows."""

    stored: list[StoredEvent] = field(default_factory=list)
    duplicates: int = 0
    quarantined: int = 0


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A chat message; ``text`` is raw (never escaped here)."""

    id: int
    created_at: str
    user_id: str
    name: str | None
    picture: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "user_id": self.user_id,
            "name": self.name,
            "picture": self.picture,
            "text": self.text,
        }


def _resolve(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():  # the caller went away (cancelled)
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def utc_now() -> str:
    """Current UTC time, ISO 8601 with milliseconds and ``Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _connect(path: str, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class EventStore:
    """SQLite-backed events, quarantine and chat, with async methods that never block the loop.

    ``synchronous`` is ``"FULL"`` by default (each commit fsyncs the WAL); ``"NORMAL"`` is faster
    but may lose the last commits on power loss (not on a process crash). Use :meth:`open` /
    :meth:`close` (or ``async with``) around it.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
            raise ValueError("synchronous must be FULL, EXTRA or NORMAL")
        self.path = str(path)
        self.synchronous = synchronous.upper()
        self._writer: ThreadPoolExecutor | None = None
        #: (events, rejects, committed future, its loop, inserted future or None) per batch
        self._pending: list[
            tuple[
                list[NewEvent],
                list[NewReject],
                asyncio.Future[BatchResult],
                asyncio.AbstractEventLoop,
                asyncio.Future[BatchResult] | None,
            ]
        ] = []
        self._pending_lock = threading.Lock()
        self._reader: ThreadPoolExecutor | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def open_sync(self) -> None:
        """Create the file (mode 0600, never through a symlink: :mod:`authviz.statefiles`) and
        schema (idempotent) and start the two threads."""
        if self._writer is not None:
            return
        if self.path != ":memory:":
            where = Path(self.path)
            if where.is_dir():
                raise StoreError(
                    f"the event store {self.path!r} is a directory; give the path of "
                    "an SQLite file (--store), e.g. .authviz/bridge.sqlite3."
                )
            if not where.parent.exists():  # OSError: the caller names the flag
                where.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(where.parent, DIR_MODE)
            # Private before SQLite opens it: its -wal/-shm files take the database's mode. An
            # existing file is tightened only once it proved to be a store (below).
            if not os.path.lexists(where):
                private_file(where)
            elif os.path.islink(where):
                raise StateFileError(
                    f"the event store {self.path} is a symbolic link; refusing "
                    "to follow it (give the real path with --store)."
                )
        conn = None
        try:
            conn = _connect(self.path, self.synchronous)
            conn.executescript(SCHEMA)
            if self.path != ":memory:":
                tighten_sqlite_files(self.path)
        except sqlite3.Error as error:
            if conn is not None:
                conn.close()
            hint = (
                "; it is not an authviz event store: move it away or give another --store"
                if isinstance(error, sqlite3.DatabaseError) and "not a database" in str(error)
                else ""
            )
            raise StoreError(f"cannot open the event store {self.path!r} ({error}){hint}.") from error
        self._write_conn = conn
        self._read_conn = _connect(self.path, self.synchronous)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="authviz-store-writer")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="authviz-store-reader")

    async def open(self) -> EventStore:
        await asyncio.get_running_loop().run_in_executor(None, self.open_sync)
        return self

    def close_sync(self) -> None:
        for pool in (self._writer, self._reader):
            if pool is not None:
                pool.shutdown(wait=True)
        for conn in (self._write_conn, self._read_conn):
            if conn is not None:
                conn.close()
        self._writer = self._reader = None
        self._write_conn = self._read_conn = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close_sync)

    async def __aenter__(self) -> EventStore:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, pool: ThreadPoolExecutor | None, fn: Callable[..., T], *args: Any) -> T:
        if pool is None:
            raise StoreError("the event store is closed")
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    # -- events --------------------------------------------------------------------------------

    async def add_batch(self, events: Sequence[NewEvent], rejects: Sequence[NewReject] = ()) -> BatchResult:
        """Store ``events`` (ignoring known log_ids) and ``rejects`` atomically; return once the
        transaction holding them is committed.

        Group commit: batches that arrive while the writer is busy are committed together, in
        one transaction (one fsync), each inside its own SAVEPOINT so a failing batch is rolled
        back alone and only its caller gets the error.
        """
        return await self.submit_batch(events, rejects)

    def submit_batch(
        self,
        events: Sequence[NewEvent],
        rejects: Sequence[NewReject] = (),
        *,
        inserted: asyncio.Future[BatchResult] | None = None,
    ) -> asyncio.Future[BatchResult]:
        """:meth:`add_batch` in two steps: hand the batch to the writer now (call it on the event
        loop) and await the returned future for its :class:`BatchResult`, once committed. The
        caller may do other work meanwhile, while the writer thread writes and fsyncs.

        ``inserted`` (a future of the same loop), when given, gets the same result as soon as the
        rows are written, BEFORE the commit: the seqs are then known, so work that needs them
        can overlap the fsync. Nothing is durable until the returned future resolves; if the
        commit fails after ``inserted`` resolved, that result never existed: only ever act on
        it (publish, answer) after the returned future succeeded.
        """
        if self._writer is None:
            raise StoreError("the event store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[BatchResult] = loop.create_future()
        with self._pending_lock:
            self._pending.append((list(events), list(rejects), future, loop, inserted))
        self._writer.submit(self._flush_pending)
        return future

    def _flush_pending(self) -> None:
        """Writer thread: commit every pending batch in one transaction, then answer each."""
        with self._pending_lock:
            items, self._pending = self._pending, []
        if not items:
            return  # an earlier flush took them
        conn = self._write_conn
        assert conn is not None
        now = utc_now()
        outcomes: list[BatchResult | BaseException] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for events, rejects, _future, loop, inserted in items:
                    conn.execute("SAVEPOINT batch")
                    try:
                        outcome: BatchResult | StoreError = self._write_batch(conn, now, events, rejects)
                        conn.execute("RELEASE batch")
                    except sqlite3.Error as error:
                        conn.execute("ROLLBACK TO batch")
                        conn.execute("RELEASE batch")
                        outcome = StoreError(f"cannot write to the event store: {error}")
                    outcomes.append(outcome)
                    if inserted is not None:  # written, not yet committed (see submit_batch)
                        loop.call_soon_threadsafe(_resolve, inserted, outcome)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except BaseException as error:  # the commit itself failed: nobody was stored
            failure = (
                error if isinstance(error, StoreError) else StoreError(f"cannot write to the event store: {error}")
            )
            outcomes = [failure] * len(items)
        for (_events, _rejects, future, loop, inserted), outcome in zip(items, outcomes):
            if inserted is not None:  # (a failed BEGIN: it was never resolved)
                loop.call_soon_threadsafe(_resolve, inserted, outcome)
            loop.call_soon_threadsafe(_resolve, future, outcome)

    @staticmethod
    def _write_batch(
        conn: sqlite3.Connection, now: str, events: Sequence[NewEvent], rejects: Sequence[NewReject]
    ) -> BatchResult:
        result = BatchResult()
        if events:
            # Only this thread writes and it holds the lock: new rows take seq > before.
            before = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
            changes = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO events"
                "(log_id, received_at, timestamp, type, category, user_id, event, raw)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        item.log_id,
                        now,
                        item.timestamp,
                        item.type,
                        item.category,
                        item.user_id,
                        item.event_json if item.event_json is not None else orjson.dumps(item.event).decode(),
                        item.raw,
                    )
                    for item in events
                ],
            )
            inserted = conn.total_changes - changes
            if inserted == len(events):
                # All new (the common case): one writer inserting in list order, so the rows
                # took consecutive seqs ending at the last rowid (AUTOINCREMENT: max + 1 each).
                first = conn.execute("SELECT last_insert_rowid()").fetchone()[0] - inserted + 1
                result.stored = [
                    StoredEvent(first + i, item.log_id, now, item.event, item.raw, item.event_json)
                    for i, item in enumerate(events)
                ]
            else:  # some were known: find which by their log_id
                seqs = dict(conn.execute("SELECT log_id, seq FROM events WHERE seq > ?", (before,)).fetchall())
                for item in events:
                    seq = seqs.pop(item.log_id, None)
                    if seq is None:
                        result.duplicates += 1
                    else:
                        result.stored.append(StoredEvent(seq, item.log_id, now, item.event, item.raw, item.event_json))
                result.stored.sort(key=lambda stored: stored.seq)
        if rejects:
            conn.executemany(
                "INSERT INTO quarantine(received_at, position, reason, raw) VALUES (?,?,?,?)",
                [(now, r.position, r.reason, r.raw) for r in rejects],
            )
            result.quarantined = len(rejects)
        return result

    async def events_after(self, after: int = 0, limit: int = 100, *, include_raw: bool = True) -> list[StoredEvent]:
        """Events with ``seq > after`` in ``seq`` order, at most ``limit``."""
        return await self._run(self._reader, self._events_after_sync, after, limit, include_raw)

    def _events_after_sync(self, after: int, limit: int, include_raw: bool) -> list[StoredEvent]:
        conn = self._read_conn
        assert conn is not None
        rows = conn.execute(
            "SELECT seq, log_id, received_at, event, raw FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        ).fetchall()
        return [  # the stored text is orjson's encoding of the event: reused as event_json
            StoredEvent(seq, log_id, received, orjson.loads(event), raw if include_raw else None, event)
            for seq, log_id, received, event, raw in rows
        ]

    async def published_seq(self) -> int:
        """Every event with ``seq`` up to this was published; on a new store, the current last seq.

        (A store created before this marker existed starts from its last seq: nothing old is
        republished.)
        """
        return await self._run(self._writer, self._published_seq_sync)

    def _published_seq_sync(self) -> int:
        conn = self._write_conn
        assert conn is not None
        row = conn.execute("SELECT value FROM meta WHERE key = 'published_seq'").fetchone()
        if row is not None:
            return int(row[0])
        last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('published_seq', ?)", (last,))
        return int(last)

    async def mark_published(self, seq: int) -> None:
        """Record that every event up to ``seq`` was published (never moves backwards)."""
        await self._run(self._writer, self._mark_published_sync, seq)

    def _mark_published_sync(self, seq: int) -> None:
        assert self._write_conn is not None
        self._write_conn.execute(
            "INSERT INTO meta(key, value) VALUES ('published_seq', ?)"
            " ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
            (seq,),
        )

    async def last_seq(self) -> int:
        """The highest ``seq`` stored (0 when empty)."""
        return await self._run(self._reader, self._scalar, "SELECT COALESCE(MAX(seq), 0) FROM events")

    async def head(self) -> tuple[int, str | None]:
        """``(seq, log_id)`` of the newest stored event, ``(0, None)`` when empty: one read, so
        every event committed after it has a larger seq."""
        return await self._run(self._reader, self._head_sync)

    def _head_sync(self) -> tuple[int, str | None]:
        assert self._read_conn is not None
        row = self._read_conn.execute("SELECT seq, log_id FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), row[1]) if row is not None else (0, None)

    async def counts(self) -> dict[str, int]:
        """Row counts of every table (for health checks and tests)."""
        return await self._run(self._reader, self._counts_sync)

    def _scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        assert self._read_conn is not None
        return self._read_conn.execute(sql, tuple(params)).fetchone()[0]

    def _counts_sync(self) -> dict[str, int]:
        return {
            table: self._scalar(f"SELECT COUNT(*) FROM {table}") for table in ("events", "quarantine", "chat_messages")
        }

    async def quarantine(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest quarantined records, newest first."""
        return await self._run(self._reader, self._quarantine_sync, limit)

    def _quarantine_sync(self, limit: int) -> list[dict[str, Any]]:
        assert self._read_conn is not None
        rows = self._read_conn.execute(
            "SELECT id, received_at, position, reason, raw FROM quarantine ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        keys = ("id", "received_at", "position", "reason", "raw")
        return [dict(zip(keys, row)) for row in rows]

    # -- chat ----------------------------------------------------------------------------------

    async def add_chat_message(self, user_id: str, name: str | None, picture: str | None, text: str) -> ChatMessage:
        """Store one chat message (committed) and return it with its id."""
        return await self._run(self._writer, self._add_chat_sync, user_id, name, picture, text)

    def _add_chat_sync(self, user_id: str, name: str | None, picture: str | None, text: str) -> ChatMessage:
        conn = self._write_conn
        assert conn is not None
        now = utc_now()
        try:
            cursor = conn.execute(
                "INSERT INTO chat_messages(created_at, user_id, name, picture, text) VALUES (?,?,?,?,?)",
                (now, user_id, name, picture, text),
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot write to the event store: {error}") from error
        return ChatMessage(cursor.lastrowid, now, user_id, name, picture, text)

    async def chat_messages(self, *, after: int = 0, limit: int = 50) -> list[ChatMessage]:
        """The last ``limit`` messages with ``id > after``, oldest first."""
        return await self._run(self._reader, self._chat_sync, after, limit)

    def _chat_sync(self, after: int, limit: int) -> list[ChatMessage]:
        assert self._read_conn is not None
        rows = self._read_conn.execute(
            "SELECT id, created_at, user_id, name, picture, text FROM chat_messages"
            " WHERE id > ? ORDER BY id DESC LIMIT ?",
            (after, limit),
        ).fetchall()
        return [ChatMessage(*row) for row in reversed(rows)]


def read_log_ids(path: str | Path) -> set[str]:
    """Every stored ``log_id`` (opens its own read-only connection; for checks and tests)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT log_id FROM events")}
    finally:
        conn.close()
