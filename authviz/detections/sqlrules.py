"""Rules Sigma cannot express, as DuckDB SQL with the same metadata as Sigma rules.

A SQL rule's ``sql`` is a query over ``{events}`` (the events view) returning the finding columns
``group`` (JSON), ``count``, ``first``, ``last``, ``event_ids``; the engine adds id, title, level.
"""

from __future__ import annotations

from authviz.detections.model import Rule

#: Impossible travel, as :func:`authviz.analytics.detections.impossible_travel` computes it: two
#: consecutive successful logins of one user more than 500 km apart implying more than 1000 km/h
#: (great circle, zero time = infinite speed); chains of hops (A -> B -> A) form one finding.
IMPOSSIBLE_TRAVEL_SQL = """
WITH logins AS NOT MATERIALIZED (  -- read again where used, not held: faster over millions of logins
    SELECT event_id, timestamp, latitude, longitude,
           coalesce(nullif(user_name, ''), nullif(email, ''), nullif(user_id, '')) AS u
    FROM {events}
    WHERE category = 'login_success' AND latitude IS NOT NULL AND longitude IS NOT NULL
), movers AS MATERIALIZED (
    -- exact pruning: a hop needs two different places, so users seen at one place never hop (users
    -- told apart by a 64-bit hash: two sharing one are kept if either moved, never dropped)
    SELECT hash(u) AS hu FROM logins WHERE u IS NOT NULL GROUP BY hu HAVING min(latitude) <> max(latitude)
        OR min(longitude) <> max(longitude)
), keyed AS (
    SELECT * FROM logins WHERE u IS NOT NULL AND hash(u) IN (SELECT hu FROM movers)
), paired AS (
    SELECT *, lag(latitude) OVER w AS lat0, lag(longitude) OVER w AS lon0,
           lag(timestamp) OVER w AS t0, row_number() OVER w AS position
    FROM keyed WINDOW w AS (PARTITION BY u ORDER BY timestamp, event_id)
), hops AS (
    SELECT *,
        CASE WHEN lat0 IS NULL OR (lat0 = latitude AND lon0 = longitude) THEN 0.0
             ELSE 2 * 6371.0088 * asin(least(1.0, sqrt(
                 pow(sin(radians(latitude - lat0) / 2), 2)
                 + cos(radians(lat0)) * cos(radians(latitude)) * pow(sin(radians(longitude - lon0) / 2), 2))))
        END AS km,
        (epoch_ms(timestamp) - epoch_ms(t0)) / 3600000.0 AS hours
    FROM paired
), flagged AS (
    SELECT *, coalesce(km > 500 AND (hours <= 0 OR km / hours > 1000), FALSE) AS hop_in FROM hops
), linked AS (
    SELECT *, coalesce(lead(hop_in) OVER w, FALSE) AS hop_out, coalesce(lag(hop_in) OVER w, FALSE) AS hop_before
    FROM flagged WINDOW w AS (PARTITION BY u ORDER BY timestamp, event_id)
), chained AS (
    SELECT *, sum(CASE WHEN hop_out AND NOT hop_in THEN 1 ELSE 0 END)
              OVER (PARTITION BY u ORDER BY timestamp, event_id ROWS UNBOUNDED PRECEDING) AS chain
    FROM linked
)
SELECT json_object('user_key', u) AS "group", count(*) AS count, min(timestamp) AS first, max(timestamp) AS last,
       list(event_id ORDER BY timestamp, event_id) AS event_ids
FROM chained WHERE hop_in OR hop_out
GROUP BY u, chain
"""


def sql_rules() -> list[Rule]:
    """The built-in SQL rules."""
    return [
        Rule(
            id="1588a940-b173-547b-a482-2eb3a91acde0",
            title="Impossible travel",
            level="medium",
            description=(
                "Two consecutive successful logins of one user more than 500 km apart, implying more "
                "than 1000 km/h: the account is used from two places at once."
            ),
            origin="builtin",
            source="builtin/sqlrules.py#impossible_travel",
            prevention=(
                "Ask the user whether both logins were theirs; if not, reset the password and revoke sessions.",
                "Consider adaptive MFA (risk assessment) for new devices and locations.",
            ),
            tags=("attack.initial-access", "attack.t1078"),
            status="stable",
            name="impossible_travel",
            sql=IMPOSSIBLE_TRAVEL_SQL,
        ),
    ]
