"""Admin tools against a flood: block rules (the blocked get the usual answer and nothing
is stored), striking out signatures in bulk with exact counts, and the hourly report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import (
    Action,
    AuditEntry,
    BlockKind,
    BlockRule,
    Signature,
    SignatureStatus,
    Suppression,
    User,
    utcnow,
)
from petitions.services import abuse, confirming, counting, suppression, tallies
from petitions.services.signing import BlockedError, sign
from tests.account_factories import (  # noqa: F401  - cheap_password_hashing: a fixture
    cheap_password_hashing,
    log_in,
    make_user,
    raw_rows,
)
from tests.factories import (
    confirmation_token,
    csrf_token,
    field_error,
    form_data,
    make_action,
    post_form,
    signature_input,
)

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def signed(action: Action, *, email: str, ip: str = "192.0.2.10",
           confirm: bool = True) -> Signature:
    outcome = sign(action, signature_input(email=email), ip=ip)
    signature = db.session.get(Signature, outcome.signature_id)
    assert signature is not None
    if confirm:
        confirming.confirm(confirmation_token(signature))
    return signature


def stored() -> int:
    return db.session.scalar(select(func.count()).select_from(Signature)) or 0


@pytest.fixture
def admin(app: Flask) -> User:
    return make_user("admin")


@pytest.fixture
def admin_client(client: FlaskClient, admin: User) -> FlaskClient:
    log_in(client, admin)
    return client


def test_signing_keeps_the_digests_of_network_and_domain(app: Flask) -> None:
    signature = signed(make_action(), email="Someone@Flood.Example", ip="203.0.113.77",
                       confirm=False)
    assert signature.ip_network_digest == abuse.ip_network_digest("203.0.113.1")
    assert signature.ip_network_digest != abuse.ip_network_digest("203.0.114.1")
    assert signature.email_domain_digest == abuse.email_domain_digest("flood.example")
    assert len(signature.email_domain_digest or "") == 16
    v6 = signed(make_action(), email="a@example.org", ip="2001:db8:1:2::5", confirm=False)
    assert v6.ip_network_digest == abuse.ip_network_digest("2001:db8:1:ffff::1")


def test_a_range_is_blocked_by_its_networks_and_capped(admin: User) -> None:
    rules = abuse.add_rule(BlockKind.IP_NETWORK, "203.0.112.0/23", actor=admin)
    assert len(rules) == 2
    action = make_action()
    for ip in ("203.0.112.5", "203.0.113.250"):
        with pytest.raises(BlockedError):
            sign(action, signature_input(), ip=ip)
    assert sign(action, signature_input(), ip="203.0.114.1").created
    # A single address blocks its /24; blocking twice adds nothing.
    assert len(abuse.add_rule(BlockKind.IP_NETWORK, "198.51.100.9", actor=admin)) == 1
    assert abuse.add_rule(BlockKind.IP_NETWORK, "198.51.100.0/24", actor=admin) == []
    with pytest.raises(abuse.AbuseError, match="/16"):
        abuse.add_rule(BlockKind.IP_NETWORK, "10.0.0.0/15", actor=admin)
    assert len(abuse.networks_in("2001:db8::/40")) == 256


def test_blocked_domain_and_address_get_the_usual_answer(admin: User,
                                                         client: FlaskClient) -> None:
    abuse.add_rule(BlockKind.EMAIL_DOMAIN, "@Flood.Example", actor=admin)
    abuse.add_rule(BlockKind.EMAIL, "Troll@Example.org", actor=admin)
    action = make_action()
    url = f"/actions/{action.slug}"
    for email in ("anyone@flood.example", "troll@example.org"):
        response = post_form(client, url, form_data(email=email))
        assert response.status_code == 303
        assert response.headers["Location"].endswith(f"{url}/check-email")
    assert stored() == 0
    assert post_form(client, url, form_data(email="friend@example.org")).status_code == 303
    assert stored() == 1
    # Neither the domain nor the address is kept: digests only.
    stored_rules = str(raw_rows("block_rules") + raw_rows("audit_log")).lower()
    assert "flood" not in stored_rules and "troll" not in stored_rules


def test_invalidating_by_domain_adjusts_counts_exactly(admin: User) -> None:
    action = make_action()
    for n in range(3):
        signed(action, email=f"bot{n}@flood.example")
    signed(action, email="bot9@flood.example", confirm=False)
    signed(action, email="real@example.org")
    signed(action, email="other@example.org", confirm=False)
    before = counting.counts(action.id)
    assert (before.confirmed, before.pending) == (4, 2)

    selection = abuse.Selection(action_id=action.id, domain="FLOOD.example")
    assert abuse.preview(selection) == 4
    assert abuse.invalidate(selection, actor=admin) == 4

    after = counting.counts(action.id)
    assert (after.confirmed, after.pending) == (1, 1)
    assert tallies.current_tally(action).confirmed == 1
    assert abuse.preview(selection) == 0  # struck-out signatures are not counted again
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb == "signatures.invalidate")).one()
    assert entry.actor_id == admin.id
    assert entry.after is not None and entry.after["signatures"] == 4


def test_invalidating_by_network_and_time_window(admin: User) -> None:
    action = make_action()
    early = signed(action, email="a@example.org", ip="198.51.100.1")
    early.created_at = utcnow() - timedelta(hours=5)
    db.session.commit()
    signed(action, email="b@example.org", ip="198.51.100.2")
    signed(action, email="c@example.org", ip="192.0.2.1")
    window = abuse.Selection(network="198.51.100.0/24", since=utcnow() - timedelta(hours=1))
    assert abuse.preview(window) == 1
    assert abuse.invalidate(window, actor=admin) == 1
    assert counting.counts(action.id).confirmed == 2
    with pytest.raises(abuse.AbuseError):
        abuse.preview(abuse.Selection(action_id=action.id))  # no criterion: refused


def test_the_hourly_report_names_busy_domains_and_networks(app: Flask,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            admin: User,
                                                            admin_client: FlaskClient) -> None:
    monkeypatch.setitem(app.config, "ABUSE_REPORT_THRESHOLD", 3)
    action = make_action()
    for n in range(3):
        signed(action, email=f"x{n}@flood.example", ip=f"203.0.113.{n + 1}", confirm=False)
    signed(action, email="calm@example.org", ip="192.0.2.1", confirm=False)
    report = abuse.compile_report()
    findings = report.findings
    assert findings["signatures"] == 4
    domain = abuse.email_domain_digest("flood.example")
    assert findings["domains"] == [{"digest": domain, "count": 3}]
    assert [n["count"] for n in findings["networks"]] == [3]
    network = findings["networks"][0]["digest"]
    assert network == abuse.ip_network_digest("203.0.113.200")
    # Networks and domains are kept as digests only.
    assert "203.0.113" not in str(raw_rows("abuse_reports"))
    assert "flood" not in str(raw_rows("abuse_reports"))
    page = admin_client.get("/admin/abuse").get_data(as_text=True)
    assert f"{domain[:8]}: 3" in page and "Block this network" in page
    assert "flood.example" not in page
    token = csrf_token(admin_client, "/admin/abuse")
    blocked = admin_client.post("/admin/abuse/block-network", data={
        "csrf_token": token, "kind": "ip_network", "digest": network})
    assert blocked.status_code == 303
    with pytest.raises(BlockedError):
        sign(action, signature_input(), ip="203.0.113.99")
    blocked = admin_client.post("/admin/abuse/block-network", data={
        "csrf_token": token, "kind": "email_domain", "digest": domain})
    assert blocked.status_code == 303
    with pytest.raises(BlockedError):
        sign(action, signature_input(email="new@flood.example"), ip="192.0.2.200")
    refused = admin_client.post("/admin/abuse/block-network", data={
        "csrf_token": token, "kind": "email", "digest": domain})
    assert refused.status_code == 400


def test_the_abuse_page_blocks_and_unblocks(admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/abuse")
    assert page.status_code == 200
    token = csrf_token(admin_client, "/admin/abuse")
    bad = admin_client.post("/admin/abuse/rules", data={
        "csrf_token": token, "kind": "ip_network", "value": "not an address"})
    assert bad.status_code == 422
    assert "IP address" in (field_error(bad.get_data(as_text=True), "value") or "")
    good = admin_client.post("/admin/abuse/rules", data={
        "csrf_token": token, "kind": "email_domain", "value": "flood.example"})
    assert good.status_code == 303
    rule = db.session.scalars(select(BlockRule)).one()
    # What was typed is shown once, when it is added; then by its digest only.
    flashed = admin_client.get("/admin/abuse").get_data(as_text=True)
    assert "flood.example" in flashed and abuse.digest_label(rule.value) in flashed
    later = admin_client.get("/admin/abuse").get_data(as_text=True)
    assert "flood.example" not in later and rule.value[:8] in later
    removed = admin_client.post(f"/admin/abuse/rules/{rule.id}/delete",
                                data={"csrf_token": token})
    assert removed.status_code == 303
    assert db.session.scalars(select(BlockRule)).all() == []
    verbs = set(db.session.scalars(select(AuditEntry.verb)))
    assert {"block.add", "block.remove"} <= verbs


def test_the_console_previews_before_striking_out(admin_client: FlaskClient) -> None:
    action = make_action()
    for n in range(2):
        signed(action, email=f"bot{n}@flood.example")
    signed(action, email="real@example.org")
    url = "/admin/abuse/invalidate"
    token = csrf_token(admin_client, url)
    fields = {"csrf_token": token, "action": action.slug, "domain": "flood.example",
              "network": "", "since": "", "until": ""}
    preview = admin_client.post(url, data={**fields, "preview": "1"})
    assert preview.status_code == 200
    assert "2 signatures match" in preview.get_data(as_text=True)
    assert counting.counts(action.id).confirmed == 3  # nothing changed yet
    done = admin_client.post(url, data={**fields, "confirm": "1"})
    assert done.status_code == 303
    assert counting.counts(action.id).confirmed == 1
    statuses = db.session.scalars(select(Signature.status).order_by(Signature.id)).all()
    assert statuses.count(SignatureStatus.INVALIDATED) == 2
    empty = admin_client.post(url, data={**fields, "domain": "", "action": "",
                                         "preview": "1"})
    assert empty.status_code == 422
    assert field_error(empty.get_data(as_text=True), "domain")


def test_organizers_may_not_use_the_abuse_tools(client: FlaskClient) -> None:
    log_in(client, make_user("organizer"))
    assert client.get("/admin/abuse").status_code == 403
    assert client.get("/admin/privacy").status_code == 403


def test_no_ip_or_domain_is_stored_in_clear(admin: User) -> None:
    """Block rules, strike-outs and their audit entries, a suppression's note: a raw read
    of the database finds none of the networks, domains or addresses an admin typed."""
    abuse.add_rule(BlockKind.EMAIL_DOMAIN, "flood.example", actor=admin)
    abuse.add_rule(BlockKind.IP_NETWORK, "203.0.112.0/23", actor=admin)
    abuse.add_rule(BlockKind.IP_NETWORK, "2001:db8:77::1", actor=admin)
    action = make_action()
    signed(action, email="bot@spam.example", ip="198.51.100.7")
    abuse.invalidate(abuse.Selection(domain="spam.example", network="198.51.100.0/24"),
                     actor=admin)
    for rule in abuse.rules():
        abuse.remove_rule(rule.id, actor=admin)
    suppression.admin_add(admin, "victim@example.org",
                          "asked by victim@example.org from 192.0.2.44 at home.example")
    stored_text = str([raw_rows(t) for t in (
        "block_rules", "audit_log", "abuse_reports", "suppressions")]).lower()
    for clear in ("flood", "203.0.112", "2001:db8", "spam.example", "198.51.100",
                  "victim", "192.0.2.44", "home.example"):
        assert clear not in stored_text, clear
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb == "signatures.invalidate")).one()
    assert entry.after is not None
    assert entry.after["domain"] == abuse.digest_label(abuse.email_domain_digest("spam.example"))
    note = db.session.scalars(select(Suppression.note)).one()
    assert note.startswith("asked by address #") and " at home " not in note
