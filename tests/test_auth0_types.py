import json

import pytest

from authviz.auth0 import CATEGORIES, LOG_TYPES, category_for, describe_type
from authviz.auth0.log_types import build_table
from auth0_support import FIXTURES

MERGED = json.loads((FIXTURES / "auth0_log_type_codes_merged.json").read_text(encoding="utf-8"))


def test_every_merged_code_is_in_the_table_with_a_description():
    assert len(MERGED) == 181
    assert set(LOG_TYPES) == set(MERGED)
    assert all(isinstance(text, str) and text.strip() for text in LOG_TYPES.values())


def test_packaged_table_is_what_the_generator_makes_from_the_merged_list():
    from importlib import resources

    packaged = json.loads(resources.files("authviz.auth0").joinpath("data", "log_types.json").read_text("utf-8"))
    assert packaged == build_table(MERGED)
    assert "auth0/auth0-log-schemas" in packaged["_provenance"]


@pytest.mark.parametrize("code", sorted(MERGED))
def test_every_code_maps_to_a_known_category(code):
    assert category_for(code) in CATEGORIES


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("s", "login_success"), ("f", "login_failure"), ("fp", "login_failure"), ("fu", "login_failure"),
        ("fsa", "silent_auth"), ("ssa", "silent_auth"), ("ss", "signup"), ("fs", "signup_failure"),
        ("slo", "logout"), ("flo", "logout_failure"), ("scp", "password_change"),
        ("scpr", "password_reset"), ("pwd_leak", "breached_password"),
        ("signup_pwd_leak", "breached_password"), ("limit_wc", "blocked"), ("limit_mu", "blocked"),
        ("gd_send_pn", "mfa"), ("gd_enrollment_complete", "mfa"), ("seacft", "token_exchange"),
        ("ferrt", "token_exchange"), ("sapi", "management_api"), ("fapi", "management_api"),
        ("w", "other"), ("no_such_code", "other"), ("", "other"), (None, "other"), (5, "other"),
    ],
)
def test_buckets(code, category):
    assert category_for(code) == category


def test_descriptions_prefer_auth0_schemas_then_other_sources():
    assert LOG_TYPES["s"] == "Successful Login"
    assert LOG_TYPES["admin_update_launch"] == "Auth0 Update Launched"  # only log-extension-tools
    assert LOG_TYPES["acls_summary"] == "Acls summary"  # no source: humanised code
    assert describe_type("signup_pwd_leak").startswith("Someone")
    assert describe_type("brand_new_code") == "Brand new code"
    assert describe_type(None) == "Unknown event"
