"""Running rules on DuckDB: events from DataFrames, log files, tables or a Parquet archive.

The events relation (view ``events``) has the schema columns of :mod:`authviz.auth0.schema` and
``data``, the Auth0 log record as JSON (taken from a ``data`` column when the input has one,
otherwise from ``raw`` by shape: ``raw.data`` for Log Streaming records, ``raw.detail.data`` for
EventBridge, the record itself for Management API entries). Findings are written into DuckDB (the
view ``findings``) as each rule runs, so neither events nor findings need to fit in memory;
:meth:`DetectionEngine.findings` hands them over as pandas.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from authviz.auth0.archive import DERIVED, derived_sql
from authviz.auth0.schema import COLUMNS
from authviz.detections.compile import DUCKDB_EVENTS, PY_REGEX_FUNCTION, findings_query
from authviz.detections.load import RuleError
from authviz.detections.model import Rule, TenantSettings

#: Columns of a finding, in order (``group`` is a mapping of group-by field to value).
FINDING_COLUMNS: tuple[str, ...] = ("rule_id", "title", "level", "group", "count", "first", "last", "event_ids")

_DATA_FROM_RAW = (
    "CASE WHEN source = 'log_stream' THEN json_extract(raw, '$.data') "
    "WHEN source = 'eventbridge' THEN json_extract(raw, '$.detail.data') "
    "ELSE CAST(raw AS JSON) END"
)


@dataclass(slots=True)
class RunReport:
    """What a run did: rules run, rules skipped for configuration, rules that failed (one sentence each)."""

    ran: list[Rule] = field(default_factory=list)
    needs_configuration: list[tuple[Rule, tuple[str, ...]]] = field(default_factory=list)
    failed: list[tuple[Rule, str]] = field(default_factory=list)
    findings: int = 0


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _py_regexp(text: str, pattern: str) -> bool:
    return _compiled(pattern).search(text) is not None


class DetectionEngine:
    """A DuckDB database holding events and findings. ``memory_limit`` like ``"2GB"``."""

    def __init__(
        self,
        database: str = ":memory:",
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
        temp_directory: str | None = None,
    ) -> None:
        self.con = duckdb.connect(database)
        # DuckDB's own progress bar is a widget in Jupyter after 2 s of work: nondeterministic output
        # in notebooks (nbval), and `authviz detect` reports progress per rule itself.
        self.con.execute("SET enable_progress_bar = false")
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{_setting(memory_limit)}'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if temp_directory:
            self.con.execute(f"SET temp_directory = '{_setting(temp_directory)}'")
        # registered in the database's catalog: every cursor of this connection sees it too
        text, boolean = duckdb.sqltype("VARCHAR"), duckdb.sqltype("BOOLEAN")
        self.con.create_function(PY_REGEX_FUNCTION, _py_regexp, [text, text], boolean)
        self._sources: list[str] = []
        self._stored = False
        self._create_findings()

    # ---- events ----------------------------------------------------------------------------
    def add_frame(self, frame: pd.DataFrame) -> int:
        """Append a schema DataFrame (from ``read_logs``) to the stored events; returns the rows added
        (an ``event_id`` already stored is not added again)."""
        if not self._stored:
            self.con.execute("CREATE TABLE stored_events AS SELECT * FROM frame LIMIT 0").fetchall()
            self._stored = True
            self._sources.append("SELECT * FROM stored_events")
        self.con.register("_incoming", frame)
        try:
            before = self.con.execute("SELECT count(*) FROM stored_events").fetchall()[0][0]
            # an event repeated across inputs is stored once (the first seen)
            self.con.execute(
                "INSERT INTO stored_events BY NAME SELECT * FROM _incoming "
                "WHERE event_id IS NULL OR event_id NOT IN (SELECT event_id FROM stored_events "
                "WHERE event_id IS NOT NULL)"
            ).fetchall()
            after = self.con.execute("SELECT count(*) FROM stored_events").fetchall()[0][0]
        finally:
            self.con.unregister("_incoming")
        return after - before

    def add_parquet(self, path: str | Path) -> None:
        """Read a Parquet file or a ``logs pull``/``logs convert`` archive directory in place."""
        path = Path(path)
        pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
        if path.is_dir() and not any(path.rglob("*.parquet")):
            raise RuleError(f"{str(path)!r} holds no .parquet files")
        self._sources.append(
            f"SELECT * FROM read_parquet({_quote(pattern)}, hive_partitioning = true, union_by_name = true)"
        )

    def add_table(self, name: str) -> None:
        """Use an existing table or view of this database (schema columns, ``raw`` or ``data``)."""
        self._sources.append(f"SELECT * FROM {_identifier(name)}")

    def define_events(self, *, since: datetime | None = None, until: datetime | None = None) -> None:
        """(Re)create the view ``events`` over every source, limited to ``since <= timestamp < until``.

        The view has the schema columns, ``data`` and the archive's derived columns
        (:data:`authviz.auth0.archive.DERIVED`): read from an archive that stores them, computed
        from ``raw`` otherwise (the same SQL the archive writer runs, so the same values).
        """
        sources = self._sources or [self._empty_source()]  # no events (all rejected): no findings
        parts = []
        for source in sources:
            types = {row[0]: row[1] for row in self.con.execute(f"DESCRIBE {source}").fetchall()}
            names = set(types)
            # ``raw`` and ``source`` say where ``data`` is; an input with only ``data`` gets a Log
            # Streaming ``raw`` around it.
            if "raw" in names:
                data, raw, shape = _DATA_FROM_RAW, "CAST(raw AS VARCHAR) AS raw", None
            elif "data" in names:
                data = "CAST(data AS JSON)"
                raw, shape = "CAST(json_object('data', CAST(data AS JSON)) AS VARCHAR) AS raw", "'log_stream' AS source"
            else:
                data, raw, shape = "NULL::JSON", "NULL::VARCHAR AS raw", None
            columns = [f'"{c}"' if c in names else f'NULL AS "{c}"' for c in COLUMNS if c not in ("raw", "source")]
            columns.append(shape or ("CAST(source AS VARCHAR) AS source" if "source" in names else "NULL AS source"))
            columns.append(raw)
            timestamp = "CAST(timestamp AS TIMESTAMPTZ) AS timestamp"
            columns = [timestamp if c == '"timestamp"' else c for c in columns]
            stored = [f'"{name}"' for name in DERIVED if name in names]  # text columns, as written
            inner = (
                f"SELECT {', '.join(columns + stored)}, {data} AS data FROM ({source}){_pushed(types, since, until)}"
            )
            computed = [f'{derived_sql(name)} AS "{name}"' for name in DERIVED if name not in names]
            derived = ", ".join(f'"{name}"' for name in DERIVED)
            parts.append(
                f"SELECT {', '.join(_q(c) for c in COLUMNS)}, data, {derived} FROM "
                f"(SELECT *{', ' + ', '.join(computed) if computed else ''} FROM ({inner}))"
            )
        where = []
        if since is not None:
            where.append(f"timestamp >= {_quote(since.isoformat())}::TIMESTAMPTZ")
        if until is not None:
            where.append(f"timestamp < {_quote(until.isoformat())}::TIMESTAMPTZ")
        body = " UNION ALL ".join(parts)
        filtered = f"SELECT * FROM ({body})" + (" WHERE " + " AND ".join(where) if where else "")
        self.con.execute(f"CREATE OR REPLACE VIEW events AS {filtered}")

    def _empty_source(self) -> str:
        from authviz.auth0.schema import empty_frame

        self.con.register("_empty_schema", empty_frame())
        self.con.execute("CREATE OR REPLACE TABLE _schema_events AS SELECT * FROM _empty_schema").fetchall()
        self.con.unregister("_empty_schema")
        return "SELECT * FROM _schema_events"

    def define_events_empty(self) -> None:
        """An empty ``events`` view with every column rules may read (to check that rules compile)."""
        self._sources = [self._empty_source()]
        self.define_events()

    def count_events(self) -> int:
        return self.con.execute("SELECT count(*) FROM events").fetchall()[0][0]

    # ---- rules -----------------------------------------------------------------------------
    def _create_findings(self) -> None:
        # A finding row names its rule by id; title and level are kept once per rule (a rule may
        # find millions of events: writing its title into each row cost more than finding them).
        self.con.execute(
            "CREATE OR REPLACE TABLE finding_rows (rule_id VARCHAR, "
            '"group" JSON, count BIGINT, first TIMESTAMPTZ, last TIMESTAMPTZ, event_ids VARCHAR[])'
        )
        self.con.execute(
            "CREATE OR REPLACE TABLE finding_rules (rule_id VARCHAR PRIMARY KEY, title VARCHAR, level VARCHAR)"
        )
        self.con.execute(
            'CREATE OR REPLACE VIEW findings AS SELECT f.rule_id, r.title, r.level, f."group", f.count, f.first, '
            "f.last, f.event_ids FROM finding_rows AS f JOIN finding_rules AS r USING (rule_id)"
        )

    def run(
        self,
        rules: Iterable[Rule],
        settings: TenantSettings | None = None,
        *,
        progress: Callable[[Rule], None] | None = None,
    ) -> RunReport:
        """Run ``rules`` over ``events`` (call :meth:`define_events` first), appending to ``findings``.

        A rule whose placeholders ``settings`` leaves unset is reported, never run; a rule that
        cannot be compiled or fails in DuckDB is reported with one sentence and the others run.
        """
        if "events" not in {r[0] for r in self.con.execute("SELECT view_name FROM duckdb_views()").fetchall()}:
            self.define_events()
        report = RunReport()
        runnable: list[Rule] = []
        for rule in rules:
            missing = rule.missing(settings)
            if missing:
                report.needs_configuration.append((rule, missing))
            else:
                runnable.append(rule)
        outcomes: dict[int, int | str] = {}  # rule's index -> rows added, or the sentence of its failure
        for index, outcome in self._each_rule(runnable, settings):
            outcomes[index] = outcome
            rule = runnable[index]
            if isinstance(outcome, int):
                self.con.execute(
                    "INSERT OR REPLACE INTO finding_rules VALUES (?, ?, ?)", [rule.id, rule.title, rule.level]
                )
            if progress is not None:
                progress(rule)
        for index, rule in enumerate(runnable):  # the report lists rules in the order given
            outcome = outcomes[index]
            if isinstance(outcome, int):
                report.findings += outcome
                report.ran.append(rule)
            else:
                report.failed.append((rule, outcome))
        return report

    def _each_rule(self, rules: list[Rule], settings: TenantSettings | None) -> Iterator[tuple[int, int | str]]:
        """(index, rows added or a failure's sentence) of each rule, as rules complete.

        Rules run side by side, one DuckDB connection each (``cursor()``: same database, its own
        transaction), with DuckDB's threads shared out among them: a rule's windows and joins do not keep
        every core busy, rules side by side do (10M events: 10-20% less time, benchmarks/RESULTS.md). Every rule only appends to ``finding_rows``, and
        appends never conflict. The caller's thread does everything else (``finding_rules``,
        progress), so callbacks never run on a worker thread.
        """
        threads = int(self.con.execute("SELECT current_setting('threads')").fetchall()[0][0])
        workers = max(1, min(len(rules), threads))
        if workers == 1:
            for index, rule in enumerate(rules):
                yield index, self._run_one(self.con, rule, settings)
            return
        self.con.execute(f"SET threads = {max(1, threads // workers)}")
        local = threading.local()
        cursors: list[duckdb.DuckDBPyConnection] = []  # one per worker thread, closed at the end

        def run(index: int) -> tuple[int, int | str]:
            con = getattr(local, "con", None)
            if con is None:
                con = local.con = self.con.cursor()
                cursors.append(con)
            return index, self._run_one(con, rules[index], settings)

        # correlations and SQL rules (windows, joins: the long ones) start first, so the last rules
        # running side by side are short ones and no core waits long for the last rule to end
        order = sorted(
            range(len(rules)), key=lambda index: rules[index].correlation is None and rules[index].sql is None
        )
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="authviz-rule") as pool:
                for future in as_completed([pool.submit(run, index) for index in order]):
                    yield future.result()
        finally:
            for con in cursors:
                con.close()
            self.con.execute(f"SET threads = {threads}")

    def _run_one(self, con: duckdb.DuckDBPyConnection, rule: Rule, settings: TenantSettings | None) -> int | str:
        try:
            # an INSERT answers the number of rows it added
            return con.execute(self.insert_sql(rule, settings)).fetchall()[0][0]
        except (RuleError, duckdb.Error) as error:
            return _sentence(rule, error)

    def insert_sql(self, rule: Rule, settings: TenantSettings | None) -> str:
        """The statement that runs ``rule``, adding its findings to ``finding_rows`` (the view ``findings``
        adds title and level)."""
        columns = ", ".join(_q(c) for c in FINDING_COLUMNS if c not in ("title", "level"))
        return (
            f"INSERT INTO finding_rows SELECT {columns} FROM ({findings_query(rule, settings, DUCKDB_EVENTS)}) AS found"
        )

    # ---- results ---------------------------------------------------------------------------
    def findings(self) -> pd.DataFrame:
        """Every finding so far, ordered by first event, as pandas (``group`` a dict, ``event_ids`` a list)."""
        frame = self.con.execute(
            f"SELECT {', '.join(_q(c) for c in FINDING_COLUMNS)} FROM findings ORDER BY first, rule_id"
        ).df()
        return _hand_over(frame)

    def iter_findings(self, batch: int = 10_000) -> Iterator[dict]:
        """The findings one at a time, ``batch`` rows in memory at most."""
        cursor = self.con.cursor()
        cursor.execute(f"SELECT {', '.join(_q(c) for c in FINDING_COLUMNS)} FROM findings ORDER BY first, rule_id")
        while rows := cursor.fetchmany(batch):
            for row in rows:
                record = dict(zip(FINDING_COLUMNS, row))
                record["group"] = _group(record["group"])
                yield record

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "DetectionEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def detect(
    events: pd.DataFrame | str | Path,
    rules: Iterable[Rule] | None = None,
    *,
    settings: TenantSettings | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """Findings of ``rules`` (default: every packaged rule) over a schema DataFrame or Parquet path."""
    from authviz.detections.load import packaged_rules

    rules = list(rules) if rules is not None else packaged_rules().rules
    with DetectionEngine() as engine:
        if isinstance(events, pd.DataFrame):
            engine.add_frame(events)
        else:
            engine.add_parquet(events)
        engine.define_events(since=since, until=until)
        engine.run(rules, settings)
        return engine.findings()


def _pushed(types: dict[str, str], since: datetime | None, until: datetime | None) -> str:
    """`` WHERE`` comparing a source's own time zone-aware ``timestamp`` column with ``since``/``until``
    cast to its type, so a Parquet scan skips row groups (the view's filter on the cast column
    cannot be pushed). Implied by that filter: the bounds have microseconds, the cast truncates to them."""
    kind = types.get("timestamp", "")
    if not kind.startswith("TIMESTAMP") or not ("TZ" in kind or "TIME ZONE" in kind):
        return ""
    where = [f'"timestamp" >= CAST({_quote(since.isoformat())} AS {kind})'] if since is not None else []
    where += [f'"timestamp" < CAST({_quote(until.isoformat())} AS {kind})'] if until is not None else []
    return " WHERE " + " AND ".join(where) if where else ""


def _hand_over(frame: pd.DataFrame) -> pd.DataFrame:
    frame["group"] = [_group(g) for g in frame["group"]]
    frame["event_ids"] = [list(ids) if ids is not None else [] for ids in frame["event_ids"]]
    for column in ("first", "last"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _group(value: object) -> dict:
    import json

    if value is None:
        return {}
    return json.loads(value) if isinstance(value, str) else dict(value)


def _sentence(rule: Rule, error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"rule {rule.id} ({rule.source}) could not run: {text}"


def _quote(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _q(name: str) -> str:
    return '"' + name + '"'


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
        raise RuleError(f"{name!r} is not a table name")
    return name


def _setting(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_./ -]+", value):
        raise RuleError(f"{value!r} is not a valid DuckDB setting value")
    return value
