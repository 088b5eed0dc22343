"""Hand-made Auth0 Log Streaming events for every catalog rule: events that must fire it, near misses that must not.

Shared by the DuckDB tests and the Spark comparison. Each case: rule id -> (firing events,
near-miss events); a case's events are run alone, so a correlation sees only them.
"""

from __future__ import annotations

import itertools

from authviz.detections import TenantSettings

SETTINGS = TenantSettings(
    {
        "your-tenant-url": ("acme.eu.auth0.com",),
        "your-tenant-domain": ("acme.eu.auth0.com",),
        "global_client_id": ("DASHBOARD",),
        "trusted-client_id-1": ("trusted-a",),
        "trusted-client_id-2": ("trusted-b",),
        "api_explorer_client_id": ("API-EXPLORER",),
    }
)

_ids = itertools.count(1)


def ev(type_: str, description: str | None = None, *, at: str = "2025-03-01T10:00:00.000Z", **data) -> dict:
    """A Log Streaming record ``{"log_id", "data"}``; ``details`` etc. go in ``data`` as given."""
    log_id = f"9000000000000000000{next(_ids):05d}"
    record = {"date": at, "type": type_, "log_id": log_id, **data}
    if description is not None:
        record["description"] = description
    return {"log_id": log_id, "data": record}


def sapi(description: str, *, request=None, response=None, status: int = 200, **data) -> dict:
    details = {
        "request": {"body": request if request is not None else {}},
        "response": {"statusCode": status, "body": response if response is not None else {}},
    }
    return ev("sapi", description, details=details, **data)


BF = "Update Brute-force settings"
BPD = "Update Breached Password Detection settings"
SIT = "Update Suspicious IP Throttling settings"
BOT = "Create or update the anomaly detection captcha"
REUSED = "Unsuccessful Refresh Token exchange, reused refresh token detected"
INVITE = "Create tenant invitations for a given client"


def cases() -> dict[str, tuple[list[dict], list[dict]]]:
    return {
        # attack protection features turned off: request 'false' (a string in the rule) and response false
        "0325e11e-12ce-44e7-8d1f-3a64700a000a": (
            [
                sapi(BF, request={"enabled": False}, response={"enabled": False}),
                sapi(SIT, request={"enabled": "false"}, response={"enabled": False}),
            ],
            [
                sapi(BF, request={"enabled": True}, response={"enabled": True}),
                sapi("Update tenant settings", request={"enabled": False}, response={"enabled": False}),
            ],
        ),
        "dc37e695-df6f-439c-82aa-fe7127c5a3c3": (
            [
                sapi(BOT, response={"policy": "off", "passwordless_policy": "on"}),
                sapi(BOT, response={"password_reset_policy": "off"}),
            ],
            [
                sapi(BOT, response={"policy": "always", "passwordless_policy": "when_risky"}),
                sapi(BOT, response={"policy": "off"}, status=400),
            ],
        ),
        "2a26d75e-43fd-4bc9-afb6-d3465068d869": (
            [
                sapi(
                    BPD,
                    response={
                        "enabled": True,
                        "shields": ["admin_notification"],
                        "stage": {"pre-user-registration": {"shields": ["block"]}},
                    },
                ),
                sapi(
                    BPD,
                    response={
                        "enabled": False,
                        "shields": ["block"],
                        "stage": {"pre-user-registration": {"shields": ["block"]}},
                    },
                ),
            ],
            [
                sapi(
                    BPD,
                    response={
                        "enabled": True,
                        "shields": ["block", "user_notification"],
                        "stage": {"pre-user-registration": {"shields": ["block"]}},
                    },
                ),
                sapi(BF, response={"enabled": False, "shields": []}),
            ],
        ),
        "8281291e-51b4-46a9-8012-955e20406efd": (
            [
                sapi(BF, response={"enabled": False, "shields": ["block"]}),
                sapi(BF, response={"enabled": True, "shields": ["user_notification"]}),
            ],
            [
                sapi(BF, response={"enabled": True, "shields": ["user_notification", "block"]}),
                sapi(BPD, response={"enabled": False}),
            ],
        ),
        "93c38bb9-da49-4ca5-8d8b-4d3d997b66e8": (
            [sapi("Get users", client_id="m2m-app")],
            [sapi("Get users", client_id="DASHBOARD"), ev("s", "Successful login", client_id="m2m-app")],
        ),
        "e604e40e-9db6-449d-854d-2b5323644fd7": (
            [
                ev("f", ip="203.0.113.9", at="2025-03-01T10:05:00Z"),
                ev("fp", ip="203.0.113.9", at="2025-03-01T10:40:00Z"),
            ],
            [
                ev("f", ip="203.0.113.9", at="2025-03-01T10:05:00Z"),
                ev("f", ip="203.0.113.10", at="2025-03-01T10:06:00Z"),
                ev("s", ip="203.0.113.9", at="2025-03-01T10:07:00Z"),
                ev("fp", ip="203.0.113.11", at="2025-03-01T10:05:00Z"),
                ev("fp", ip="203.0.113.11", at="2025-03-01T12:05:00Z"),
            ],
        ),
        "cd0b61a4-6917-4a9e-a86c-9b10d7792e24": (
            [sapi("Update a client", response={"cross_origin_authentication": True})],
            [sapi("Update a client", response={"cross_origin_authentication": False}), sapi("Update a client")],
        ),
        "b275f0fa-3f2d-493f-a741-67e861ef77ed": (
            [
                sapi(
                    "Update client grant",
                    request={"scope": ["read:users", "delete:users"]},
                    response={"audience": "https://acme.eu.auth0.com/api/v2/", "client_id": "rogue"},
                )
            ],
            [
                sapi(
                    "Update client grant",
                    request={"scope": ["read:users", "delete:users"]},
                    response={"audience": "https://acme.eu.auth0.com/api/v2/", "client_id": "trusted-b"},
                ),
                sapi(
                    "Update client grant",
                    request={"scope": ["read:users"]},
                    response={"audience": "https://acme.eu.auth0.com/api/v2/", "client_id": "rogue"},
                ),
                sapi(
                    "Update client grant",
                    request={"scope": ["update:users"]},
                    response={"audience": "https://other.example/api", "client_id": "rogue"},
                ),
            ],
        ),
        "8281291e-51b4-46a9-8012-955e20206efd": (
            [
                sapi("Update tenant settings", response={"error_page": {"html": "<p>{{ user.name }}</p>"}}),
                sapi("Update tenant settings", response={"error_page": {"html": "{{ error | upcase }}"}}),
            ],
            [
                sapi("Update tenant settings", response={"error_page": {"html": "<p>Sorry</p>"}}),
                sapi("Update tenant settings", response={"error_page": {"url": "https://x.example"}}),
            ],
        ),
        "0c71d42b-d918-4698-a849-d5d5ee5b208b": (
            [ev("s", "Successful login"), ev("scoa")],
            [ev("f", "Wrong password"), ev("seacft")],
        ),
        "a9d48080-5b88-4e4d-8b6d-45696f85c444": (
            [
                ev("pla", ip="198.51.100.7", details={"requiresVerification": True}, at="2025-03-01T08:00:00Z"),
                ev("s", ip="198.51.100.7", at="2025-03-02T09:00:00Z"),
            ],
            [
                ev("pla", ip="198.51.100.8", details={"requiresVerification": False}),
                ev("s", ip="198.51.100.8", at="2025-03-01T11:00:00Z"),
                ev("s", ip="198.51.100.8", at="2025-03-01T12:00:00Z"),
            ],
        ),
        "6ef35d2c-ae8f-4b42-91b8-67915c7e41ff": (
            [ev("ss", user_name="new@mailinator.example", user_id="auth0|n1")],
            [
                ev("ss", user_name="kim@example.com", user_id="auth0|k1"),
                ev("sv", user_name="kim@example.com", user_id="auth0|k1", at="2025-03-01T11:00:00Z"),
                ev("ss", user_name="nobody", user_id="auth0|x"),
            ],
        ),
        "3600d0d2-41af-4958-8896-e0ffe8723f26": (
            [sapi("Updates risk assessment configs", response={"AfterAuthentication": False})],
            [
                sapi("Updates risk assessment configs", response={"AfterAuthentication": True}),
                sapi("Updates risk assessment configs", response={"AfterAuthentication": False}, status=403),
            ],
        ),
        "d0b564f6-716a-11f0-96ba-723487b9527c": (
            [sapi("Update multi-factor authentication type", request={"enabled": False})],
            [sapi("Update multi-factor authentication type", request={"enabled": True})],
        ),
        "6733ad4e-716a-11f0-9006-723487b9527c": (
            [
                sapi("Update multi-factor authentication policies", response=["all-applications"]),
                sapi("Update multi-factor authentication policies", response=["confidence-score"]),
            ],
            [
                sapi("Update multi-factor authentication policies", response=[]),
                sapi("Update multi-factor authentication policies", response=["never"]),
            ],
        ),
        "25b35d32-716b-11f0-a54e-723487b9527c": (
            [ev("gd_enrollment_complete", "Guardian - Enrollment complete (sms)")],
            [ev("gd_enrollment_complete", "Guardian - Enrollment complete")],
        ),
        "4bf28f3a-716c-11f0-9932-723487b9527c": (
            [sapi("Dynamic client registration")],
            [sapi("Create client"), ev("s", "Dynamic client registration")],
        ),
        "6a19be71-ade9-4bdd-9d24-6f93800d8328": (
            [
                ev(
                    "sertft",
                    user_name="a@b.example",
                    user_id="auth0|a",
                    client_id="c1",
                    user_agent="curl/8",
                    details={"familyId": "fam1"},
                )
            ],
            [ev("ferrt", user_name="a@b.example", user_id="auth0|a", client_id="c1", user_agent="curl/8")],
        ),
        "e675f02e-716c-11f0-8602-723487b9527c": (
            [ev("gd_send_pn", "Guardian - Second factor notification sent")],
            [ev("gd_send_sms", "Guardian - Second factor sms sent")],
        ),
        "2d7087d2-716d-11f0-ba3b-723487b9527c": (
            [
                ev(
                    "mgmt_api_read",
                    "Get client by ID",
                    details={
                        "accessedSecrets": ["client_secret"],
                        "response": {"body": {"client_id": "critical-client_id-1"}},
                    },
                )
            ],
            [
                ev(
                    "mgmt_api_read",
                    "Get client by ID",
                    details={"accessedSecrets": [], "response": {"body": {"client_id": "critical-client_id-1"}}},
                ),
                ev(
                    "mgmt_api_read",
                    "Get client by ID",
                    details={"accessedSecrets": ["client_secret"], "response": {"body": {"client_id": "ordinary"}}},
                ),
            ],
        ),
        "90a9a856-716d-11f0-bb81-723487b9527c": (
            [ev("seccft", client_id="API-EXPLORER")],
            [ev("seccft", client_id="backend-job"), ev("feccft", client_id="API-EXPLORER")],
        ),
        "3a9be414-716e-11f0-8153-723487b9527c": (
            [ev("ss", ip="192.0.2.50"), ev("signup_pwd_leak", ip="192.0.2.51")],
            [ev("s", ip="192.0.2.50"), ev("fu", ip="192.0.2.50")],
        ),
        "bad8fcc0-716e-11f0-b852-723487b9527c": (
            [ev("gd_enrollment_complete", "Guardian - Enrollment complete")],
            [ev("gd_enrollment_complete", "Guardian - Enrollment complete (sms)")],
        ),
        "74a1ddea-7172-11f0-ace0-723487b9527c": (
            [ev("gd_send_sms", "Guardian - Second factor sms sent")],
            [ev("gd_send_voice", "Guardian - Second factor voice call sent")],
        ),
        "afb609fe-716f-11f0-b060-723487b9527c": (
            [sapi(SIT, response={"enabled": True}), sapi(BF, response={"enabled": False})],
            [sapi(BF, response={"enabled": True}), sapi(BOT, response={"enabled": "true"})],
        ),
        "5b7a6b8c-6e3b-11f0-a54c-723487b9527e": (
            [sapi(BF, request={"allowlist": ["203.0.113.66"]})],
            [ev("sapi", BF, request={"body": {"allowlist": "192.0.2.0/24"}}), sapi("Update tenant settings")],
        ),
        "466073e8-7171-11f0-858f-723487b9527c": (
            [ev("s", hostname="acme.eu.auth0.com"), ev("fepft", hostname="ACME.eu.auth0.com")],
            [ev("s", hostname="login.acme.example"), ev("sapi", hostname="acme.eu.auth0.com")],
        ),
        # refresh-token reuse: every reuse per user per day; other refresh-token failures are not reuse
        "a7b2e75c-7171-11f0-aa28-723487b9527c": (
            [
                ev("ferrt", REUSED, user_id="auth0|victim-1", at="2025-03-01T10:00:00.000Z"),
                ev("ferrt", REUSED, user_id="auth0|victim-1", at="2025-03-01T18:30:00.000Z"),
                ev("ferrt", REUSED, user_id="auth0|victim-2"),
            ],
            [
                ev("ferrt", "Unsuccessful Refresh Token exchange, invalid refresh token", user_id="auth0|victim-1"),
                ev("sertft", REUSED, user_id="auth0|victim-1"),
                ev("ferrt", REUSED),  # no user to group by: the catalog counts per data.user_id
            ],
        ),
        # sign-ups with disposable e-mail domains, per IP and hour (the domain compared without case)
        "e92605d8-716d-11f0-b2ae-723487b9527c": (
            [
                ev("ss", user_name="x1@mailinator.com", ip="198.51.100.7"),
                ev("ss", user_name="x2@YOPMAIL.com", ip="198.51.100.7"),
                ev("ss", user_name="y@getnada.com", ip="198.51.100.8"),
            ],
            [
                ev("ss", user_name="x@notmailinator.com", ip="198.51.100.7"),
                ev("ss", user_name="x@mailinator.com.example.org", ip="198.51.100.7"),
                ev("fs", user_name="x3@mailinator.com", ip="198.51.100.7"),
            ],
        ),
        # tenant takeover: owner invitations and deletions of owners by the Management API
        "711501ce-716e-11f0-8b6e-723487b9527c": (
            [
                sapi(INVITE, request={"owners": ["mallory@gmail.com"], "roles": ["owner"]}),
                sapi("Delete tenant member", request={"roles": ["owner"]}),
                sapi("Delete tenant member", request={"roles": ["editor - users", "owner"]}),
            ],
            [
                sapi(INVITE, request={"owners": ["new.hire@acme.example"], "roles": ["editor - users"]}),
                sapi("Delete tenant member", request={}),
                sapi("Update tenant member", request={"roles": ["owner"]}),
                ev("fapi", INVITE, details={"request": {"body": {"roles": ["owner"]}}}),
            ],
        ),
    }


# ---- Sigma features beyond the catalog: temporal_ordered correlations and IPv6 ``cidr`` ------------

#: Rules written for the engine's general Sigma features (not from any catalog): id -> YAML.
FEATURE_RULES = {
    # a failed log-in, then a successful one, for the same user within 10 minutes
    "f1a0c001-0000-4000-8000-000000000001": """
title: Failed log-in
name: failed_login
logsource: {product: auth0}
detection: {selection: {data.type: f}, condition: selection}
---
title: Successful log-in
name: good_login
logsource: {product: auth0}
detection: {selection: {data.type: s}, condition: selection}
---
title: Failed then successful log-in
id: f1a0c001-0000-4000-8000-000000000001
level: high
correlation:
    type: temporal_ordered
    rules: [failed_login, good_login]
    group-by: [data.user_id]
    timespan: 10m
""",
    # three steps in order (the order the rules are listed in, not the order of the file)
    "f1a0c001-0000-4000-8000-000000000002": """
title: Step C
name: step_c
logsource: {product: auth0}
detection: {selection: {data.type: sapi}, condition: selection}
---
title: Step A
name: step_a
logsource: {product: auth0}
detection: {selection: {data.type: fp}, condition: selection}
---
title: Step B
name: step_b
logsource: {product: auth0}
detection: {selection: {data.type: scp}, condition: selection}
---
title: Password guessed, changed, then admin action
id: f1a0c001-0000-4000-8000-000000000002
correlation:
    type: temporal_ordered
    rules: [step_a, step_b, step_c]
    group-by: [data.ip]
    timespan: 1h
    condition: {gte: 3}
""",
    # IPv6 and IPv4 ranges in one rule, on a scalar field and on any element of an array
    "f1a0c001-0000-4000-8000-000000000003": """
title: Log-in from the documentation networks
id: f1a0c001-0000-4000-8000-000000000003
logsource: {product: auth0}
detection:
    by_ip:
        data.ip|cidr: ['2001:db8::/32', '198.51.100.0/24', 'fd00:1:2:3::/127']
    by_hop:
        data.details.forwarded{}|cidr: '2001:db8:aa::/48'
    condition: by_ip or by_hop
""",
}


def _at(minute: int, second: int = 0, ms: int = 0) -> str:
    return f"2025-03-01T{10 + minute // 60:02d}:{minute % 60:02d}:{second:02d}.{ms:03d}Z"


def feature_cases() -> dict[str, tuple[list[dict], list[dict]]]:
    """Rule id of :data:`FEATURE_RULES` -> (events that must fire it, near misses that must not)."""
    return {
        "f1a0c001-0000-4000-8000-000000000001": (
            [ev("f", user_id="auth0|a", at=_at(0)), ev("s", user_id="auth0|a", at=_at(5))],
            [
                # the wrong order
                ev("s", user_id="auth0|b", at=_at(0)),
                ev("f", user_id="auth0|b", at=_at(5)),
                # the right order, too far apart
                ev("f", user_id="auth0|c", at=_at(0)),
                ev("s", user_id="auth0|c", at=_at(10, 0, 1)),
                # at the same instant: not "after"
                ev("f", user_id="auth0|d", at=_at(3)),
                ev("s", user_id="auth0|d", at=_at(3)),
                # two users
                ev("f", user_id="auth0|e", at=_at(0)),
                ev("s", user_id="auth0|f", at=_at(1)),
            ],
        ),
        "f1a0c001-0000-4000-8000-000000000002": (
            [
                ev("fp", ip="192.0.2.1", at=_at(0)),
                ev("sapi", ip="192.0.2.1", at=_at(2)),  # C before B: not yet in order
                ev("scp", ip="192.0.2.1", at=_at(4)),
                ev("fp", ip="192.0.2.1", at=_at(5)),
                ev("sapi", ip="192.0.2.1", at=_at(50)),  # completes A, B, C within the hour
            ],
            [
                ev("fp", ip="192.0.2.2", at=_at(0)),
                ev("sapi", ip="192.0.2.2", at=_at(1)),
                ev("scp", ip="192.0.2.2", at=_at(2)),  # A, C, B: never in order
                ev("scp", ip="192.0.2.3", at=_at(0)),
                ev("fp", ip="192.0.2.3", at=_at(1)),
                ev("sapi", ip="192.0.2.3", at=_at(2)),  # B, A, C
                ev("fp", ip="192.0.2.4", at=_at(0)),
                ev("scp", ip="192.0.2.4", at=_at(1)),
                ev("sapi", ip="192.0.2.4", at=_at(61)),  # in order, over more than an hour
            ],
        ),
        "f1a0c001-0000-4000-8000-000000000003": (
            [
                ev("s", ip="2001:db8::1"),
                ev("s", ip="2001:DB8:0:0:0:0:0:5"),
                ev("s", ip="2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
                ev("s", ip="198.51.100.7"),
                ev("s", ip="fd00:1:2:3::1"),
                ev("s", ip="203.0.113.5", details={"forwarded": ["10.0.0.1", "2001:db8:aa:1::9"]}),
            ],
            [
                ev("s", ip="2001:db9::1"),
                ev("s", ip="2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"),
                ev("s", ip="fd00:1:2:3::2"),
                ev("s", ip="2001:db8::1::2"),
                ev("s", ip="not an address"),
                ev("s", ip="198.51.101.7"),
                ev("s", ip="198.51.99.300"),  # not an address (read as numbers, 198.51.100.44)
                ev("s", ip="198.51.100.07"),  # a leading zero: not an address for Python's ipaddress
                ev("s", ip="203.0.113.5", details={"forwarded": ["2001:db8:ab::1", "198.51.100.7"]}),
            ],
        ),
    }
