"""`authviz logs pull` against a local fake of the Management API: paging, 429s, resume, errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from analytics_fake_auth0 import FakeAuth0Server, FakeTenant
from authviz.analytics.pull import STATE_FILE, PullError, PullState, pull_logs
from authviz.auth0.management import base_url_for, normalise_domain, retry_delay
from authviz.errors import UsageError
from authviz.simulator import TrafficGenerator, management_api_entry

DOMAIN = "acme-test.eu.auth0.com"


def _entries(n: int, seed: int = 1, days: float = 3) -> list[dict]:
    gen = TrafficGenerator(seed=seed, start=datetime(2026, 10, 1, tzinfo=UTC), rate_per_s=n / (days * 86400))
    return [management_api_entry(r) for r in gen.generate(n=n)]


def _read(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out)


@pytest.fixture
def tenant():
    return FakeTenant(logs=_entries(1234))


@pytest.fixture
def server(tenant):
    with FakeAuth0Server(tenant) as srv:
        yield srv


async def test_pages_everything_into_parquet_partitioned_by_day(server, tenant, tmp_path):
    result = await pull_logs(DOMAIN, tmp_path, token="good-token", base_url=server.url, progress=False)
    assert (result.pulled, result.pages, result.caught_up, result.rejects) == (1234, 14, True, 0)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.is_dir()) == [STATE_FILE]
    days = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert days == ["date=2026-10-01", "date=2026-10-02", "date=2026-10-03"]
    frame = _read(tmp_path)
    expected = [e["log_id"] for e in tenant.sorted_logs()]
    assert sorted(frame["event_id"]) == expected
    assert (frame["source"] == "management_api").all()
    day = frame["timestamp"].dt.strftime("date=%Y-%m-%d")
    assert (day == frame["date"].astype(str).radd("date=")).all()
    # checkpoint paging: each request continues from the previous page's last id
    froms = [r["query"].get("from") for r in tenant.requests]
    assert froms[0] is None and froms[1:] == expected[99::100] + [expected[-1]]
    assert PullState.load(tmp_path).last_log_id == expected[-1]


@pytest.mark.parametrize("retry_after", [False, True])
async def test_429_is_retried_after_the_announced_reset(server, tenant, tmp_path, retry_after):
    tenant.logs = tenant.logs[:450]
    tenant.rate_limit_every, tenant.retry_after = 3, retry_after
    started = time.monotonic()
    result = await pull_logs(DOMAIN, tmp_path, token="good-token", base_url=server.url, progress=False)
    assert result.pulled == 450 and result.retries >= 2
    assert time.monotonic() - started >= 0.5 * result.retries  # it really waited for the reset
    assert len(_read(tmp_path)) == 450


async def test_rate_limit_reset_beyond_max_wait_stops_with_progress_saved(server, tenant, tmp_path):
    tenant.rate_limit_every = 2
    with pytest.raises(PullError, match="run the same command again later"):
        await pull_logs(
            DOMAIN, tmp_path, token="good-token", base_url=server.url, progress=False, flush_every=1, max_wait=0.01
        )
    assert PullState.load(tmp_path).last_log_id == tenant.sorted_logs()[99]["log_id"]


async def test_resume_from_checkpoint_after_limit_and_new_logs(server, tenant, tmp_path):
    first = await pull_logs(
        DOMAIN,
        tmp_path,
        token="good-token",
        base_url=server.url,
        progress=False,
        limit=250,
        flush_every=100,
        page_size=50,
    )
    assert first.pulled == 250 and not first.caught_up
    ids = [e["log_id"] for e in tenant.sorted_logs()]
    assert PullState.load(tmp_path).last_log_id == ids[249]
    later = _entries(300, seed=2)
    for entry in later:  # new logs arrive at the tenant meanwhile (ids sort after the old ones)
        entry["log_id"] = entry["_id"] = "999" + entry["log_id"][3:]
    tenant.logs += later
    tenant.requests.clear()
    second = await pull_logs(DOMAIN, tmp_path, token="good-token", base_url=server.url, progress=False)
    assert tenant.requests[0]["query"]["from"] == ids[249]
    assert second.pulled == 1234 - 250 + 300
    frame = _read(tmp_path)
    assert len(frame) == 1534 and frame["event_id"].is_unique


async def test_crash_midway_then_rerun_loses_nothing_and_duplicates_nothing(server, tenant, tmp_path):
    tenant.fail_after_pages = 5
    with pytest.raises(PullError, match="server errors"):
        await pull_logs(
            DOMAIN,
            tmp_path,
            token="good-token",
            base_url=server.url,
            progress=False,
            flush_every=200,
            max_retries=1,
            max_wait=2,
        )
    saved = PullState.load(tmp_path)
    assert saved.pulled == 500  # the buffer was flushed on the way out
    # a crash after the last part file was written but before the checkpoint was saved: the
    # checkpoint is still the previous batch's end, so the same batch (same first log, same
    # file name) is fetched again and its file overwritten
    state_path = tmp_path / STATE_FILE
    state_path.write_text(state_path.read_text().replace(saved.last_log_id, tenant.sorted_logs()[399]["log_id"]))
    (tmp_path / "date=2026-10-01" / ".part-x.parquet.tmp").write_bytes(b"half a file")  # crash leftovers are ignored
    tenant.fail_after_pages = None
    await pull_logs(DOMAIN, tmp_path, token="good-token", base_url=server.url, progress=False, flush_every=200)
    frame = _read(tmp_path)
    assert len(frame) == 1234 and frame["event_id"].is_unique


async def test_client_credentials_token_and_refusals(server, tenant, tmp_path):
    result = await pull_logs(
        DOMAIN, tmp_path / "a", client_id="cid", client_secret="csecret", base_url=server.url, progress=False, limit=10
    )
    assert result.pulled == 10 and tenant.issued == ["issued-1"]
    assert tenant.requests[-1]["authorization"] == "Bearer issued-1"
    with pytest.raises(PullError, match="refused the client credentials"):
        await pull_logs(
            DOMAIN, tmp_path / "b", client_id="cid", client_secret="wrong", base_url=server.url, progress=False
        )
    with pytest.raises(PullError, match=r"refused the token \(401: Invalid token\)"):
        await pull_logs(DOMAIN, tmp_path / "c", token="forged", base_url=server.url, progress=False)
    with pytest.raises(PullError, match="holds logs of"):
        await pull_logs("other.auth0.com", tmp_path / "a", token="good-token", base_url=server.url, progress=False)
    with pytest.raises(UsageError, match="^page_size must be between 1 and 100"):
        await pull_logs(DOMAIN, tmp_path / "d", token="t", base_url=server.url, page_size=101)


def test_retry_delay_reads_the_headers():
    now = 1_700_000_000.0
    assert retry_delay({"Retry-After": "7"}, now, 0) == 7
    assert retry_delay({"x-ratelimit-reset": str(int(now) + 12)}, now, 0) == 12
    assert retry_delay({"Retry-After": "Tue, 14 Nov 2023 22:13:40 GMT"}, now, 0) == pytest.approx(20, abs=1)
    assert retry_delay({}, now, 3) == 8
    assert retry_delay({"x-ratelimit-reset": str(int(now) - 5)}, now, 0) == 0


def test_domain_and_base_url_validation():
    assert normalise_domain("https://acme.eu.auth0.com/") == "acme.eu.auth0.com"
    for bad in ("", "acme.auth0.com/api", "a b"):
        with pytest.raises(UsageError):
            normalise_domain(bad)
    assert base_url_for("acme.auth0.com") == "https://acme.auth0.com"
    assert base_url_for("x", "http://127.0.0.1:8123/") == "http://127.0.0.1:8123"
    with pytest.raises(UsageError, match="only on 127.0.0.1"):
        base_url_for("x", "http://evil.example.com")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "authviz", "logs", "pull", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_pulls_and_reports(server, tmp_path):
    done = _cli(
        "--domain", DOMAIN, "--token", "good-token", "--base-url", server.url, "-o", str(tmp_path), "--no-progress"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pulled 1234 logs in 14 pages") and "caught up" in done.stdout
    refused = _cli("--domain", DOMAIN, "--token", "forged", "--base-url", server.url, "-o", str(tmp_path / "x"))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("authviz: acme-test.eu.auth0.com refused the token (401")


def test_cli_in_process_resumes_and_refuses_bad_usage(server, tmp_path, capsys, monkeypatch):
    from authviz.cli import main

    base = ["logs", "pull", "--domain", DOMAIN, "--base-url", server.url, "-o", str(tmp_path), "--no-progress"]
    assert main([*base, "--token", "good-token", "--limit", "300"]) == 0
    assert capsys.readouterr().out.startswith("pulled 300 logs in 3 pages")
    monkeypatch.setenv("AUTH0_MANAGEMENT_TOKEN", "good-token")  # the secret from the environment
    assert main(base) == 0
    assert capsys.readouterr().out.startswith("pulled 934 logs in 11 pages")
    assert main(base) == 0
    assert capsys.readouterr().out.startswith("pulled 0 logs in 1 pages")
    monkeypatch.delenv("AUTH0_MANAGEMENT_TOKEN")
    assert main(base) == 2 and "give --token" in capsys.readouterr().err
    assert main([*base, "--token", "t", "--client-id", "i"]) == 2
    assert (
        main(
            [
                "logs",
                "pull",
                "--domain",
                DOMAIN,
                "--token",
                "t",
                "--base-url",
                "http://example.com",
                "-o",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "only on 127.0.0.1" in capsys.readouterr().err


def test_the_library_speaks_in_settings_and_the_command_line_in_flags(tmp_path, capsys):
    """``pull_logs`` names its parameter; ``authviz logs pull`` says the same with the flag."""
    from authviz.cli import main

    with pytest.raises(UsageError) as raised:
        asyncio.run(pull_logs(DOMAIN, tmp_path, token="t", page_size=0, progress=False))
    assert str(raised.value).startswith("page_size must be between 1 and 100")
    assert main(["logs", "pull", "--domain", DOMAIN, "--token", "t", "--take", "0", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("authviz: --take must be between 1 and 100")
