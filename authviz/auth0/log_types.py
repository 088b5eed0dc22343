"""Auth0 log type codes: their descriptions and the category each one counts as.

The code -> description table is data (``data/log_types.json``), generated from the merged list of
181 codes gathered from three public sources (see that file's ``_provenance``); regenerate it with
``python -m authviz.auth0.log_types MERGED_JSON``. The code -> category mapping below is policy and
lives in code. Invariants: every code maps to exactly one of :data:`~authviz.auth0.schema.CATEGORIES`;
an unknown code maps to ``"other"`` and is never dropped; ``fsa`` (failed silent auth, very common in
real logs) is ``silent_auth``, never a login failure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from authviz.auth0.schema import CATEGORIES

_DATA_FILE = "log_types.json"

#: Explicit buckets, following how security integrations (Datadog, Panther, Sumo Logic) group codes.
_CATEGORY_CODES: dict[str, tuple[str, ...]] = {
    "login_success": ("s", "scoa", "sens", "sdel"),
    "login_failure": ("f", "fp", "fu", "fc", "fco", "fcoa", "fens"),
    "signup": ("ss",),
    "signup_failure": ("fs",),
    "logout": ("slo", "oidc_backchannel_logout_succeeded", "universal_logout_succeeded"),
    "logout_failure": ("flo", "oidc_backchannel_logout_failed", "universal_logout_failed", "federated_logout_failed"),
    "password_change": ("scp", "fcp", "scph", "fcph"),
    "password_reset": ("scpr", "fcpr"),
    "breached_password": ("pwd_leak", "reset_pwd_leak", "signup_pwd_leak"),
    # Anomaly detection and rate limits on users/IPs; ``ublkdu`` is the release of such a block.
    "blocked": ("limit_wc", "limit_mu", "limit_sul", "limit_delegation", "limit_ui", "limit_phone", "ublkdu"),
    "mfa": ("mfar",),  # plus every ``gd_*`` code (see category_for)
    # Token exchanges follow a login: they are not log-ins themselves.
    "token_exchange": (
        "seacft",
        "seccft",
        "sede",
        "seoobft",
        "seotpft",
        "sepft",
        "sercft",
        "sertft",
        "sepkoobft",
        "sepkotpft",
        "sepkrcft",
        "secte",
        "seta",
        "sdeleacft",
        "srrt",
        "success_on_behalf_of_token_exchange",
        "idjag_exchange_succeeded",
        "ciba_exchange_succeeded",
        "feacft",
        "feccft",
        "fede",
        "feoobft",
        "feotpft",
        "fepft",
        "fepotpft",
        "fercft",
        "ferrt",
        "fertft",
        "fecte",
        "feta",
        "fdeleacft",
        "failed_on_behalf_of_token_exchange",
        "idjag_exchange_failed",
        "jwt_bearer_exchange_failed",
        "ciba_exchange_failed",
    ),
    "silent_auth": ("ssa", "fsa", "sdelsa", "fdelsa"),
    "management_api": ("sapi", "fapi", "mgmt_api_read", "kms_key_management_success", "kms_key_management_failure"),
}

CATEGORY_BY_CODE: Mapping[str, str] = MappingProxyType(
    {code: category for category, codes in _CATEGORY_CODES.items() for code in codes}
)
if not set(_CATEGORY_CODES) <= set(CATEGORIES):  # an edit here must stay within the schema
    raise RuntimeError(f"unknown categories: {sorted(set(_CATEGORY_CODES) - set(CATEGORIES))}")

#: Codes seen in real logs but absent from the merged list, with the description Auth0 documents.
_EXTRA_DESCRIPTIONS: dict[str, str] = {
    "signup_pwd_leak": "Someone behind the IP address attempted to sign up with a leaked password",
}


def _load() -> dict[str, str]:
    text = resources.files("authviz.auth0").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    return dict(json.loads(text)["codes"])


#: Code -> best description, for every one of the 181 codes of the merged list.
LOG_TYPES: Mapping[str, str] = MappingProxyType(_load())


@lru_cache(maxsize=4096)
def category_for(type_code: str | None) -> str:
    """The category of an Auth0 log type code; ``"other"`` for unknown or missing codes."""
    if not isinstance(type_code, str):
        return "other"
    category = CATEGORY_BY_CODE.get(type_code)
    if category is not None:
        return category
    if type_code.startswith("gd_"):
        return "mfa"
    return "other"


def describe_type(code: str | None) -> str:
    """A human description of a type code (the code itself, humanised, when it is unknown)."""
    if not isinstance(code, str) or not code:
        return "Unknown event"
    return LOG_TYPES.get(code) or _EXTRA_DESCRIPTIONS.get(code) or _humanise(code)


def _humanise(code: str) -> str:
    words = code.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else code


def best_description(entry: Mapping[str, object], code: str) -> str:
    """Pick one description from the three sources of the merged list.

    Order: Auth0's own log schemas, then the log-extension-tools name (with its detail), then the
    Datadog event name, then the humanised code.
    """
    schema_text = entry.get("auth0_log_schemas")
    if isinstance(schema_text, str) and schema_text.strip():
        return " ".join(schema_text.split())
    tools = entry.get("log_extension_tools")
    if isinstance(tools, Mapping) and isinstance(tools.get("name"), str):
        detail = tools.get("description")
        return f"{tools['name']}: {detail}" if isinstance(detail, str) and detail else str(tools["name"])
    datadog = entry.get("datadog_evt_name")
    if isinstance(datadog, str) and datadog:
        return _humanise(datadog)
    return _humanise(code)


def build_table(merged: Mapping[str, Mapping[str, object]]) -> dict[str, object]:
    """The content of ``data/log_types.json`` built from the merged list."""
    return {
        "_provenance": (
            "Generated by `python -m authviz.auth0.log_types auth0_log_type_codes_merged.json` from "
            "the merged list of Auth0 log type codes (tests/fixtures/auth0/README.md): descriptions "
            "from auth0/auth0-log-schemas, the auth0-log-extension-tools npm package's type map and "
            "Datadog's Auth0 pipeline lookup; the first available source wins in that order."
        ),
        "codes": {code: best_description(entry, code) for code, entry in sorted(merged.items())},
    }


def main(argv: list[str] | None = None) -> int:
    """Regenerate ``data/log_types.json`` from the merged JSON given as the only argument."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m authviz.auth0.log_types auth0_log_type_codes_merged.json", file=sys.stderr)
        return 2
    merged = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    target = Path(__file__).with_name("data") / _DATA_FILE
    target.write_text(json.dumps(build_table(merged), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(merged)} codes to {target}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
