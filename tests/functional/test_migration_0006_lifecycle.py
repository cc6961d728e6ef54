"""Migration 0006_lifecycle turns the clear values already stored into digests."""

from __future__ import annotations

import json

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from petitions.extensions import db
from petitions.services import abuse
from tests.account_factories import raw_rows


def test_clear_values_stored_before_become_digests(app):
    downgrade(revision="0006_staffapi")
    statements = [
        ("INSERT INTO block_rules (kind, value, label, created_at) VALUES "
         "('email_domain', :d1, 'flood.example', CURRENT_TIMESTAMP)",
         {"d1": abuse.email_domain_digest("flood.example")}),
        ("INSERT INTO audit_log (created_at, via, verb, object_type, object_id, after) VALUES "
         "(CURRENT_TIMESTAMP, 'web', 'block.add', 'block_rule', '1', :after)",
         {"after": json.dumps({"kind": "ip_network", "rules": 2,
                               "label": "203.0.112.0/23"})}),
        ("INSERT INTO audit_log (created_at, via, verb, object_type, object_id, after) VALUES "
         "(CURRENT_TIMESTAMP, 'web', 'signatures.invalidate', 'action', NULL, :after)",
         {"after": json.dumps({"signatures": 3, "domain": "spam.example",
                               "network": "198.51.100.0/24"})}),
        ("INSERT INTO abuse_reports (period_start, period_end, findings, created_at) VALUES "
         "(CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :findings, CURRENT_TIMESTAMP)",
         {"findings": json.dumps({"domains": [{"domain": "bots.example", "digest": "ab",
                                               "count": 9}], "networks": []})}),
        ("INSERT INTO suppressions (email_digest, scope, reason, note, created_at) VALUES "
         "('x', 'all', 'admin', 'victim@example.org called from 192.0.2.44', "
         "CURRENT_TIMESTAMP)", {}),
    ]
    with db.engine.begin() as connection:
        for statement, parameters in statements:
            connection.execute(text(statement), parameters)
    upgrade()

    stored = str([raw_rows(t) for t in ("block_rules", "audit_log", "abuse_reports",
                                        "suppressions")]).lower()
    for clear in ("flood", "203.0.112", "spam.example", "198.51.100", "bots.example",
                  "victim", "192.0.2.44"):
        assert clear not in stored, clear
    [rule] = raw_rows("block_rules")
    assert "label" not in rule
    entries = {row["verb"]: row["after"] for row in raw_rows("audit_log")}
    after = {verb: json.loads(value) if isinstance(value, str) else value
             for verb, value in entries.items()}
    assert after["block.add"]["digest"] == abuse.range_label(
        abuse.networks_in("203.0.112.0/23"))
    assert after["signatures.invalidate"]["domain"] == abuse.digest_label(
        abuse.email_domain_digest("spam.example"))
