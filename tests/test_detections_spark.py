"""The same rules exported as Spark SQL find the same events as DuckDB (local Spark session, Java 17)."""

from __future__ import annotations

import json
import shutil

import pytest

from authviz.auth0 import read_logs
from authviz.detections import DetectionEngine, packaged_rules, spark_sql
from detection_cases import SETTINGS, cases

pytestmark = [pytest.mark.spark, pytest.mark.timeout(600)]
pyspark = pytest.importorskip("pyspark", reason="pyspark is in the test extra")

SPARK_COLUMNS = (
    "event_id",
    "timestamp",
    "type",
    "description",
    "user_id",
    "user_name",
    "connection",
    "client_id",
    "client_name",
    "ip",
    "user_agent",
    "country_code",
    "tenant",
    "data",
)


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    if shutil.which("java") is None:
        pytest.fail("Java is needed for the Spark test (Java 17 is expected on the machine)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("authviz-detections-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.local.dir", str(tmp_path_factory.mktemp("spark")))
        .getOrCreate()
    )
    yield session
    session.stop()


def _key(row) -> tuple:
    group = json.loads(row["group"]) if row["group"] else {}
    return (row["rule_id"], tuple(sorted(group.items())), int(row["count"]), tuple(sorted(row["event_ids"])))


def _findings_both_ways(spark, rules, records, settings, table: str) -> tuple[set, set]:
    """(DuckDB's findings, the Spark export's findings) of ``rules`` over ``records``, as comparable keys."""
    frame = read_logs(records).frame
    with DetectionEngine() as engine:
        engine.add_frame(frame)
        engine.define_events()
        report = engine.run(rules, settings)
        assert not report.failed
        duck = engine.findings()
        events = engine.con.execute(
            "SELECT "
            + ", ".join(c if c != "data" else "CAST(data AS VARCHAR) AS data" for c in SPARK_COLUMNS)
            + " FROM events"
        ).df()
    events["timestamp"] = events["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    spark.createDataFrame(events).createOrReplaceTempView(table)
    exported = spark_sql(rules, settings, table=table)
    assert set(exported) == {rule.id for rule in rules}
    spark_keys = {_key(row.asDict()) for sql in exported.values() for row in spark.sql(sql).collect()}
    duck_keys = {_key({**row, "group": json.dumps(row["group"])}) for row in duck.to_dict("records")}
    return duck_keys, spark_keys


def test_spark_export_finds_what_duckdb_finds(spark):
    rules = packaged_rules(["catalog"]).rules
    records = [r for firing, misses in cases().values() for r in firing + misses]
    duck_keys, spark_keys = _findings_both_ways(spark, rules, records, SETTINGS, "auth0_events")
    assert len(duck_keys) >= len(rules)
    assert spark_keys == duck_keys


def test_spark_export_of_temporal_ordered_and_ipv6_cidr_finds_what_duckdb_finds(spark):
    from authviz.detections import load_rule_text
    from detection_cases import FEATURE_RULES, feature_cases

    rules = [rule for text in FEATURE_RULES.values() for rule in load_rule_text(text, "features.yml").rules]
    records = [r for firing, misses in feature_cases().values() for r in firing + misses]
    duck_keys, spark_keys = _findings_both_ways(spark, rules, records, None, "feature_events")
    assert {key[0] for key in duck_keys} == set(FEATURE_RULES)
    assert spark_keys == duck_keys
