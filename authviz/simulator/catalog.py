"""What Auth0's Security Detection Catalog expects to see, for the simulator's catalog attacks.

Auth0 publishes its detections as Sigma rules (``auth0/auth0-customer-detections``, Apache-2.0).
The records the simulator injects for the catalog's attacks are built to the fields and values those
rules name (``data.type``, ``data.description``, ``data.details.request.body...``,
``data.details.response.body...``) and to the shape of the Management API log records
(``type: sapi``) in public samples: ``details.request`` (``auth.user``, ``body``, ``channel``,
``ip``, ``method``, ``path``, ``query``, ``userAgent``) and ``details.response`` (``body``,
``statusCode``).

:data:`CATALOG_RULE_IDS` maps a catalog rule (its file name without ``.yml``) to its Sigma ``id``;
:class:`~authviz.simulator.InjectedAttack.rule_ids` lists the catalog rules written for that attack:
each one's Sigma *detection* (before any threshold or correlation) matches some injected record, and
every record of a catalog attack is matched by one of them. Read literally, a few other catalog
rules match some of these records too (``client_with_overpermissive_granted_scopes`` and
``unrecognized_ip_in_allowlist`` match Management API records until their placeholders are
configured; ``suspicious_ip_throttling_critical_settings_manipulated`` matches any response with
``enabled: false``; ``many_unverified_accounts_created`` any sign-up): they are not ground truth.
Two catalog rules are deliberately absent from the ground truth because, read as Sigma with JSON
types, they do not match what Auth0 logs for these changes:

- ``attack_protection_features_turned_off`` asks for ``data.details.request.body.enabled`` equal to
  the *string* ``'false'``; the Management API receives a JSON boolean.
- ``mfa_downgrade_disable_mfa_policies`` fires when the policies *contain* ``all-applications`` or
  ``confidence-score``; turning MFA off sets them to ``[]`` (its Splunk query tests the opposite).

Pure data and pure functions: no I/O, no clock.
"""

from __future__ import annotations

import copy

from collections.abc import Mapping
from typing import Any

#: Catalog rule (file name) -> Sigma rule id, for the rules the simulator's attacks exercise.
CATALOG_RULE_IDS: dict[str, str] = {
    "credential_stuffing_signals": "e604e40e-9db6-449d-854d-2b5323644fd7",
    "sms_bombarding": "74a1ddea-7172-11f0-ace0-723487b9527c",
    "risk_for_mfa_push_fatigue": "e675f02e-716c-11f0-8602-723487b9527c",
    "refresh_token_reuse": "a7b2e75c-7171-11f0-aa28-723487b9527c",
    "risk_of_signup_fraud_by_volume": "3a9be414-716e-11f0-8153-723487b9527c",
    "risk_of_signup_fraud_by_disposable_domains": "e92605d8-716d-11f0-b2ae-723487b9527c",
    "attack_protection_features_turned_off": "0325e11e-12ce-44e7-8d1f-3a64700a000a",
    "brute_force_critical_settings_manipulated": "8281291e-51b4-46a9-8012-955e20406efd",
    "breached_password_detection_settings_manipulated": "2a26d75e-43fd-4bc9-afb6-d3465068d869",
    "suspicious_ip_throttling_critical_settings_manipulated": "afb609fe-716f-11f0-b060-723487b9527c",
    "bot_detection_turned_off": "dc37e695-df6f-439c-82aa-fe7127c5a3c3",
    "mfa_downgrade_detect_disable_factors": "d0b564f6-716a-11f0-96ba-723487b9527c",
    "mfa_downgrade_disable_mfa_policies": "6733ad4e-716a-11f0-9006-723487b9527c",
    "mfa_donwgrade_risk_assessment_disabled": "3600d0d2-41af-4958-8896-e0ffe8723f26",
    "risk_of_tenant_takeover": "711501ce-716e-11f0-8b6e-723487b9527c",
}

#: The e-mail domains the catalog's disposable-domain sign-up rule lists.
DISPOSABLE_DOMAINS: tuple[str, ...] = (
    "mailinator.com",
    "yopmail.com",
    "10minutemail.com",
    "guerrillamail.com",
    "temp-mail.org",
    "disposable.com",
    "mailnesia.com",
    "sharklasers.com",
    "getnada.com",
    "mohmal.com",
)

#: Personal mail providers (the catalog's tenant-takeover query flags an owner invited on one).
PERSONAL_DOMAINS: tuple[str, ...] = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com")

#: ``data.description`` values Auth0 writes, as the catalog's rules name them.
SMS_SENT = "Guardian - Second factor sms sent"
PUSH_SENT = "Guardian - Second factor notification sent"
REFRESH_TOKEN_REUSED = "Unsuccessful Refresh Token exchange, reused refresh token detected"

#: Attack-protection feature -> (``data.description`` of its update, Management API path, the
#: settings as Auth0 returns them once turned off).
ATTACK_PROTECTION: dict[str, tuple[str, str, dict[str, Any]]] = {
    "brute-force": (
        "Update Brute-force settings",
        "/api/v2/attack-protection/brute-force-protection",
        {
            "enabled": False,
            "shields": ["block", "user_notification"],
            "mode": "count_per_identifier_and_ip",
            "allowlist": [],
            "max_attempts": 10,
        },
    ),
    "breached-password": (
        "Update Breached Password Detection settings",
        "/api/v2/attack-protection/breached-password-detection",
        {
            "enabled": False,
            "shields": ["block", "admin_notification"],
            "admin_notification_frequency": ["immediately"],
            "method": "standard",
            "stage": {"pre-user-registration": {"shields": ["block"]}},
        },
    ),
    "suspicious-ip-throttling": (
        "Update Suspicious IP Throttling settings",
        "/api/v2/attack-protection/suspicious-ip-throttling",
        {
            "enabled": False,
            "shields": ["block", "admin_notification"],
            "allowlist": [],
            "stage": {
                "pre-login": {"max_attempts": 100, "rate": 864000},
                "pre-user-registration": {"max_attempts": 50, "rate": 1200},
            },
        },
    ),
    "bot-detection": (
        "Create or update the anomaly detection captcha",
        "/api/v2/attack-protection/bot-detection",
        {
            "bot_detection_level": "medium",
            "challenge_password_policy": "never",
            "policy": "off",
            "passwordless_policy": "off",
            "password_reset_policy": "off",
            "allowlist": [],
            "monitoring_mode_enabled": False,
        },
    ),
}

#: Attack-protection feature -> the catalog rules whose detection matches turning it off.
ATTACK_PROTECTION_RULES: dict[str, tuple[str, ...]] = {
    "brute-force": ("brute_force_critical_settings_manipulated",),
    "breached-password": ("breached_password_detection_settings_manipulated",),
    "suspicious-ip-throttling": ("suspicious_ip_throttling_critical_settings_manipulated",),
    "bot-detection": ("bot_detection_turned_off",),
}

#: MFA change -> (``data.description``, method, path, request body, response body, catalog rules).
MFA_CHANGES: dict[str, tuple[str, str, str, Any, Any, tuple[str, ...]]] = {
    "push-notification": (
        "Update multi-factor authentication type",
        "put",
        "/api/v2/guardian/factors/push-notification",
        {"enabled": False},
        {"enabled": False},
        ("mfa_downgrade_detect_disable_factors",),
    ),
    "webauthn-roaming": (
        "Update multi-factor authentication type",
        "put",
        "/api/v2/guardian/factors/webauthn-roaming",
        {"enabled": False},
        {"enabled": False},
        ("mfa_downgrade_detect_disable_factors",),
    ),
    "risk-assessment": (
        "Updates risk assessment configs",
        "patch",
        "/api/v2/risk-assessment/config",
        {"AfterAuthentication": False},
        {"AfterAuthentication": False, "BeforeLoginPrompt": False, "BeforeLoginPromptMonitoring": False},
        ("mfa_donwgrade_risk_assessment_disabled",),
    ),
    "policies": ("Update multi-factor authentication policies", "put", "/api/v2/guardian/policies", [], [], ()),
}

#: The client Auth0 records for changes made in the Dashboard (``manage.auth0.com``).
DASHBOARD_CLIENT_ID = "1HXWWGKk1Zj3JF8GvMrnCSirccDs4qvr"


def rule_ids(*names: str) -> tuple[str, ...]:
    """Sigma ids of catalog rules named by file name, in order, without repeats."""
    return tuple(dict.fromkeys(CATALOG_RULE_IDS[name] for name in names))


def management_details(
    *,
    admin: Mapping[str, str],
    jti: str,
    ip: str,
    user_agent: str,
    method: str,
    path: str,
    body: Any,
    status: int,
    response: Any,
    query: Mapping[str, Any] | None = None,
) -> dict:
    """``data.details`` of a Management API (``sapi``) log record for a change made in the Dashboard.

    ``admin`` has ``email``, ``name`` and ``user_id`` (the tenant member who made the change).
    ``body`` and ``response`` are deep-copied: every record owns its JSON (the module's tables of
    settings are shared constants and a caller may edit a record it was given)."""
    body, response = copy.deepcopy(body), copy.deepcopy(response)
    return {
        "request": {
            "auth": {
                "credentials": {"jti": jti},
                "strategy": "jwt",
                "user": {"email": admin["email"], "name": admin["name"], "user_id": admin["user_id"]},
            },
            "body": body,
            "channel": "https://manage.auth0.com/",
            "ip": ip,
            "method": method,
            "path": path,
            "query": dict(query or {}),
            "userAgent": user_agent,
        },
        "response": {"body": response, "statusCode": status},
    }
