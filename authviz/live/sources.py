"""Event sources behind one interface: live Pusher, a recorded JSON-lines file, the simulator.

Every source is an :class:`~authviz.live.stream.EventStream` (iterate it, or register callbacks;
``stats``; ``close()``), so notebooks, ``authviz tail`` and tests switch with one setting::

    AUTHVIZ_SOURCE=live                 # PUSHER_* settings (default)
    AUTHVIZ_SOURCE=replay:events.jsonl  # AUTHVIZ_REPLAY_SPEED=1 real time, 10 = ten times, max = no waits
    AUTHVIZ_SOURCE=simulator            # or simulator:SEED; AUTHVIZ_SIMULATOR_RATE events/s (default 5)

Recording format (what :class:`Recorder` and ``authviz tail --json`` write, one JSON object a line):
``{"t": epoch_seconds_received, "channel": str, "event": str, "data": any, "user_id"?: str}``.
A replay file may also hold bare Auth0 records (Log Streaming, Management API, ...): those are
replayed as ``auth-event`` on ``private-auth0-events``, timed by their own ``date``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from authviz import topics
from authviz.config import PusherSettings, load_environment
from authviz.errors import ConfigError, UsageError
from authviz.live.buffer import Overflow
from authviz.live.events import ControlNotice, LiveEvent
from authviz.live.stream import EventStream

__all__ = ["Recorder", "ReplaySource", "SimulatorSource", "open_source", "parse_source_spec", "source_from_env"]

DEFAULT_CHANNELS: tuple[str, ...] = (topics.EVENTS_CHANNEL,)


class ReplayError(UsageError):
    """A line of a replay file could not be used (reported, skipped; the rest is replayed)."""


class _ThreadedSource(EventStream):
    """A stream fed by one producer thread that stops on :meth:`close` (and is joined)."""

    lag_from_payload = False
    thread_name = "authviz-live-source"

    def __init__(
        self, *, channels: Iterable[str] | None, events: Iterable[str] | None, maxsize: int, overflow: Overflow
    ) -> None:
        super().__init__(events=events, maxsize=maxsize, overflow=overflow)
        self.channels = tuple(channels) if channels is not None else None
        self._halt = threading.Event()
        self._producer = threading.Thread(target=self._produce_safely, name=self.thread_name, daemon=True)

    def start(self) -> "_ThreadedSource":
        self._producer.start()
        return self

    def _emit(self, item: LiveEvent) -> None:
        if self.channels is None or item.channel in self.channels:
            self.offer(item)

    def _sleep_until(self, due: float) -> bool:
        """Wait until ``time.monotonic() >= due``; False when the source was closed meanwhile."""
        delay = due - time.monotonic()
        if delay > 0:
            return not self._halt.wait(delay)
        return not self._halt.is_set()

    def _produce_safely(self) -> None:
        try:
            self._produce()
        finally:
            self._buffer.close()  # consumers drain what is left, then the stream ends

    def _produce(self) -> None:
        raise NotImplementedError

    def _stop_producer(self, timeout: float) -> None:
        self._halt.set()
        self._buffer.close(discard=True)
        if self._producer.is_alive() and self._producer is not threading.current_thread():
            self._producer.join(timeout)

    def consumer_alive(self) -> bool:
        return super().consumer_alive() or self._producer.is_alive()


def _speed(value: float | str | None) -> float:
    """Playback speed: 1 = real time, 10 = ten times faster, ``max``/0/inf = no waiting."""
    if value is None:
        return 1.0
    if isinstance(value, str):
        if value.strip().lower() in ("max", "inf", "0"):
            return 0.0
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"AUTHVIZ_REPLAY_SPEED must be a number or 'max', not {value!r}.") from None
    if value < 0 or value != value:
        raise ConfigError(f"AUTHVIZ_REPLAY_SPEED must be a positive number or 'max', not {value!r}.")
    return 0.0 if value == float("inf") else float(value)


class ReplaySource(_ThreadedSource):
    """Replays a recorded JSON-lines file, paced by its timestamps divided by ``speed``.

    Bad lines are reported (an error naming the line number, in ``errors`` and to ``on_error``) and
    skipped. The stream ends after the last line (``loop=True`` starts over).
    Default overflow is ``block``: a file can wait, so nothing is lost.
    """

    thread_name = "authviz-live-replay"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        speed: float | str = 1.0,
        channels: Iterable[str] | None = None,
        events: Iterable[str] | None = None,
        maxsize: int = 10_000,
        overflow: Overflow = "block",
        loop: bool = False,
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ConfigError(
                f"The replay file {self.path} is a directory; give a JSON-lines file "
                "(a recording, as a Recorder writes it), e.g. replay:events.jsonl."
            )
        if not self.path.is_file():
            raise ConfigError(f"The replay file {self.path} does not exist.")
        _refuse_binary_replay(self.path)
        super().__init__(channels=channels, events=events, maxsize=maxsize, overflow=overflow)
        self.speed = _speed(speed)
        self.loop = loop
        self.bad_lines = 0

    def _records(self) -> Iterator[tuple[int, float | None, LiveEvent | None, str | None]]:
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    doc = orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    yield number, None, None, f"is not JSON ({error})"
                    continue
                if not isinstance(doc, dict):
                    yield number, None, None, "is not a JSON object"
                    continue
                if "event" in doc and "channel" in doc:
                    t = doc.get("t")
                    if not isinstance(t, (int, float)):
                        t = None
                    data = doc.get("data")
                    yield (
                        number,
                        t,
                        LiveEvent(str(doc["channel"]), str(doc["event"]), data, data, 0.0, doc.get("user_id")),
                        None,
                    )
                else:
                    item = _auth_record_event(doc)
                    if item is None:
                        yield number, None, None, "is neither a recorded event nor an Auth0 record"
                    else:
                        yield number, item.timestamp, item, None

    def _produce(self) -> None:
        while True:
            first_t: float | None = None
            started = time.monotonic()
            for number, t, item, problem in self._records():
                if self._halt.is_set():
                    return
                if item is None:
                    self.bad_lines += 1
                    self.notify(
                        ControlNotice(
                            "error", error=ReplayError(f"Line {number} of {self.path} {problem}; it was skipped.")
                        )
                    )
                    continue
                if self.speed and t is not None:
                    if first_t is None:
                        first_t = t
                    if not self._sleep_until(started + (t - first_t) / self.speed):
                        return
                item.received_at = time.time()
                self._emit(item)
            if not self.loop or self._halt.is_set():
                return


#: gzip's leading bytes: a compressed recording is refused with its name (replay reads text lines)
_GZIP_MAGIC = b"\x1f\x8b"


def _refuse_binary_replay(path: Path) -> None:
    """One sentence for a file that is not text (Parquet, a database, gzip, ...), instead of one
    "is not JSON" error per line. Uses the signatures of ``authviz logs convert``."""
    from authviz.auth0.bulk import BINARY_SIGNATURES, BINARY_SNIFF_BYTES

    try:
        with path.open("rb") as handle:
            head = handle.read(BINARY_SNIFF_BYTES)
    except OSError as error:
        raise ConfigError(f"The replay file {path} cannot be read ({error.strerror or error}).") from None
    what = next(
        (label for magic, label in ((_GZIP_MAGIC, "gzip-compressed"), *BINARY_SIGNATURES) if head.startswith(magic)),
        None,
    )
    if what is None and b"\x00" in head:
        what = "a binary file"
    if what is not None:
        raise ConfigError(
            f"The replay file {path} is {what}, not JSON lines; give the JSON lines "
            "of a recording, as a Recorder writes them (or Auth0 records, one per line)."
        )


def _auth_record_event(doc: Mapping[str, Any]) -> LiveEvent | None:
    """A bare Auth0 record as the ``auth-event`` the bridge would publish (None if unparseable)."""
    from authviz.auth0 import ParseError, parse_event

    try:
        event = parse_event(doc)
    except ParseError:
        return None
    item = LiveEvent(topics.EVENTS_CHANNEL, topics.AUTH_EVENT, event.to_dict(), doc, 0.0)
    item._auth_event = event
    return item


class SimulatorSource(_ThreadedSource):
    """The in-process simulator (``authviz.simulator.TrafficGenerator``, seeded) paced in real time.

    Emits what the bridge would publish for each record: ``auth-event`` on ``private-auth0-events``
    and, for sign-ups and logins, the tutorial payload on ``auth0``. Event times start now.
    ``limit`` stops after that many records (None: endless).
    """

    thread_name = "authviz-live-simulator"

    def __init__(
        self,
        *,
        seed: int | str = 0,
        rate: float = 5.0,
        speed: float | str = 1.0,
        limit: int | None = None,
        channels: Iterable[str] | None = DEFAULT_CHANNELS,
        events: Iterable[str] | None = None,
        maxsize: int = 10_000,
        overflow: Overflow = "drop_oldest",
        start: datetime | None = None,
    ) -> None:
        if not rate > 0:
            raise ConfigError(f"AUTHVIZ_SIMULATOR_RATE must be a positive number of events per second, not {rate!r}.")
        super().__init__(channels=channels, events=events, maxsize=maxsize, overflow=overflow)
        from authviz.simulator import TrafficGenerator

        self.seed = seed
        self.speed = _speed(speed)
        self.limit = limit
        self.generator = TrafficGenerator(seed=seed, start=start or datetime.now(UTC), rate_per_s=rate, diurnal=False)

    def _produce(self) -> None:
        from authviz.auth0 import ParseError, parse_event
        from authviz.bridge.publications import feed_payload

        first_t: float | None = None
        started = time.monotonic()
        for record in self.generator.generate(n=self.limit):
            if self._halt.is_set():
                return
            try:
                event = parse_event(record)
            except ParseError:
                continue
            t = event.timestamp.timestamp()
            if self.speed:
                if first_t is None:
                    first_t = t
                if not self._sleep_until(started + (t - first_t) / self.speed):
                    return
            now = time.time()
            data = event.to_dict()
            item = LiveEvent(topics.EVENTS_CHANNEL, topics.AUTH_EVENT, data, record, now)
            item._auth_event = event
            self._emit(item)
            feed = feed_payload(data)
            if feed is not None:
                name = topics.LOGGED_IN_EVENT if feed["app_metadata"] else topics.SIGNED_UP_EVENT
                self._emit(LiveEvent(topics.FEED_CHANNEL, name, feed, feed, now))


class Recorder:
    """Writes events as JSON lines (the replay format). Use as a callback: ``sub.on_event(rec.write)``.

    Writes happen on the caller's thread (the consumer thread for callbacks), never the websocket's.
    ``flush_every`` bounds how many events may sit in the file buffer.
    """

    def __init__(self, path: str | os.PathLike[str] | IO[bytes], flush_every: int = 100) -> None:
        if hasattr(path, "write"):
            self._handle: IO[bytes] = path  # type: ignore[assignment]
            self._owns = False
        else:
            self._handle = open(path, "ab")
            self._owns = True
        self.flush_every = flush_every
        self.written = 0
        self._lock = threading.Lock()

    def write(self, event: LiveEvent) -> None:
        line = orjson.dumps(event.to_dict(), default=str) + b"\n"
        with self._lock:
            self._handle.write(line)
            self.written += 1
            if self.written % self.flush_every == 0:
                self._handle.flush()

    def close(self) -> None:
        with self._lock:
            self._handle.flush()
            if self._owns:
                self._handle.close()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_source_spec(spec: str) -> tuple[str, str | None]:
    """``live`` | ``replay:PATH`` | ``simulator[:SEED]`` -> (kind, argument)."""
    kind, _, argument = spec.strip().partition(":")
    kind = kind.lower()
    if kind not in ("live", "replay", "simulator"):
        raise ConfigError(f"AUTHVIZ_SOURCE must be live, replay:PATH or simulator[:SEED], not {spec!r}.")
    if kind == "replay" and not argument:
        raise ConfigError("AUTHVIZ_SOURCE=replay needs a file: replay:PATH.")
    return kind, argument or None


def open_source(
    kind: str = "live",
    *,
    channels: Iterable[str] | None = None,
    events: Iterable[str] | None = None,
    settings: PusherSettings | None = None,
    path: str | os.PathLike[str] | None = None,
    speed: float | str = 1.0,
    seed: int | str = 0,
    rate: float = 5.0,
    limit: int | None = None,
    maxsize: int = 10_000,
    overflow: Overflow | None = None,
    **client_options: Any,
) -> EventStream:
    """Open one source. ``channels`` default to ``private-auth0-events`` for every kind.

    live: ``settings`` (default from the environment) and ``client_options`` go to
    :class:`~authviz.live.LiveClient`; replay: ``path``, ``speed``; simulator: ``seed``, ``rate``
    (events/s), ``speed``, ``limit``.
    """
    chosen = tuple(channels) if channels is not None else DEFAULT_CHANNELS
    if kind == "live":
        from authviz.live.client import subscribe

        return subscribe(
            *chosen,
            settings=settings or PusherSettings.from_env(),
            events=events,
            maxsize=maxsize,
            overflow=overflow or "drop_oldest",
            **client_options,
        )
    if kind == "replay":
        if path is None:
            raise UsageError("open_source('replay') needs path=.")
        return ReplaySource(
            path, speed=speed, channels=chosen, events=events, maxsize=maxsize, overflow=overflow or "block"
        ).start()
    if kind == "simulator":
        return SimulatorSource(
            seed=seed,
            rate=rate,
            speed=speed,
            limit=limit,
            channels=chosen,
            events=events,
            maxsize=maxsize,
            overflow=overflow or "drop_oldest",
        ).start()
    raise UsageError(f"source kind must be live, replay or simulator, not {kind!r}.")


def source_from_env(
    env: Mapping[str, str] | None = None, *, dotenv_path: str | None = ".env", **options: Any
) -> EventStream:
    """Open the source named by ``AUTHVIZ_SOURCE`` (default ``live``); see the module docstring."""
    values = load_environment(env, dotenv_path)
    kind, argument = parse_source_spec(values.get("AUTHVIZ_SOURCE") or "live")
    if kind == "replay":
        options.setdefault("path", argument)
        options.setdefault("speed", values.get("AUTHVIZ_REPLAY_SPEED", "1"))
    elif kind == "simulator":
        if argument is not None:
            options.setdefault("seed", int(argument) if argument.isdigit() else argument)
        if "AUTHVIZ_SIMULATOR_RATE" in values:
            try:
                options.setdefault("rate", float(values["AUTHVIZ_SIMULATOR_RATE"]))
            except ValueError:
                raise ConfigError(
                    "AUTHVIZ_SIMULATOR_RATE must be a number of events per second, not "
                    f"{values['AUTHVIZ_SIMULATOR_RATE']!r}."
                ) from None
        options.setdefault("speed", values.get("AUTHVIZ_REPLAY_SPEED", "1"))
    else:
        options.setdefault("settings", PusherSettings.from_env(env, dotenv_path=dotenv_path))
    return open_source(kind, **options)
