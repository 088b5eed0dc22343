"""The bulk reader: many records -> one schema DataFrame, columnar wherever possible.

JSON lines go through pyarrow's JSON reader with an explicit schema holding only the log-entry
fields the schema needs, for the log shape the block's first line has (``{"log_id", "data"}``,
flat Management API entries, EventBridge ``{"detail"}``; all three at once when unsure). Every
other key is skipped by the reader, so no Python object is built per field. Category,
description, country and tenant are computed once per distinct value and broadcast; timestamps
are parsed vectorised; ``raw`` is cut from the input buffer line by line in one pass.

Invariants:
- The per-record parser (:mod:`authviz.auth0.parse`) is the reference. A block of lines the
  columnar reader refuses (invalid JSON, a field of another type, another shape) is split and
  retried until the offending lines are isolated (at most :data:`MIN_COLUMNAR_LINES` lines), which
  then take the per-record path; so does every row the columnar pass cannot fully vouch for
  (missing id, missing type, a timestamp it cannot read, any Rule/Action record). Tests check
  that both paths give the same frame, rejects and duplicate count.
- pyarrow never sees a line that is not framed ``{...}`` (it crashes on a leading ``null``).
- Rows keep the order of the input; positions are 1-based line numbers.
- Memory: a JSON-lines file is read :data:`CHUNK_BYTES` at a time into two buffers that take
  turns (:func:`_line_chunks`), so the peak is about the size of its text (kept once, as
  ``raw``) plus two chunks; bytes given in memory, JSON arrays and single documents are held
  whole while they are read.
- Files on the pyarrow engine are read one run ahead (:func:`_prefetched`): a worker thread
  reads and parses the next run while the caller's thread turns the current one into rows. A
  run the worker cannot take whole (:func:`_prepare`: a line not framed ``{...}``, a refusal by
  the reader, invalid UTF-8) goes the general path above, in the caller's thread; only the
  caller's thread touches the collector, so rejects and their order are as without the worker.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from authviz.auth0.countries import resolve_country
from authviz.auth0.frame import LogFrame, events_to_frame
from authviz.auth0.log_types import category_for, describe_type
from authviz.auth0.model import AuthEvent, ParseError, Reject
from authviz.auth0.parse import (
    CONTENT_FIELDS,
    LEADING_SPACE,
    NOT_ONE_DOCUMENT,
    Collector,
    document_records,
    document_value,
    dumps_text,
    loads,
    parse_event,
    tenant_from_hostname,
)
from authviz.auth0.schema import CATEGORIES, COLUMNS, SOURCES, conform, empty_frame
from authviz.auth0.shapes import detect_shape, kind
from authviz.auth0.timestamps import parse_timestamp_array
from authviz.errors import AuthvizError

#: Bytes of JSON lines handed to the columnar reader at once (bounds its working memory).
CHUNK_BYTES = 32 * 1024 * 1024
#: pyarrow's block size inside a chunk (parallelism unit of its reader).
BLOCK_BYTES = 4 * 1024 * 1024
#: A refused block is split into this many parts and each retried.
SPLIT_PARTS = 8
#: Blocks of at most this many lines that the columnar reader refuses go line by line.
MIN_COLUMNAR_LINES = 64
#: Inputs with at least this many bytes show a progress bar when ``progress`` is true.
PROGRESS_MIN_BYTES = 8 * 1024 * 1024

_TEXT = pa.string()
_LOCATION = pa.struct(
    [
        ("country_code", _TEXT),
        ("country_code3", _TEXT),
        ("country_name", _TEXT),
        ("city_name", _TEXT),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
    ]
)
_ENTRY_FIELDS = [
    ("log_id", _TEXT),
    ("_id", _TEXT),
    ("date", _TEXT),
    ("type", _TEXT),
    ("description", _TEXT),
    ("user_id", _TEXT),
    ("user_name", _TEXT),
    ("connection", _TEXT),
    ("client_id", _TEXT),
    ("client_name", _TEXT),
    ("ip", _TEXT),
    ("user_agent", _TEXT),
    ("hostname", _TEXT),
    ("tenant_name", _TEXT),
    ("tenant", _TEXT),
    ("is_mobile", pa.bool_()),
    ("isMobile", pa.bool_()),
    ("location_info", _LOCATION),
]
_ENTRY = pa.struct(_ENTRY_FIELDS)
#: What the columnar reader extracts from each line; all other keys are skipped unread.
LINE_SCHEMA = pa.schema(
    _ENTRY_FIELDS + [("data", _ENTRY), ("detail", pa.struct([("log_id", _TEXT), ("data", _ENTRY)]))]
)
#: Narrower schemas, one per log shape: pyarrow's cost grows with the number of fields it fills,
#: so a block is read with the schema of the shape its first line has. Keys that would make the
#: per-record parser see another shape are typed ``null``: present with a value, they make pyarrow
#: refuse the block, which then gets split (so a mixed file still ends up right, only slower).
SHAPE_SCHEMAS: dict[str | None, pa.Schema] = {
    None: LINE_SCHEMA,
    "log_stream": pa.schema([("log_id", _TEXT), ("data", _ENTRY), ("detail", pa.null())]),
    "management_api": pa.schema(_ENTRY_FIELDS + [("data", pa.null()), ("detail", pa.null())]),
    "eventbridge": pa.schema([("detail", pa.struct([("log_id", _TEXT), ("data", _ENTRY)]))]),
}
_PARSE_OPTIONS = {
    shape: pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    for shape, schema in SHAPE_SCHEMAS.items()
}


def _leaf_types(fields: Iterable[pa.Field], prefix: str = "") -> dict[str, pa.DataType]:
    out: dict[str, pa.DataType] = {}
    for field in fields:
        out[prefix + field.name] = field.type
        if pa.types.is_struct(field.type):
            out.update(_leaf_types(list(field.type), f"{prefix}{field.name}."))
    return out


#: Every column path of :data:`LINE_SCHEMA` with its type (missing ones are read as all-null).
_PATH_TYPES = _leaf_types(LINE_SCHEMA)
_STRING_TYPES = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}
_TEXT_COLUMNS = (
    "description",
    "user_id",
    "user_name",
    "connection",
    "client_id",
    "client_name",
    "ip",
    "user_agent",
    "hostname",
)


class LogInputError(AuthvizError):
    """An input cannot be read at all (missing file, unreadable gzip, a binary file): one sentence
    saying which."""


#: Leading bytes of formats that are passed by mistake for a log file, and what they are.
BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PAR1", "a Parquet file"),
    (b"BZh", "bzip2-compressed"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program"),
)
#: A NUL byte among this many leading (decompressed) bytes marks a binary file: JSON text
#: never holds one.
BINARY_SNIFF_BYTES = 8192
_TEXT_EXPECTED = "give JSON lines, a JSON array or a JSON document in UTF-8, optionally gzip-compressed"


def _refuse_binary(head: bytes, label: str) -> None:
    """Raise :class:`LogInputError` when ``head`` (the first bytes, after gunzip) is not text."""
    for magic, what in BINARY_SIGNATURES:
        if head.startswith(magic):
            raise LogInputError(f"{label} is {what}, not Auth0 logs: {_TEXT_EXPECTED}")
    if b"\x00" in head[:BINARY_SNIFF_BYTES]:
        raise LogInputError(f"{label} is a binary file, not Auth0 logs: {_TEXT_EXPECTED}")


def read_logs(
    source: str | Path | bytes | bytearray | memoryview | Iterable[Any],
    *,
    source_shape: str | None = None,
    strict: bool = False,
    progress: bool = False,
    dedup: bool = True,
    engine: str = "pyarrow",
) -> LogFrame:
    """Read Auth0 logs of any shape into a :class:`LogFrame`.

    ``source``: a path (JSON lines, a JSON array or one JSON document, optionally gzip), the bytes
    of such a file, or an iterable of records (mappings) or of JSON lines (str/bytes).
    ``source_shape`` forces a shape (one of :data:`~authviz.auth0.schema.SOURCES`); ``strict``
    raises :class:`ParseError` at the first rejected record; ``progress`` shows a tqdm bar on
    stderr for large inputs; ``dedup=False`` keeps repeated ``event_id``s as rows. ``engine``
    (:data:`ENGINES`) picks the JSON reader of JSON-lines files: both give the same result.
    """
    _check_shape(source_shape)
    _check_engine(engine)
    collector = Collector(strict=strict)
    if isinstance(source, (str, Path)):
        frames = _frames_from_path(source, collector, source_shape, progress, use_duckdb=engine == "duckdb")
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = _maybe_gunzip(bytes(source), "the input")
        _refuse_binary(data, "the input")
        frames = _frames_from_bytes(data, collector, source_shape, progress)
    else:
        frames = _frames_from_iterable(source, collector, source_shape)
    return _finish(frames, collector, dedup=dedup)


def read_log_files(
    paths: Iterable[str | Path],
    *,
    source_shape: str | None = None,
    strict: bool = False,
    progress: bool = False,
    dedup: bool = True,
    engine: str = "pyarrow",
) -> LogFrame:
    """Read several log files as one stream: one frame, deduplicated across all of them.

    Each reject carries the file it came from in ``Reject.input``.
    """
    _check_shape(source_shape)
    _check_engine(engine)
    collector = Collector(strict=strict)
    frames: list[pd.DataFrame] = []
    for path in paths:
        collector.input = str(path)
        collector.inputs.append(str(path))
        for frame in _frames_from_path(path, collector, source_shape, progress, use_duckdb=engine == "duckdb"):
            frame.insert(0, "_input", str(path))
            frames.append(frame)
    return _finish(frames, collector, dedup=dedup)


#: JSON readers for JSON-lines files: pyarrow's (the default: the faster one on the machine the
#: benchmarks ran on, see benchmarks/RESULTS.md) or DuckDB's ``read_json`` (files only; bytes and
#: iterables always take pyarrow's).
ENGINES: tuple[str, ...] = ("pyarrow", "duckdb")


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")


def _check_shape(source_shape: str | None) -> None:
    if source_shape is not None and source_shape not in SOURCES:
        raise ParseError(f"unknown shape {source_shape!r}: expected one of {', '.join(SOURCES)}")


def _maybe_gunzip(data: bytes, label: str) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise LogInputError(f"{label} looks gzip-compressed but cannot be decompressed: {error}") from None


def _frames_from_iterable(records: Iterable[Any], collector: Collector, source_shape: str | None) -> list[pd.DataFrame]:
    items = list(records)
    if items and all(isinstance(item, (str, bytes, bytearray)) for item in items):
        lines = [item.encode("utf-8") if isinstance(item, str) else bytes(item) for item in items]
        # One item is one record: a newline inside an item must not split it.
        lines = [line.replace(b"\r", b" ").replace(b"\n", b" ") for line in lines]
        return list(_read_lines(b"\n".join(lines), collector, source_shape=source_shape, progress=False))
    events: list[AuthEvent] = []
    positions: list[int] = []
    for position, obj in enumerate(items, 1):
        if not isinstance(obj, Mapping):
            collector.reject(position, dumps_text(obj), f"not a JSON object but {kind(obj)}")
            continue
        try:
            events.append(parse_event(obj, source=source_shape))
            positions.append(position)
        except ParseError as error:
            collector.reject(position, dumps_text(obj), str(error))
    frame = events_to_frame(events)
    frame.insert(0, "_position", positions)
    return [frame]


def _frames_from_path(
    path: str | Path, collector: Collector, source_shape: str | None, progress: bool, *, use_duckdb: bool = False
) -> list[pd.DataFrame]:
    """Frames of one file. JSON lines are read :data:`CHUNK_BYTES` at a time (the file is never
    held whole in memory) and parsed by DuckDB (:func:`_duckdb_read`; pyarrow's JSON reader with
    ``use_duckdb=False``); a JSON array or a single document is read whole."""
    path = Path(path)
    try:
        raw_file = path.open("rb")
    except FileNotFoundError:
        raise LogInputError(f"input file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise LogInputError(f"input {str(path)!r} is a directory, not a log file") from None
    except OSError as error:
        raise LogInputError(f"cannot read input file {str(path)!r}: {error.strerror or error}") from None
    with raw_file:
        compressed = raw_file.read(2) == b"\x1f\x8b"
        raw_file.seek(0)
        stream = gzip.GzipFile(fileobj=raw_file, mode="rb") if compressed else raw_file

        def read(size: int = -1) -> bytes:
            try:
                return stream.read(size)
            except (OSError, EOFError, zlib.error) as error:
                raise LogInputError(
                    f"{str(path)!r} looks gzip-compressed but cannot be decompressed: {error}"
                ) from None

        head = read(CHUNK_BYTES)
        _refuse_binary(head, repr(str(path)))
        if _needs_whole_document(head):
            return _frames_from_bytes(head + read(), collector, source_shape, progress)
        table = None
        if source_shape not in ("rule", "action") and use_duckdb:
            first = head.find(b"\n")
            shape = _sniff(head, 0, len(head) if first < 0 else first, source_shape)
            table = _duckdb_read(path, compressed, shape)
        if table is not None:
            mark = len(collector.result.rejects)
            try:
                return _lines_from_file(
                    head,
                    read,
                    table,
                    collector,
                    source_shape,
                    _progress_bar(path.stat().st_size, enabled=progress),
                    raw_file,
                )
            except _Misaligned:  # DuckDB split the lines otherwise: read again, the other way
                del collector.result.rejects[mark:]
                raw_file.seek(0)
                return _frames_from_path(path, collector, source_shape, progress, use_duckdb=False)
        bar = _progress_bar(path.stat().st_size, enabled=progress)
        frames: list[pd.DataFrame] = []

        def readinto(view: memoryview) -> int:
            try:
                return stream.readinto(view)
            except (OSError, EOFError, zlib.error) as error:
                raise LogInputError(
                    f"{str(path)!r} looks gzip-compressed but cannot be decompressed: {error}"
                ) from None

        position = 0
        try:
            runs = _line_chunks(head, readinto)
            for block, cut, number, prepared in _prefetched(runs, source_shape, ahead=len(head) >= CHUNK_BYTES):
                frame = None if prepared is None else _prepared_frame(prepared, block, collector, source_shape)
                if frame is not None:
                    frames.append(frame)
                else:  # not an ordinary run: the general path, block by block
                    frames.extend(
                        _read_lines(
                            block, collector, source_shape=source_shape, progress=False, first_number=number, limit=cut
                        )
                    )
                if bar is not None:
                    bar.update(raw_file.tell() - position)
                    position = raw_file.tell()
        finally:
            if bar is not None:
                bar.close()
        return frames


def _line_chunks(head: bytes, readinto) -> Iterator[tuple[bytes | bytearray, int]]:
    """``(buffer, cut)`` per run of whole lines of a stream: its lines are ``buffer[:cut]``,
    about :data:`CHUNK_BYTES` at a time. ``head`` is the stream's start, already read;
    ``readinto`` fills a memoryview from the rest and returns the bytes it wrote (0 at the end).

    Two buffers take turns (the partial line at the end of one moved to the start of the
    other), so a run stays valid while the next one is read, and only until the one after that
    is asked for: nothing may keep a reference into a buffer (the columnar reader and
    :func:`_line_array` copy what they keep). A line longer than a buffer doubles it.
    """
    if len(head) < CHUNK_BYTES:  # usually the whole input: then it is the one run, uncopied
        probe = bytearray(_LINE_ROOM)
        wrote = readinto(memoryview(probe))
        if not wrote:
            if head:
                yield head, len(head)
            return
        head = head + probe[:wrote]
    buffers = [bytearray(max(len(head), CHUNK_BYTES)), bytearray(0)]
    turn = 0
    buffer = buffers[turn]
    buffer[: len(head)] = head
    filled, at_end = len(head), False
    while not at_end:
        with memoryview(buffer) as view:
            while filled < len(buffer):
                wrote = readinto(view[filled:])
                if not wrote:
                    at_end = True
                    break
                filled += wrote
        cut = filled if at_end else buffer.rfind(b"\n", 0, filled) + 1
        if cut == 0 and not at_end:  # a line longer than the buffer: grow it, keep reading
            buffer = buffers[turn] = buffer + bytearray(len(buffer))
            continue
        if cut:
            yield buffer, cut
        rest = filled - cut
        turn = 1 - turn
        if len(buffers[turn]) < len(buffer):
            buffers[turn] = bytearray(len(buffer))
        buffers[turn][:rest] = buffer[cut:filled]
        buffer, filled = buffers[turn], rest


#: Bytes :func:`_line_chunks` asks for after a head shorter than a chunk, to see whether the
#: input goes on.
_LINE_ROOM = 64 * 1024


class _Prepared(NamedTuple):
    """A run of lines the columnar reader took whole: what :func:`_prepared_frame` needs."""

    starts: np.ndarray
    ends: np.ndarray
    numbers: np.ndarray
    columns: dict[str, pa.Array]


def _prepare(
    block: bytes | bytearray, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray, source_shape: str | None
) -> _Prepared | None:
    """The columnar reading of a run of lines (``starts``, ``ends``, ``numbers`` from
    :func:`_line_bounds`) when the run is ordinary: every line framed ``{...}``, the first one
    of a log shape, the reader taking them all in one piece. ``None`` otherwise: the caller
    then reads the run by the general path (:func:`_read_lines`), which splits, retries and
    goes per record as needed; both give the same frame (a run taken here goes through
    :func:`_columns_frame` as a block of the general path does). Pure with respect to the
    collector: safe in another thread.
    """
    if source_shape not in (None, "log_stream", "management_api", "eventbridge"):
        return None
    if len(starts) == 0 or int(ends[-1] - starts[0]) > CHUNK_BYTES:
        return None
    buffer = np.frombuffer(block, dtype=np.uint8)
    if not ((buffer[starts] == 0x7B) & (buffer[ends - 1] == 0x7D)).all():
        return None
    shape = _sniff(block, int(starts[0]), int(ends[0]), source_shape)
    table = _columnar(block, int(starts[0]), int(ends[-1]), len(starts), shape)
    if table is None:
        return None
    return _Prepared(starts, ends, numbers, _schema_columns(table))


def _prepared_frame(
    prepared: _Prepared, block: bytes | bytearray, collector: Collector, source_shape: str | None
) -> pd.DataFrame | None:
    """The frame of a prepared run; ``None`` when its text is not valid UTF-8 (the caller then
    takes the general path). ``raw`` is cut here, in the caller's thread, which the reading
    ahead of the next run otherwise leaves the less busy of the two."""
    starts, ends, numbers, columns = prepared
    raw = _line_array(block, starts, ends)
    if raw is None:
        return None
    return _columns_frame(
        columns, raw, np.ones(len(starts), dtype=bool), block, starts, ends, numbers, collector, source_shape
    )


def _prefetched(
    runs: Iterator[tuple[bytes | bytearray, int]], source_shape: str | None, *, ahead: bool = True
) -> Iterator[tuple[bytes | bytearray, int, int, _Prepared | None]]:
    """``(buffer, cut, first line number, prepared)`` per run of ``runs``
    (:func:`_line_chunks`), with its :func:`_prepare`, read and prepared one run ahead in a
    worker thread while the caller builds the frame of the current one (pyarrow's reader and
    compute functions release the GIL): the two cores work on two runs at once. At most one
    run is ahead, which :func:`_line_chunks`' two buffers allow. ``ahead=False``: no worker,
    each run read and prepared when asked for (an input of one run has nothing to overlap).
    """
    number = 1

    def following() -> tuple[bytes | bytearray, int, int, _Prepared | None] | None:
        nonlocal number
        run = next(runs, None)
        if run is None:
            return None
        block, cut = run
        starts, ends, numbers, newlines = _counted_line_bounds(block, cut)
        first, number = number, number + newlines
        return block, cut, first, _prepare(block, starts, ends, numbers + (first - 1), source_shape)

    if not ahead:
        while (item := following()) is not None:
            yield item
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="authviz-read") as worker:
        pending = worker.submit(following)
        while (item := pending.result()) is not None:
            pending = worker.submit(following)
            yield item


class _Misaligned(Exception):
    """DuckDB's rows and the file's non-blank lines do not pair up one to one."""


#: Where an object of the schema is read as JSON text by DuckDB (then typed field by field): a
#: ``location_info`` that is not an object must be told apart from a missing one.
_JSON_OBJECTS = ("location_info",)


def _duckdb_type(data_type: pa.DataType, name: str = "") -> str:
    if pa.types.is_struct(data_type) and name not in _JSON_OBJECTS:
        return "STRUCT(" + ", ".join(f'"{f.name}" {_duckdb_type(f.type, f.name)}' for f in data_type) + ")"
    return "JSON"


def _leaf_check(value: str, data_type: pa.DataType) -> tuple[str, str]:
    """(SQL: the JSON text ``value`` is null or of the schema's type; SQL: its typed value)."""
    if pa.types.is_boolean(data_type):
        return (
            f"({value} IS NULL OR {value} IN ('null', 'true', 'false'))",
            f"CASE {value} WHEN 'true' THEN true WHEN 'false' THEN false END",
        )
    if pa.types.is_floating(data_type):
        number = f"(ascii({value}) BETWEEN 48 AND 57 OR ascii({value}) = 45)"  # a digit or '-'
        return (
            f"({value} IS NULL OR {value} = 'null' OR {number})",
            f"CASE WHEN {number} THEN TRY_CAST({value} AS DOUBLE) END",
        )
    return (
        f"({value} IS NULL OR {value} = 'null' OR starts_with({value}, '\"'))",
        f"CASE WHEN NOT starts_with({value}, '\"') THEN NULL WHEN contains({value}, '\\') "
        f"THEN json_extract_string({value}, '$') ELSE {value}[2:-2] END",
    )


def _duckdb_sql(shape: str | None = None) -> tuple[str, str]:
    """(the ``columns`` argument of ``read_json``; the select list over its rows) for the log
    shape ``shape`` (``None``: every shape at once).

    Every field of :data:`SHAPE_SCHEMAS` ``[shape]`` is read as JSON text and typed here, so that
    a field of another JSON type than the schema's makes the row go per record (``vouched``
    false) instead of being cast. A key the shape's schema types ``null`` (present: another
    shape) is read as JSON and only checked for absence. Struct paths come out as true where
    present (a non-object there leaves every field below it null, which the shape checks of
    :func:`_columns_frame` never accept). Each ``location_info`` object is parsed once (a list
    extraction), not once per field. Paths of :data:`LINE_SCHEMA` outside the shape are not
    selected (the caller fills them with nulls).
    """
    schema = SHAPE_SCHEMAS[shape]
    columns = (
        "{"
        + ", ".join(
            f"'{f.name}': '{'JSON' if pa.types.is_null(f.type) else _duckdb_type(f.type, f.name)}'" for f in schema
        )
        + "}"
    )
    absent = [f'"{f.name}" IS NULL' for f in schema if pa.types.is_null(f.type)]
    holders: dict[str, tuple[str, list[str]]] = {}  # JSON object path -> (its alias, field names)
    checks, select = list(absent), []
    for path, data_type in _leaf_types(list(schema)).items():
        if pa.types.is_null(data_type):
            continue
        parts = path.split(".")
        inside = next((i for i, part in enumerate(parts[:-1]) if part in _JSON_OBJECTS), None)
        if inside is not None:  # a field of an object read as JSON text: one list extraction per object
            holder = ".".join(parts[: inside + 1])
            alias, names = holders.setdefault(holder, (f"_obj{len(holders)}", []))
            names.append(parts[-1])
            value = f'"{alias}"[{len(names)}]'
        else:
            value = ".".join(f'"{part}"' for part in parts)
        if pa.types.is_struct(data_type) and parts[-1] in _JSON_OBJECTS:
            checks.append(f"({value} IS NULL OR json_type({value}) IN ('NULL', 'OBJECT'))")
            select.append(f"CASE WHEN json_type({value}) = 'OBJECT' THEN true END AS \"{path}\"")
        elif pa.types.is_struct(data_type):
            select.append(f'CASE WHEN {value} IS NOT NULL THEN true END AS "{path}"')
        else:
            check, typed = _leaf_check(value, data_type)
            checks.append(check)
            select.append(f'{typed} AS "{path}"')
    select.insert(0, "coalesce(" + " AND ".join(checks) + ", false) AS vouched")
    extracted = "".join(
        ", json_extract("
        + ".".join(f'"{part}"' for part in holder.split("."))
        + ", ["
        + ", ".join(f"'$.\"{name}\"'" for name in names)
        + f']) AS "{alias}"'
        for holder, (alias, names) in holders.items()
    )
    return columns, ", ".join(select) + "\0" + extracted


_DUCKDB_SQL = {shape: _duckdb_sql(shape) for shape in SHAPE_SCHEMAS}
#: DuckDB refuses a line longer than this (the row is then null and goes per record).
MAX_LINE_BYTES = 256 * 1024 * 1024


def _duckdb_read(path: Path, compressed: bool, shape: str | None = None) -> pa.Table | None:
    """DuckDB's reading of a JSON-lines file: one row per non-blank line (null where the line is
    not one JSON object), ``vouched`` and every :data:`SHAPE_SCHEMAS` ``[shape]`` path as a column
    (struct paths: true where present). ``None`` if DuckDB is not installed."""
    try:
        import duckdb
    except ImportError:
        return None
    literal = str(path).replace("'", "''")
    columns, select = _DUCKDB_SQL[shape]
    select, extracted = select.split("\0")
    sql = (
        f"SELECT {select} FROM (SELECT *{extracted} FROM read_json('{literal}', format = 'newline_delimited', "
        f"columns = {columns}, ignore_errors = true, maximum_object_size = {MAX_LINE_BYTES}, "
        f"compression = '{'gzip' if compressed else 'none'}'))"
    )
    with duckdb.connect() as connection:
        connection.execute("SET preserve_insertion_order = true")
        relation = connection.sql(sql)
        # DuckDB 2 names it to_arrow_table; 1.x returns the Table from arrow().
        return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()


#: A line matching this (RE2) may hold what DuckDB's reader accepts and the per-record parser
#: (orjson) rejects: NaN, Infinity, a comma (and spaces) before a closing bracket, a leading
#: byte-order mark. Such lines go per record (a match inside a string only costs speed). Not
#: covered: a repeated key (DuckDB keeps the first value, orjson the last) and numbers beyond
#: the double range.
_LENIENT_PATTERN = r"NaN|Infinity|,[ \t\r\n]*[}\]]|\x{FEFF}"


def _lines_from_file(
    head: bytes, read, table: pa.Table, collector: Collector, source_shape: str | None, bar, raw_file
) -> list[pd.DataFrame]:
    """Frames of a JSON-lines file whose columns DuckDB read into ``table``; the file's own
    lines (read here :data:`CHUNK_BYTES` at a time) give positions and ``raw``."""
    frames: list[pd.DataFrame] = []
    row, position = 0, 0
    try:
        carry, number = head, 1
        while True:
            more = read(CHUNK_BYTES)
            block = carry + more
            at_end = not more
            cut = len(block) if at_end else block.rfind(b"\n") + 1
            if cut == 0 and not at_end:
                carry = block
                continue
            if cut:
                starts, ends, numbers = _line_bounds(block, cut)
                numbers += number - 1
                if row + len(starts) > table.num_rows:
                    raise _Misaligned
                if len(starts):
                    part = table.slice(row, len(starts))
                    frames.append(_block_from_rows(block, part, starts, ends, numbers, collector, source_shape))
                row += len(starts)
                number += block.count(b"\n", 0, cut)
            carry = block[cut:]
            if bar is not None:
                bar.update(raw_file.tell() - position)
                position = raw_file.tell()
            if at_end:
                break
    finally:
        if bar is not None:
            bar.close()
    if row != table.num_rows:
        raise _Misaligned
    return frames


def _block_from_rows(
    block: bytes,
    part: pa.Table,
    starts: np.ndarray,
    ends: np.ndarray,
    numbers: np.ndarray,
    collector: Collector,
    source_shape: str | None,
) -> pd.DataFrame:
    raw = _line_array(block, starts, ends)
    if raw is None:  # not UTF-8 somewhere in the block
        return _per_record(block, starts, ends, numbers, collector, source_shape)
    vouched = np.asarray(part.column("vouched").to_numpy(), dtype=bool)
    lenient = pc.match_substring_regex(raw, _LENIENT_PATTERN)
    if lenient.true_count:
        vouched = vouched & ~np.asarray(lenient.to_numpy(zero_copy_only=False), dtype=bool)
    col = {}
    names = set(part.column_names)
    for path, data_type in _PATH_TYPES.items():
        if path not in names:  # outside the shape DuckDB read with
            col[path] = pa.nulls(len(starts), pa.bool_() if pa.types.is_struct(data_type) else data_type)
            continue
        values = part.column(path).combine_chunks()
        col[path] = values if values.type == data_type or pa.types.is_struct(data_type) else pc.cast(values, data_type)
    return _columns_frame(col, raw, vouched, block, starts, ends, numbers, collector, source_shape)


def _needs_whole_document(head: bytes) -> bool:
    """Whether a file starting with ``head`` must be read whole (not JSON lines)."""
    begin = LEADING_SPACE.match(head).end()
    opening = head[begin : begin + 1]
    if opening == b"[":
        return True
    if opening != b"{":
        return False
    newline = head.find(b"\n", begin)
    if newline < 0:
        return True  # one line (or a first line longer than a chunk): decide on the whole
    try:
        loads(head[begin:newline])
    except ValueError:
        return True
    return LEADING_SPACE.match(head, newline).end() == len(head)  # only one line: one document


def _frames_from_bytes(
    data: bytes, collector: Collector, source_shape: str | None, progress: bool
) -> list[pd.DataFrame]:
    value = document_value(data)
    if value is not NOT_ONE_DOCUMENT:
        return [_read_document(data, value, collector, source_shape=source_shape)]
    return list(_read_lines(data, collector, source_shape=source_shape, progress=progress))


def _read_document(data: bytes, value: Any, collector: Collector, *, source_shape: str | None) -> pd.DataFrame:
    events: list[AuthEvent] = []
    positions: list[int] = []
    texts: list[str] = []
    for position, obj, raw_text, problem in document_records(value, data):
        if problem is None and not isinstance(obj, Mapping):
            problem = f"not a JSON object but {kind(obj)}"
        if problem is None:
            try:
                events.append(parse_event(obj, source=source_shape))
                positions.append(position)
                texts.append(raw_text)
                continue
            except ParseError as error:
                problem = str(error)
        collector.reject(position, raw_text, problem)
    frame = events_to_frame(events, texts)
    frame.insert(0, "_position", positions)
    return frame


# --- JSON lines, columnar -------------------------------------------------------------------


def _newlines(data: bytes, limit: int) -> Iterator[int]:
    """Offsets of every ``\n`` before ``limit`` (memchr per line: about twice as fast as a NumPy
    scan of ~1 KB lines)."""
    find = data.find
    position = find(b"\n", 0, limit)
    while position >= 0:
        yield position
        position = find(b"\n", position + 1, limit)


def _line_bounds(data: bytes, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end (exclusive, without ``\\r``) and 1-based number of every non-blank line of
    ``data[:limit]``."""
    starts, ends, numbers, _ = _counted_line_bounds(data, limit)
    return starts, ends, numbers


def _counted_line_bounds(data: bytes, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """:func:`_line_bounds`, and how many ``\\n`` ``data[:limit]`` holds."""
    buffer = np.frombuffer(data, dtype=np.uint8)[:limit]
    newlines = np.fromiter(_newlines(data, limit), dtype=np.int64)
    starts = np.concatenate(([0], newlines + 1)).astype(np.int64)
    ends = np.concatenate((newlines, [len(buffer)])).astype(np.int64)
    numbers = np.arange(1, len(starts) + 1, dtype=np.int64)
    nonempty = ends > starts
    carriage = nonempty.copy()
    carriage[nonempty] = buffer[ends[nonempty] - 1] == 13
    ends = ends - carriage
    keep = ends > starts
    # Lines starting with whitespace may be blank: check those few one by one.
    maybe_blank = np.flatnonzero(
        keep & np.isin(buffer[np.minimum(starts, max(len(buffer) - 1, 0))], [9, 11, 12, 13, 32])
        if len(buffer)
        else keep
    )
    for index in maybe_blank:
        if not data[starts[index] : ends[index]].strip():
            keep[index] = False
    return starts[keep], ends[keep], numbers[keep], len(newlines)


def _read_lines(
    data: bytes,
    collector: Collector,
    *,
    source_shape: str | None,
    progress: bool,
    first_number: int = 1,
    limit: int | None = None,
) -> Iterator[pd.DataFrame]:
    """Frames of the JSON lines in ``data[:limit]``; line numbers start at ``first_number``."""
    starts, ends, numbers = _line_bounds(data, len(data) if limit is None else limit)
    if len(starts) == 0:
        return
    numbers += first_number - 1
    bar = _progress_bar(len(data), enabled=progress)
    try:
        chunk_starts = _chunk_boundaries(starts, ends, CHUNK_BYTES)
        for first, last in zip(chunk_starts[:-1], chunk_starts[1:]):
            yield from _read_block(
                data, starts[first:last], ends[first:last], numbers[first:last], collector, source_shape
            )
            if bar is not None:
                bar.update(int(ends[last - 1] - starts[first]))
    finally:
        if bar is not None:
            bar.close()


def _chunk_boundaries(starts: np.ndarray, ends: np.ndarray, size: int) -> list[int]:
    """Line indexes cutting the lines into runs of about ``size`` bytes."""
    cuts = [0]
    marks = np.searchsorted(ends, np.arange(starts[0] + size, ends[-1], size, dtype=np.int64))
    for mark in marks.tolist():
        if mark > cuts[-1] and mark < len(starts):
            cuts.append(int(mark))
    cuts.append(len(starts))
    return cuts


def _progress_bar(total: int, *, enabled: bool):
    if not enabled or total < PROGRESS_MIN_BYTES:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="parsing", file=sys.stderr, leave=False)


def _read_block(
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    numbers: np.ndarray,
    collector: Collector,
    source_shape: str | None,
) -> Iterator[pd.DataFrame]:
    if len(starts) == 0:
        return
    # pyarrow's reader crashes (segfault) on some inputs that do not open with an object, e.g. a
    # first line `null`: only lines that are framed `{...}` ever reach it.
    buffer = np.frombuffer(data, dtype=np.uint8)
    framed = (buffer[starts] == 0x7B) & (buffer[ends - 1] == 0x7D)
    if not framed.all():
        edges = (np.flatnonzero(np.diff(framed.astype(np.int8))) + 1).tolist()
        for first, last in zip([0, *edges], [*edges, len(starts)]):
            part = slice(first, last)
            if framed[first]:
                yield from _read_block(data, starts[part], ends[part], numbers[part], collector, source_shape)
            else:
                yield _per_record(data, starts[part], ends[part], numbers[part], collector, source_shape)
        return
    table = None
    if source_shape in (None, "log_stream", "management_api", "eventbridge"):
        shape = _sniff(data, int(starts[0]), int(ends[0]), source_shape)
        table = _columnar(data, int(starts[0]), int(ends[-1]), len(starts), shape)
    if table is not None:
        frame = _table_to_frame(table, data, starts, ends, numbers, collector, source_shape)
        if frame is not None:
            yield frame
            return
    if len(starts) <= MIN_COLUMNAR_LINES or source_shape in ("rule", "action"):
        yield _per_record(data, starts, ends, numbers, collector, source_shape)
        return
    for part in np.array_split(np.arange(len(starts)), SPLIT_PARTS):
        if len(part):
            yield from _read_block(data, starts[part], ends[part], numbers[part], collector, source_shape)


def _sniff(data: bytes, begin: int, end: int, source_shape: str | None) -> str | None:
    """The shape of the line at ``data[begin:end]`` if it is a log shape (picks the schema)."""
    if source_shape is not None:
        return source_shape if source_shape in SHAPE_SCHEMAS else None
    try:
        first = loads(data[begin:end])
    except ValueError:
        return None
    shape = detect_shape(first) if isinstance(first, Mapping) else None
    return shape if shape in SHAPE_SCHEMAS else None


def _columnar(data: bytes, begin: int, end: int, expected_rows: int, shape: str | None) -> pa.Table | None:
    """pyarrow's reading of ``data[begin:end]``, or ``None`` if it refuses or misaligns rows."""
    try:
        buffer = pa.py_buffer(data)[begin:end]
        table = pj.read_json(
            pa.BufferReader(buffer),
            read_options=pj.ReadOptions(block_size=BLOCK_BYTES, use_threads=True),
            parse_options=_PARSE_OPTIONS[shape],
        )
    except (pa.ArrowException, ValueError, UnicodeDecodeError):
        return None
    # Two objects on one line (or one object over several) would shift rows against lines.
    return table if table.num_rows == expected_rows else None


def _per_record(
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    numbers: np.ndarray,
    collector: Collector,
    source_shape: str | None,
) -> pd.DataFrame:
    events: list[AuthEvent] = []
    positions: list[int] = []
    texts: list[str] = []
    for start, end, number in zip(starts.tolist(), ends.tolist(), numbers.tolist()):
        line = data[start:end]
        text = line.decode("utf-8", errors="replace").rstrip(_TRAILING)
        try:
            line.decode("utf-8")
            obj = loads(line)
        except UnicodeDecodeError as error:
            collector.reject(number, text, f"not valid UTF-8 text ({error.reason} at byte {error.start})")
            continue
        except ValueError as error:
            collector.reject(number, text, f"not valid JSON ({error})")
            continue
        if not isinstance(obj, Mapping):
            collector.reject(number, text, f"not a JSON object but {kind(obj)}")
            continue
        try:
            events.append(parse_event(obj, source=source_shape))
        except ParseError as error:
            collector.reject(number, text, str(error))
            continue
        positions.append(number)
        texts.append(text)
    frame = events_to_frame(events, texts)
    frame.insert(0, "_position", positions)
    return frame


def _flat_columns(table: pa.Table) -> dict[str, pa.Array]:
    """Every leaf column of ``table`` by dotted path (``data.location_info.city_name``).

    A leaf is null wherever one of its parents is null (``pc.struct_field`` semantics).
    """
    columns: dict[str, pa.Array] = {}

    def walk(prefix: str, values: pa.Array) -> None:
        columns[prefix] = values
        if pa.types.is_struct(values.type):
            for index in range(values.type.num_fields):
                walk(f"{prefix}.{values.type.field(index).name}", pc.struct_field(values, [index]))

    for name in table.column_names:
        walk(name, table.column(name).combine_chunks())
    return columns


def _nonempty(values: pa.Array) -> pa.Array:
    return pc.and_(pc.is_valid(values), pc.not_equal(pc.fill_null(values, ""), ""))


def _coalesce_nonempty(*arrays: pa.Array | Callable[[], pa.Array]) -> pa.Array:
    """The first non-null, non-empty value across ``arrays`` (null when none is). An item may be
    a function giving the array, called only when the arrays before it leave a row empty."""
    first = arrays[0]() if callable(arrays[0]) else arrays[0]
    filled = _nonempty(first)
    if filled.true_count == len(first):  # the usual case: the first array has every value
        return first
    if len(arrays) == 1:
        return pc.if_else(filled, first, pa.nulls(len(first), first.type))
    return pc.if_else(filled, first, _coalesce_nonempty(*arrays[1:]))


def _table_to_frame(
    table: pa.Table,
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    numbers: np.ndarray,
    collector: Collector,
    source_shape: str | None,
) -> pd.DataFrame | None:
    """The rows of one block the columnar pass vouches for, plus the others parsed per record.

    ``None`` when the block's text is not valid UTF-8 (the caller splits it).
    """
    raw = _line_array(data, starts, ends)
    if raw is None:
        return None
    col = _schema_columns(table)
    return _columns_frame(col, raw, np.ones(len(raw), dtype=bool), data, starts, ends, numbers, collector, source_shape)


def _schema_columns(table: pa.Table) -> dict[str, pa.Array]:
    """Every :data:`LINE_SCHEMA` path of the columnar reader's ``table`` (all-null where the
    shape's schema did not read it)."""
    n = table.num_rows
    read = _flat_columns(table)
    return {
        path: read[path] if path in read and read[path].type == kind_ else pa.nulls(n, kind_)
        for path, kind_ in _PATH_TYPES.items()
    }


def _columns_frame(
    col: dict[str, pa.Array],
    raw: pa.Array,
    vouched: np.ndarray,
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    numbers: np.ndarray,
    collector: Collector,
    source_shape: str | None,
) -> pd.DataFrame:
    """The rows the columnar pass vouches for (``vouched`` and a complete log entry), plus the
    others parsed per record; ``col`` holds every :data:`LINE_SCHEMA` path (struct paths: valid
    where the object is present)."""
    n = len(raw)
    none = pa.array(np.zeros(n, dtype=bool))
    eventbridge = pc.is_valid(col["detail.data"])
    no_detail = pc.is_null(col["detail"])
    log_stream = pc.and_(no_detail, pc.is_valid(col["data"]))
    has_type_and_date = pc.and_(pc.is_valid(col["type"]), pc.is_valid(col["date"]))
    flat = pc.and_(pc.and_(no_detail, pc.is_null(col["data"])), has_type_and_date)
    if source_shape == "log_stream":
        eventbridge, flat, log_stream = none, none, pc.is_valid(col["data"])
    elif source_shape == "eventbridge":
        log_stream, flat = none, none
    elif source_shape == "management_api":
        eventbridge, log_stream, flat = none, none, has_type_and_date
    any_eventbridge = eventbridge.true_count > 0
    any_flat = flat.true_count > 0
    all_log_stream = log_stream.true_count == n

    def pick(name: str) -> pa.Array:
        """Field ``name`` (dotted) of the log entry, whichever shape holds it."""
        out = col[f"data.{name}"]
        if not all_log_stream:
            out = pc.if_else(log_stream, out, pa.nulls(n, out.type))
        if any_flat:
            out = pc.if_else(flat, col[name], out)
        if any_eventbridge:
            out = pc.if_else(eventbridge, col[f"detail.data.{name}"], out)
        return out

    outer_id = pc.if_else(log_stream, col["log_id"], pa.nulls(n, _TEXT))
    if any_eventbridge:
        outer_id = pc.if_else(eventbridge, col["detail.log_id"], outer_id)
    event_id = _coalesce_nonempty(outer_id, pick("log_id"), pick("_id"))
    type_code = pick("type")
    timestamps = parse_timestamp_array(pick("date"))
    shaped = pc.or_(pc.or_(eventbridge, log_stream), flat)
    accepted = pc.and_(pc.and_(shaped, _nonempty(event_id)), pc.and_(_nonempty(type_code), pc.is_valid(timestamps)))
    accepted_np = np.asarray(accepted.to_numpy(zero_copy_only=False), dtype=bool) & vouched

    columns: dict[str, Any] = {"event_id": event_id, "timestamp": timestamps, "type": type_code}
    for name in _TEXT_COLUMNS:
        columns[name] = pick(name)
    for name in ("country_code", "country_code3", "country_name", "city_name", "latitude", "longitude"):
        columns[name] = pick(f"location_info.{name}")
    columns["is_mobile"] = pc.coalesce(pick("is_mobile"), pick("isMobile"))
    columns["tenant"] = _coalesce_nonempty(
        pick("tenant_name"),
        pick("tenant"),
        lambda: _mapped_text(columns["hostname"], tenant_from_hostname),
    )
    source = pc.if_else(eventbridge, "eventbridge", pc.if_else(log_stream, "log_stream", "management_api"))
    frame = _columns_to_frame(columns, source, raw, numbers)
    slow_index = np.flatnonzero(~accepted_np)
    if len(slow_index) == 0:
        return frame
    fast = frame[accepted_np]
    slow = _per_record(data, starts[slow_index], ends[slow_index], numbers[slow_index], collector, source_shape)
    return pd.concat([fast, slow], ignore_index=True).sort_values("_position", kind="stable", ignore_index=True)


_TRAILING = " \t\r\n\x0b\x0c"


#: Where the ``raw`` text is allocated: one fresh buffer the size of a chunk per chunk, kept to
#: the end. The C library's allocator gives these (mmap'd) about twice as fast as pyarrow's
#: default mimalloc pool on the benchmark machine (0.5-0.8 s against 1.0-1.6 s for 12 chunks
#: of 32 MiB, interleaved runs, 2026-12-03).
_RAW_POOL = pa.system_memory_pool()


def _line_array(data: bytes, starts: np.ndarray, ends: np.ndarray) -> pa.Array | None:
    """The consecutive lines ``starts``..``ends`` as one string array (trailing whitespace cut).

    Each string first spans from its line's start to the next line's start (offsets straight
    into ``data``, no copy: the newline, a ``\r`` and any blank lines in between are inside it);
    one ``utf8_rtrim`` pass then cuts :data:`_TRAILING` from every line (the per-record path's
    ``rstrip``). ``None`` when the text is not valid UTF-8 (the caller then goes line by line).
    """
    offsets = np.concatenate((starts, ends[-1:])).astype(np.int64)
    spans = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        spans.validate(full=True)
    except pa.ArrowInvalid:
        return None
    return pc.utf8_rtrim(spans, characters=_TRAILING, memory_pool=_RAW_POOL)


def _categorical(values: pa.Array, mapper, categories: list[str]) -> pd.Categorical:
    """Apply ``mapper`` once per distinct value of ``values``; broadcast the results."""
    encoded = pc.dictionary_encode(values)
    uniques = encoded.dictionary.to_pylist()
    mapped = np.array([categories.index(mapper(value)) for value in uniques] + [-1], dtype=np.int16)
    codes = np.asarray(encoded.indices.fill_null(len(uniques)).to_numpy(zero_copy_only=False))
    return pd.Categorical.from_codes(mapped[codes], categories=categories)


def _mapped_text(values: pa.Array, mapper) -> pa.Array:
    """``mapper`` applied once per distinct value of ``values`` (strings; nulls stay null)."""
    encoded = pc.dictionary_encode(values)
    mapped = pa.array([mapper(value) for value in encoded.dictionary.to_pylist()], type=_TEXT)
    return pc.take(mapped, encoded.indices)


def _columns_to_frame(columns: dict[str, Any], source: pa.Array, raw: pa.Array, numbers: np.ndarray) -> pd.DataFrame:
    type_code = columns["type"]
    description = columns["description"]
    if description.null_count:  # the type's description where the record has none
        description = pc.coalesce(description, _mapped_text(type_code, describe_type))
    user_name = columns["user_name"]
    email = pc.if_else(
        pc.fill_null(pc.match_substring(user_name, "@"), False), user_name, pa.nulls(len(user_name), _TEXT)
    )
    code, iso3, name = _countries(columns["country_code"], columns["country_code3"], columns["country_name"])

    def text(values: pa.Array) -> pd.Series:
        return pd.Series(values.to_pandas(types_mapper=_STRING_TYPES.get))

    out = {
        "_position": numbers,
        "event_id": text(columns["event_id"]),
        "timestamp": pd.Series(columns["timestamp"].to_pandas()).astype(COLUMNS["timestamp"]),
        "type": text(type_code),
        "category": _categorical(type_code, category_for, list(CATEGORIES)),
        "description": text(description),
        "user_id": text(columns["user_id"]),
        "user_name": text(user_name),
        "email": text(email),
        "connection": text(columns["connection"]),
        "client_id": text(columns["client_id"]),
        "client_name": text(columns["client_name"]),
        "ip": text(columns["ip"]),
        "user_agent": text(columns["user_agent"]),
        "country_code": text(code),
        "country_iso3": text(iso3),
        "country_name": text(name),
        "city": text(columns["city_name"]),
        "latitude": columns["latitude"].to_numpy(zero_copy_only=False),
        "longitude": columns["longitude"].to_numpy(zero_copy_only=False),
        "is_mobile": pd.array(
            columns["is_mobile"].to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get), dtype="boolean"
        ),
        "tenant": text(columns["tenant"]),
        "source": _categorical(source, lambda value: value, list(SOURCES)),
        "raw": text(raw),
    }
    return pd.DataFrame(out)


def _countries(code: pa.Array, code3: pa.Array, name: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Normalised (alpha-2, alpha-3, name) per row, resolving each distinct triple once."""
    n = len(code)
    if n == 0 or (code.null_count == n and code3.null_count == n and name.null_count == n):
        empty = pa.nulls(n, _TEXT)
        return empty, empty, empty
    # Combine the three columns' dictionary indices into one integer key per row; resolve each
    # distinct key once.
    encoded = [pc.dictionary_encode(values) for values in (code, code3, name)]
    key = np.zeros(n, dtype=np.int64)
    for values in encoded:
        size = len(values.dictionary) + 1
        indices = np.asarray(values.indices.fill_null(size - 1).to_numpy(zero_copy_only=False), dtype=np.int64)
        key = key * size + indices
    distinct, inverse = np.unique(key, return_inverse=True)
    dictionaries = [values.dictionary.to_pylist() + [None] for values in encoded]
    sizes = [len(values) for values in dictionaries]
    resolved = []
    for combined in distinct.tolist():
        parts = []
        for size in reversed(sizes):
            combined, index = divmod(combined, size)
            parts.append(index)
        a, b, c = reversed(parts)
        resolved.append(resolve_country(dictionaries[0][a], dictionaries[1][b], dictionaries[2][c]))
    out = []
    for index in range(3):
        values = pa.array([country[index] or None for country in resolved], type=_TEXT)
        out.append(pc.take(values, pa.array(inverse.ravel())))
    return out[0], out[1], out[2]


def _finish(frames: list[pd.DataFrame], collector: Collector, *, dedup: bool) -> LogFrame:
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return LogFrame(empty_frame(), _sorted(collector.result.rejects, collector.inputs), 0)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    duplicates = 0
    if dedup and not _all_distinct(frame["event_id"]):
        repeated = frame["event_id"].duplicated(keep="first").to_numpy(dtype=bool, na_value=False)
        if repeated.any():
            frame, duplicates = _drop_repeats(frame, repeated, collector)
    frame = frame.drop(columns=[name for name in ("_position", "_input") if name in frame.columns])
    frame = conform(frame.reset_index(drop=True))
    return LogFrame(frame, _sorted(collector.result.rejects, collector.inputs), duplicates)


def _all_distinct(values: pd.Series) -> bool:
    """Whether no value of ``values`` repeats (one hash pass in pyarrow: the usual case, a file
    without duplicates, then skips pandas' factorize, which costs about three times as much)."""
    try:
        array = pa.chunked_array(values.array.__arrow_array__())
    except (AttributeError, TypeError, pa.ArrowException):
        return False  # not arrow-backed: let pandas decide
    return len(pc.unique(array)) == len(values)


def _drop_repeats(frame: pd.DataFrame, repeated: np.ndarray, collector: Collector) -> tuple[pd.DataFrame, int]:
    """Drop rows repeating a kept ``event_id``: retries are counted, conflicts become rejects."""
    fields = list(CONTENT_FIELDS)
    ids = frame["event_id"].tolist()
    first_rows: dict[str, int] = {}
    for index in np.flatnonzero(~repeated).tolist():
        first_rows.setdefault(ids[index], index)
    inputs = frame["_input"].tolist() if "_input" in frame.columns else None
    duplicates = 0
    content = frame[fields]
    for index in np.flatnonzero(repeated).tolist():
        first = first_rows[ids[index]]
        if all(_same(content.iat[first, k], content.iat[index, k]) for k in range(len(fields))):
            duplicates += 1
            continue
        first_position = int(frame["_position"].iat[first])
        where = f"record {first_position}"
        if inputs is not None and inputs[first] != inputs[index]:
            where = f"{inputs[first]} record {first_position}"
        collector.reject(
            int(frame["_position"].iat[index]),
            str(frame["raw"].iat[index]),
            f"event id {ids[index]!r} was already seen in {where} with different content; {where} was kept",
            input=inputs[index] if inputs is not None else None,
        )
    return frame[~repeated], duplicates


def _same(a: Any, b: Any) -> bool:
    a_missing, b_missing = pd.isna(a), pd.isna(b)
    if a_missing or b_missing:
        return bool(a_missing and b_missing)
    return bool(a == b)


def _sorted(rejects: list[Reject], inputs: list[str] | None = None) -> list[Reject]:
    """Rejects in input order, then by position."""
    order = {name: index for index, name in enumerate(inputs or [])}
    return sorted(rejects, key=lambda reject: (order.get(reject.input or "", 0), reject.position))
