import json
import re

import pytest

from authviz.auth0 import CATEGORIES, LOG_TYPES, category_for, describe_type
from authviz.auth0.log_types import _EXTRA_DESCRIPTIONS, CATEGORY_BY_CODE, build_table
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


#: What Auth0's own description of a code says it is -> the category it must count as, first match
#: wins. ``*`` stands for the success/failure pair chosen by the description's first word.
DOCUMENTED = [
    (r"leaked password", "breached_password"),
    (r"silent auth", "silent_auth"),
    (r"native social login", "login*"),  # an exchange that is the log-in itself
    (r"\blogout\b", "logout*"),
    (r"^(successful|failed) (delegated )?login\b", "login*"),
    (r"\bsignup\b", "signup*"),
    (r"change password request", "password_reset"),
    (r"change password", "password_change"),
    (r"\bexchange\b", "token_exchange"),
    (r"^(successful|failed) (kms )?api operation", "management_api"),
]


def _documented_category(description: str) -> str | None:
    for pattern, category in DOCUMENTED:
        if re.search(pattern, description, re.IGNORECASE):
            if category.endswith("*"):
                base = category[:-1]
                failed = description.lower().startswith("failed") or " failed" in description.lower()
                return f"{base}_failure" if failed else ("login_success" if base == "login" else base)
            return category
    return None


def test_every_code_auth0_documents_as_a_kind_has_that_category_not_the_fallback():
    expected = {code: _documented_category(text) for code, text in LOG_TYPES.items()}
    expected = {code: category for code, category in expected.items() if category is not None}
    assert len(expected) >= 60  # the rules above cover a third of the table, not a handful
    wrong = {
        code: (category_for(code), category) for code, category in expected.items() if category_for(code) != category
    }
    assert wrong == {}


def test_every_code_with_an_explicit_category_is_a_documented_code():
    """A typo in the category table would silently send the real code to "other"."""
    undocumented = set(CATEGORY_BY_CODE) - set(LOG_TYPES) - set(_EXTRA_DESCRIPTIONS)
    assert undocumented == set()
    assert set(CATEGORY_BY_CODE.values()) <= set(CATEGORIES)
    assert {category_for(code) for code in MERGED} <= set(CATEGORIES)


def test_every_guardian_code_is_mfa():
    guardian = [code for code in MERGED if code.startswith("gd_")]
    assert len(guardian) >= 5
    assert {category_for(code) for code in guardian} == {"mfa"}


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("s", "login_success"),
        ("f", "login_failure"),
        ("fp", "login_failure"),
        ("fu", "login_failure"),
        ("fsa", "silent_auth"),
        ("ssa", "silent_auth"),
        ("ss", "signup"),
        ("fs", "signup_failure"),
        ("slo", "logout"),
        ("flo", "logout_failure"),
        ("scp", "password_change"),
        ("scpr", "password_reset"),
        ("pwd_leak", "breached_password"),
        ("signup_pwd_leak", "breached_password"),
        ("limit_wc", "blocked"),
        ("limit_mu", "blocked"),
        ("gd_send_pn", "mfa"),
        ("gd_enrollment_complete", "mfa"),
        ("seacft", "token_exchange"),
        ("ferrt", "token_exchange"),
        ("sapi", "management_api"),
        ("fapi", "management_api"),
        ("w", "other"),
        ("no_such_code", "other"),
        ("", "other"),
        (None, "other"),
        (5, "other"),
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
