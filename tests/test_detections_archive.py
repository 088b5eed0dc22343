"""The archive layout for rules (issue #13): every rule finds the same in an archive written before it
(schema columns and ``raw`` only, rows in any order), in one written now (derived columns, rows
sorted by type), in ``logs convert``'s Parquet and in the plain log file."""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from authviz.analytics.pull import PartitionWriter
from authviz.auth0 import archive, read_logs
from authviz.auth0.archive import DERIVED, ROW_GROUP_ROWS, SORT_KEY, derived_select
from authviz.auth0.schema import COLUMNS
from authviz.cli import main
from authviz.detections import DetectionEngine
from authviz.detections import engine as engine_module
from authviz.detections.compile import DUCKDB
from authviz.detections.run import gather_rules, run_rules
from authviz.simulator import month_of_traffic
from detection_cases import SETTINGS, cases


def _records() -> list[dict]:
    """A simulated month with the catalog's attacks, every catalog case (firing and near misses),
    and copies of the firing cases whose type codes are upper case (rules compare them case-insensitively)."""
    records = list(month_of_traffic(seed=11, days=8, events_per_day=1500, catalog=True).records)
    for fire, near in cases().values():
        records.extend(fire + near)
        for record in fire:
            shouted = copy.deepcopy(record)
            shouted["log_id"] = shouted["data"]["log_id"] = "U" + record["log_id"]
            shouted["data"]["type"] = str(record["data"]["type"]).upper()
            records.append(shouted)
    return records


def _old_layout(frame: pd.DataFrame, out: Path) -> None:
    """What ``logs pull`` wrote before the layout: the schema columns by day, rows as they came."""
    days = frame["timestamp"].dt.strftime("%Y-%m-%d")
    for day, part in frame.groupby(days.to_numpy()):
        (out / f"date={day}").mkdir(parents=True)
        table = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
        pq.write_table(table, out / f"date={day}" / "part-0.parquet")


def _findings(inputs: list[Path]) -> list[tuple]:
    engine, _, report = run_rules(inputs, gather_rules(), SETTINGS)  # every packaged rule
    try:
        assert not report.failed, report.failed
        return sorted(
            (
                f["rule_id"],
                json.dumps(f["group"], sort_keys=True),
                f["count"],
                f["first"],
                f["last"],
                tuple(f["event_ids"]),
            )
            for f in engine.iter_findings()
        )
    finally:
        engine.close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("layouts")
    records = _records()
    log_file = folder / "logs.jsonl"
    log_file.write_text("".join(json.dumps(r) + "\n" for r in records))
    logs = read_logs(log_file)
    assert not logs.rejects
    _old_layout(logs.frame, folder / "old")
    PartitionWriter(folder / "new").write(logs.frame)
    assert main(["logs", "convert", str(log_file), "-o", str(folder / "converted.parquet")]) == 0
    return {
        "log file": log_file,
        "old archive": folder / "old",
        "new archive": folder / "new",
        "converted": folder / "converted.parquet",
    }


def test_every_rule_finds_the_same_in_every_layout(inputs, monkeypatch):
    found = {name: _findings([path]) for name, path in inputs.items()}
    # the reference: the old archive read as before, every JSON path parsed from ``raw``
    monkeypatch.setattr(engine_module, "DUCKDB_EVENTS", DUCKDB)
    reference = _findings([inputs["old archive"]])
    rules_that_fired = {row[0] for row in reference}
    assert len(reference) > 100 and len(rules_that_fired) >= 25  # the comparison is not about nothing
    for name, rows in found.items():
        assert rows == reference, name


def test_the_new_layout_stores_derived_columns_as_readers_compute_them_and_sorts_rows(inputs):
    files = sorted(inputs["new archive"].rglob("*.parquet")) + [inputs["converted"]]
    con = duckdb.connect()
    for path in files:
        names = [
            row[0]
            for row in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet('{path}', hive_partitioning = false)"
            ).fetchall()
        ]
        assert names == list(COLUMNS) + list(DERIVED)
        differing = con.execute(
            f"SELECT count(*) FROM (SELECT {', '.join(DERIVED)} FROM read_parquet('{path}', hive_partitioning = false) "
            f"EXCEPT ALL SELECT {derived_select()} FROM read_parquet('{path}', hive_partitioning = false))"
        ).fetchall()[0][0]
        assert differing == 0, path
        keys = con.execute(
            f"SELECT {', '.join(SORT_KEY)} FROM read_parquet('{path}', hive_partitioning = false)"
        ).fetchall()
        assert keys == sorted(keys, key=lambda k: tuple((v is None, v) for v in k)), path
        groups = pq.ParquetFile(path).metadata
        assert all(groups.row_group(i).num_rows <= ROW_GROUP_ROWS for i in range(groups.num_row_groups))
    frame = pd.read_parquet(inputs["converted"])
    assert frame["type_key"].notna().any() and frame["details"].notna().any()
    assert (frame["type_key"] == frame["type"].str.lower()).all()


def test_a_rare_type_is_read_from_few_row_groups(tmp_path, monkeypatch):
    """``type = 'sapi'`` (any case) in the new layout reads only row groups holding sapi events."""
    monkeypatch.setattr(archive, "ROW_GROUP_ROWS", 1024)  # many row groups from few events
    records = list(month_of_traffic(seed=3, days=1, events_per_day=12_000, catalog=True).records)
    frame = read_logs(records).frame
    out = tmp_path / "archive"
    PartitionWriter(out).write(frame)
    engine, _, report = run_rules([out], gather_rules([]), SETTINGS)
    try:
        plan = engine.con.execute("EXPLAIN ANALYZE SELECT count(*) FROM events WHERE type_key = 'sapi'").fetchall()[0][
            1
        ]
    finally:
        engine.close()
    scanned = [line for line in plan.splitlines() if "Row Groups Scanned" in line]
    assert scanned, plan
    read, total = (int(x.replace(",", "")) for x in scanned[0].split(":")[1].strip(" │").split("/"))
    assert total > 2 and read < total


def test_since_and_until_are_pushed_into_the_archive_scan(inputs):
    """``authviz detect --since/--until`` over an archive reads only the row groups of those days."""
    from datetime import timedelta

    from authviz.detections import DetectionEngine

    with DetectionEngine() as engine:
        engine.add_parquet(inputs["new archive"])
        engine.define_events()
        middle = engine.con.execute("SELECT quantile_disc(timestamp, 0.5) FROM events").fetchall()[0][0]
        since = middle - timedelta(hours=12)
        engine.define_events(since=since, until=since + timedelta(days=1))
        plan = engine.con.execute("EXPLAIN ANALYZE SELECT count(*) FROM events").fetchall()[0][1]
        kept = engine.count_events()
    scanned = [line for line in plan.splitlines() if "Row Groups Scanned" in line]
    read, total = (int(x.replace(",", "")) for x in scanned[0].split(":")[1].strip(" │").split("/"))
    assert 0 < kept and read < total / 2


def test_rules_side_by_side_find_what_they_find_one_at_a_time(inputs):
    """``DetectionEngine.run`` runs rules on several connections at once when DuckDB has several
    threads: findings, the report's order, failures and progress are those of one rule at a time."""
    rules = gather_rules().rules
    bad = dataclasses.replace(rules[-1], id="00000000-0000-0000-0000-000000000bad")
    seen: dict[int, tuple] = {}
    for threads in (1, 4):
        callers: set[str] = set()
        with DetectionEngine(threads=threads) as engine:
            engine.add_parquet(inputs["new archive"])
            engine.define_events()
            compiled = engine.insert_sql
            # one rule that fails in DuckDB, among the others
            engine.insert_sql = lambda rule, settings: (  # type: ignore[method-assign]
                "INSERT INTO finding_rows SELECT 1" if rule is bad else compiled(rule, settings)
            )
            report = engine.run(
                [*rules, bad], SETTINGS, progress=lambda rule: callers.add(threading.current_thread().name)
            )
            rows = sorted(
                (f["rule_id"], json.dumps(f["group"], sort_keys=True), f["count"], f["first"], tuple(f["event_ids"]))
                for f in engine.iter_findings()
            )
            threads_after = engine.con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        assert callers == {threading.current_thread().name}  # callbacks never run on a worker thread
        skipped = {rule.id for rule, _ in report.needs_configuration}
        assert [r.id for r in report.ran] == [r.id for r in rules if r.id not in skipped]  # in the order given
        assert [r.id for r, _ in report.failed] == [bad.id]
        assert int(threads_after) == threads  # DuckDB's setting is given back
        seen[threads] = (rows, report.findings)
    assert seen[1] == seen[4] and seen[1][1] > 100
