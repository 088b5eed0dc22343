"""Benchmark: every packaged rule (built-in + Auth0 catalog) over a day-partitioned Parquet archive.

    python benchmarks/bench_rules.py                    # 1M, then 10M events (a few minutes)
    python benchmarks/bench_rules.py --events 100000000 # 100M, with a 2 GB DuckDB limit (long)
    python benchmarks/bench_rules.py --compare 1000000  # built-in rules on DuckDB vs run_detections (pandas)

The archive is generated with DuckDB (no JSON files): the schema columns plus ``raw``, a Log Streaming
record whose ``data`` carries ``details`` for Management API (``sapi``) events, one directory per
day (``date=YYYY-MM-DD/``), under ``benchmarks/out/`` (git-ignored), reused when present. 100M
events are ten consecutive 30-day copies of the 10M archive (ids suffixed, times shifted), each
day file rewritten by DuckDB: same mix, 300 days. Each run
is a fresh process; it reports the rules' wall time (events read in place from Parquet, findings
written to DuckDB) and its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
DAYS = 30
#: Larger archives are whole copies of this one, shifted in time (see _replicate).
BASE = 10_000_000
SETTINGS = {
    "your-tenant-url": "acme.eu.auth0.com",
    "your-tenant-domain": "acme.eu.auth0.com",
    "global_client_id": "DASHBOARD",
    "trusted-client_id-1": "trusted-a",
    "trusted-client_id-2": "trusted-b",
    "api_explorer_client_id": "API-EXPLORER",
}

# type by h = hash(i) % 1000 (per mille): a tenant's ordinary mix with a few attacks' traces
TYPES = [
    (650, "s", "login_success", "Successful login"),
    (760, "f", "login_failure", "Wrong email or password."),
    (800, "fp", "login_failure", "Wrong password"),
    (840, "ss", "signup", "Successful signup"),
    (890, "seacft", "token_exchange", "Authorization Code for Access Token"),
    (930, "sertft", "token_exchange", "Refresh Token for Access Token"),
    (945, "gd_send_pn", "mfa", "Guardian - Second factor notification sent"),
    (955, "gd_send_sms", "mfa", "Guardian - Second factor sms sent"),
    (965, "sapi", "management_api", "Update Brute-force settings"),
    (975, "limit_wc", "blocked", "Blocked Account"),
    (982, "pwd_leak", "breached_password", "Breached password"),
    (988, "ferrt", "token_exchange", "Unsuccessful Refresh Token exchange, reused refresh token detected"),
    (1000, "slo", "logout", "User successfully logged out"),
]


def _case(column: int) -> str:
    parts = " ".join(f"WHEN h < {bound} THEN '{row[column]}'" for bound, *row in [(b, t, c, d) for b, t, c, d in TYPES])
    return f"CASE {parts} END"


RAW_SQL = """
        -- text built with concat (values hold no quotes or backslashes): ~10x faster than json_object
        '{"log_id":"' || event_id || '","data":{"date":"' || strftime(timestamp AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ')
          || '","type":"' || type || '","description":"' || description || '","ip":"' || ip
          || '","user_id":"' || user_id || '","user_name":"' || user_name || '","client_id":"' || client_id
          || '","client_name":"' || client_name || '","hostname":"login.acme.example","user_agent":"' || user_agent
          || '","log_id":"' || event_id || '","details":'
          || CASE WHEN type = 'sapi' THEN '{"request":{"body":{"enabled":' || CASE WHEN h % 2 = 0 THEN 'true' ELSE 'false' END
               || '}},"response":{"statusCode":200,"body":{"enabled":' || CASE WHEN h % 2 = 0 THEN 'true' ELSE 'false' END
               || ',"shields":["admin_notification","block"]}}}'
             ELSE '{"prompts":[]}' END
          || '}}' AS raw
"""


def generate(events: int, folder: Path) -> float:
    import duckdb

    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == str(events):
        return 0.0
    base = OUT / f"archive-{BASE}"
    if events > BASE and events % BASE == 0:
        if not ((base / ".complete").exists() and (base / ".complete").read_text() == str(BASE)):
            generate(BASE, base)
        return _replicate(base, events // BASE, folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET memory_limit = '3GB'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET temp_directory = '{OUT / 'tmp'}'")
    step_ms = DAYS * 86_400_000 // events
    per_day = -(-events // DAYS)
    started = time.perf_counter()
    # one COPY per day, streaming into DIR/date=YYYY-MM-DD/part-0.parquet (the `logs pull` layout)
    for day in range(DAYS):
        low, high = day * per_day, min(events, (day + 1) * per_day)
        if low >= high:
            break
        date = f"2026-10-{day + 1:02d}"
        (folder / f"date={date}").mkdir(parents=True, exist_ok=True)
        con.execute(f"""
    COPY (
      WITH base AS (
        SELECT i, hash(i) % 1000 AS h, hash(i * 7 + 1) % 200000 AS u, hash(i * 13 + 5) % 60000 AS n,
               TIMESTAMPTZ '2026-10-01 00:00:00+00' + to_milliseconds(CAST(i * {step_ms} AS BIGINT)) AS ts
        FROM range({low}, {high}) r(i)
      ), typed AS (
        SELECT *, {_case(0)} AS type, {_case(1)} AS category, {_case(2)} AS description FROM base
      ), rows AS (
        SELECT printf('900%021d', i) AS event_id, ts AS timestamp, type, category, description,
               'auth0|' || u AS user_id, 'user' || u || '@example.com' AS user_name,
               'user' || u || '@example.com' AS email, 'Username-Password-Authentication' AS connection,
               CASE WHEN type = 'sapi' THEN 'm2m-' || (u % 7) ELSE 'spa-client' END AS client_id,
               'Acme' AS client_name,
               CASE WHEN n < 50000 THEN '10.' || (u % 250) || '.' || (u // 250 % 250) || '.' || (n % 200 + 1)
                    ELSE '203.0.113.' || (n % 250) END AS ip,
               CASE WHEN n % 11 = 0 THEN 'curl/8.4' ELSE 'Mozilla/5.0 Firefox/130.0' END AS user_agent,
               'DE' AS country_code, 'DEU' AS country_iso3, 'Germany' AS country_name, 'Berlin' AS city,
               52.5 + (u % 5) * 0.01 AS latitude, 13.4 AS longitude, FALSE AS is_mobile,
               'acme' AS tenant, 'log_stream' AS source, h
        FROM typed
      )
      SELECT * EXCLUDE (h),
        {RAW_SQL}
      FROM rows
    ) TO '{folder}/date={date}/part-0.parquet' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)
    """)
    seconds = time.perf_counter() - started
    marker.write_text(str(events))
    shutil.rmtree(OUT / "tmp", ignore_errors=True)
    return seconds


def _replicate(base: Path, copies: int, folder: Path) -> float:
    """``copies`` consecutive periods of the ``base`` archive: copy k has ids suffixed ``-k`` and
    times shifted by k x 30 days (each day file rewritten by DuckDB into its new day directory)."""
    import duckdb

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET memory_limit = '2GB'")
    con.execute("SET enable_progress_bar = false")
    started = time.perf_counter()
    for k in range(copies):
        for day_dir in sorted(base.glob("date=*")):
            day = day_dir.name.split("=", 1)[1]
            new_day = con.execute(f"SELECT strftime(DATE '{day}' + INTERVAL {k * DAYS} DAY, '%Y-%m-%d')").fetchall()[0][
                0
            ]
            (folder / f"date={new_day}").mkdir(exist_ok=True)
            suffix = f"-{k}" if k else ""
            con.execute(f"""
            COPY (SELECT * REPLACE (event_id || '{suffix}' AS event_id,
                                    timestamp + INTERVAL {k * DAYS} DAY AS timestamp)
                  FROM read_parquet('{day_dir}/*.parquet'))
            TO '{folder}/date={new_day}/part-0.parquet' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)
            """)
    (folder / ".complete").write_text(str(copies * BASE))
    return time.perf_counter() - started


def run(folder: Path, memory_limit: str | None) -> dict:
    """One measurement, in this (fresh) process."""
    sys.path.insert(0, str(ROOT.parent))
    from authviz.detections import DetectionEngine, TenantSettings, packaged_rules

    rules = packaged_rules()
    settings = TenantSettings({k: (v,) for k, v in SETTINGS.items()})
    per_rule = {}
    with DetectionEngine(memory_limit=memory_limit, temp_directory=str(OUT / "tmp")) as engine:
        engine.add_parquet(folder)
        engine.define_events()
        started = time.perf_counter()
        last = [started]

        def tick(rule):
            now = time.perf_counter()
            per_rule[rule.title[:60]] = round(now - last[0], 3)
            last[0] = now

        report = engine.run(rules.rules, settings, progress=tick)
        seconds = time.perf_counter() - started
        findings = report.findings
        failed = [message for _, message in report.failed]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    return {
        "rules": len(rules.rules),
        "ran": len(report.ran),
        "findings": findings,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak),
        "failed": failed,
        "slowest": sorted(per_rule.items(), key=lambda kv: -kv[1])[:5],
    }


def compare(events: int) -> dict:
    """Built-in rules on DuckDB (events in memory) vs run_detections on the same pandas frame."""
    sys.path.insert(0, str(ROOT.parent))
    import duckdb

    from authviz.analytics import run_detections
    from authviz.auth0 import conform
    from authviz.detections import DetectionEngine, packaged_rules

    folder = OUT / f"archive-{events}"
    generate(events, folder)
    frame = conform(duckdb.sql(f"SELECT * EXCLUDE (date) FROM read_parquet('{folder}/**/*.parquet')").df())
    rules = packaged_rules(["builtin"]).rules
    rows = []
    for attempt in range(2):
        started = time.perf_counter()
        pandas_findings = run_detections(frame)
        pandas_s = time.perf_counter() - started
        with DetectionEngine() as engine:
            engine.add_frame(frame)
            engine.define_events()
            started = time.perf_counter()
            engine.run(rules)
            duck_s = time.perf_counter() - started
            duck_findings = len(engine.findings())
        rows.append(
            {
                "attempt": attempt + 1,
                "run_detections_s": round(pandas_s, 2),
                "duckdb_rules_s": round(duck_s, 2),
                "findings_pandas": len(pandas_findings),
                "findings_duckdb": duck_findings,
            }
        )
    return {"events": events, "runs": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--events", type=int, action="append", help="archive size(s) (default 1M and 10M; 100M is --events 100000000)"
    )
    parser.add_argument(
        "--memory-limit", default=None, help="DuckDB memory limit (default: none for 10M, 2GB for 100M)"
    )
    parser.add_argument(
        "--compare", type=int, metavar="N", help="compare built-in rules with run_detections on N events"
    )
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(Path(args.child), args.memory_limit)))
        return 0
    if args.compare:
        print(json.dumps(compare(args.compare), indent=2))
        return 0
    for events in args.events or [1_000_000, 10_000_000]:
        folder = OUT / f"archive-{events}"
        made = generate(events, folder)
        size = sum(p.stat().st_size for p in folder.rglob("*.parquet")) / 2**30
        limit = args.memory_limit or ("2GB" if events >= 100_000_000 else None)
        command = [sys.executable, __file__, "--child", str(folder)] + (["--memory-limit", limit] if limit else [])
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(
            json.dumps(
                {
                    "events": events,
                    "generated_s": round(made, 1),
                    "archive_gib": round(size, 2),
                    "memory_limit": limit,
                    **result,
                },
                indent=2,
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
