"""Every record of every real sample parses or is rejected with a reason (tests/fixtures/auth0)."""

import json
import re
from collections import Counter

import pytest

from authviz.auth0 import parse_body, read_logs
from authviz.auth0.schema import CATEGORIES
from auth0_support import FIXTURES, SAMPLES


def readme_type_counts() -> dict[str, Counter]:
    """The `event types` column of the provenance table, e.g. `ss 5, s 3, fu` -> Counter."""
    counts = {}
    for line in (FIXTURES / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in SAMPLES:
            counter = Counter()
            for item in cells[3].split(","):
                match = re.fullmatch(r"(\S+)(?: (\d+))?", item.strip())
                counter[match.group(1)] += int(match.group(2) or 1)
            counts[cells[0]] = counter
    return counts


def readme_outcomes() -> dict[str, tuple[int, int, int]]:
    """The `What authviz makes of them` table: events, duplicates, rejected."""
    outcomes = {}
    for line in (FIXTURES / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in SAMPLES:
            outcomes[cells[0]] = tuple(int(cell) for cell in cells[1:])
    return outcomes


def test_readme_tables_cover_every_sample():
    assert set(readme_type_counts()) == set(SAMPLES)
    assert set(readme_outcomes()) == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_record_parses_or_is_rejected_with_a_reason(name):
    body = (FIXTURES / name).read_bytes()
    result = parse_body(body)
    assert len(result.events) + len(result.rejects) + result.duplicates == SAMPLES[name]
    for reject in result.rejects:
        assert reject.reason.startswith(f"record {reject.position}: ") and reject.raw
        json.loads(reject.raw)  # the raw text survives intact
    for event in result.events:
        assert event.category in CATEGORIES and event.timestamp.tzinfo is not None


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_expected_type_counts_appear(name):
    everything = read_logs(FIXTURES / name, dedup=False)
    assert not everything.rejects
    assert Counter(everything.frame["type"]) == readme_type_counts()[name]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_deduplicated_outcome_matches_the_readme(name):
    result = read_logs(FIXTURES / name)
    assert (len(result.frame), result.duplicates, len(result.rejects)) == readme_outcomes()[name]
    assert result.frame["event_id"].is_unique
    for reject in result.rejects:
        assert "was already seen in record" in reject.reason


def test_sample_details():
    sumo = read_logs(FIXTURES / "sumologic_docs_auth0_s_with_location_info.json").frame.iloc[0]
    assert (sumo["country_code"], sumo["country_iso3"], sumo["city"], sumo["tenant"]) == (
        "US",
        "USA",
        "Tucson",
        "nova-prod02",
    )
    mgmt = read_logs(FIXTURES / "mgmt_api_user_logs_MG177_sso.json").frame
    assert set(mgmt["source"]) == {"management_api"} and mgmt["is_mobile"].notna().all()
    assert (mgmt.loc[mgmt["type"] == "fsa", "category"] == "silent_auth").all()
    panther = read_logs(FIXTURES / "panther_auth0_rule_tests.ndjson", dedup=False).frame
    assert panther["timestamp"].notna().all()  # the zone-less `YYYY-MM-DD HH:MM:SS.fffffffff` form
    bridge = read_logs(FIXTURES / "eventbridge_envelope_thiscovery.json").frame.iloc[0]
    assert (bridge["source"], bridge["tenant"]) == ("eventbridge", "thiscovery")
