"""The events archive on disk: Parquet laid out so that rules read little (one place for the layout).

``authviz logs pull`` (``DIR/date=YYYY-MM-DD/part-*.parquet``), the Parquet output of
``authviz logs convert`` and ``benchmarks/bench_rules.py`` all write it through this module.

Layout (since issue #13): the schema columns (:data:`authviz.auth0.schema.COLUMNS`, ``raw`` the
untouched record as JSON text), then the derived columns of :data:`DERIVED`:

- ``type_key``: ``lower(type)``, what a case-insensitive rule test on ``type`` compares;
- ``hostname``: the record's ``data.hostname`` as text (a login's key that rules read);
- ``details``: the record's ``data.details`` as JSON text (the subtree most rule paths go into);

rows sorted by ``type_key``, then ``timestamp`` and ``event_id``, in row groups of
:data:`ROW_GROUP_ROWS`, Snappy-compressed. Parquet keeps min/max per row group, so a scan filtered on
``type_key = 'sapi'`` skips every row group without such events and never decompresses their ``raw``.

Invariant: every derived column is a pure function of ``raw``/``source``/``type`` computed by the
SQL of :func:`derived_select`, so a reader that computes it over an older archive (no derived
columns, any row order) or over events in memory gets exactly what a writer stores.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

#: Rows per Parquet row group: small enough that a rare event type spans few row groups of a day.
ROW_GROUP_ROWS = 32_768
#: The Parquet compression of an archive. Snappy (Parquet's usual codec, read by every engine):
#: rules decode the same columns again and again, and zstd's files, half the size, cost 15% more
#: time for all the rules over 10M events (benchmarks/RESULTS.md, session 5).
COMPRESSION = "snappy"
#: ``lower(type)``: the column case-insensitive tests on ``type`` compare (and the sort key).
TYPE_KEY = "type_key"
#: Keys of the Auth0 record kept as text columns of the same name (the scalar's text).
SCALAR_COLUMNS = frozenset({"hostname"})
#: Keys of the Auth0 record kept as JSON text columns of the same name (the subtree).
OBJECT_COLUMNS = frozenset({"details"})
#: The derived columns, in file order.
DERIVED: tuple[str, ...] = (TYPE_KEY, "hostname", "details")
#: The order of rows in an archive file.
SORT_KEY: tuple[str, ...] = (TYPE_KEY, "timestamp", "event_id")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def data_json(path: str, *, function: str = "json_extract", raw: str = "raw", source: str = "source") -> str:
    """SQL reading JSON ``path`` (``$.a.b``, relative to the Auth0 ``data`` object) from ``raw`` by its shape:
    ``raw.data`` for Log Streaming records, ``raw.detail.data`` for EventBridge, the record itself otherwise."""
    rest = path[1:]  # without "$"
    return (
        f"(CASE WHEN {source} = 'log_stream' THEN {function}({raw}, {_quote('$.data' + rest)}) "
        f"WHEN {source} = 'eventbridge' THEN {function}({raw}, {_quote('$.detail.data' + rest)}) "
        f"ELSE {function}({raw}, {_quote(path)}) END)"
    )


def derived_sql(name: str, *, raw: str = "raw", source: str = "source", type_: str = '"type"') -> str:
    """The SQL computing derived column ``name`` from the schema columns."""
    if name == TYPE_KEY:
        return f"lower({type_})"
    path = '$."' + name + '"'
    if name in SCALAR_COLUMNS:
        return data_json(path, function="json_extract_string", raw=raw, source=source)
    if name in OBJECT_COLUMNS:
        return f"CAST({data_json(path, raw=raw, source=source)} AS VARCHAR)"
    raise KeyError(name)


def derived_select() -> str:
    """``expr AS name, ...`` for every derived column, over a relation with the schema columns."""
    return ", ".join(f'{derived_sql(name)} AS "{name}"' for name in DERIVED)


def archive_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` (schema columns, as ``read_logs`` gives) with the derived columns, in archive row order."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    with duckdb.connect() as con:
        con.register("_frame", table)
        # a projection keeps the input order (DuckDB preserves insertion order by default)
        derived = con.sql(f"SELECT {derived_select()} FROM _frame").to_arrow_table()
    for name in DERIVED:
        table = table.append_column(name, derived[name].cast(pa.string()))
    return table.sort_by([(key, "ascending") for key in SORT_KEY])


def write_parquet(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as one archive file at ``path`` (through a hidden temporary file and a rename,
    so readers never see half a file). ``pandas.read_parquet`` gives back the schema dtypes."""
    path = Path(path)
    tmp = path.with_name("." + path.name + ".tmp")
    pq.write_table(archive_table(frame), tmp, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS)
    os.replace(tmp, path)
    return path


def copy_sql(select: str, target: str | Path) -> str:
    """The DuckDB statement writing the events of query ``select`` (schema columns) as one archive file."""
    order = ", ".join(f'"{key}"' for key in SORT_KEY)
    return (
        f"COPY (SELECT *, {derived_select()} FROM ({select}) ORDER BY {order}) TO {_quote(str(target))} "
        f"(FORMAT parquet, COMPRESSION {COMPRESSION}, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
    )
