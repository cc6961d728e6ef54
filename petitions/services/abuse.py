"""Defences against a flood of fake signatures: block rules, striking out signatures in
bulk, and the hourly report of networks and email domains signing unusually often.

Nothing here keeps an IP address, a domain or an address in clear: rules, signatures,
reports and the audit log carry truncated keyed digests of the email's domain and of
the signer's network (the /24 of an IPv4 address, the /48 of an IPv6 one). Blocking
a range typed as CIDR stores the digests of the /24 (or /48) networks it covers. The
admin sees what they typed once, when it is added; afterwards a rule or a finding is
shown by ``digest_label``, which names nothing to whoever reads the database, but
matches what an admin types again (a search, a second rule).
"""

from __future__ import annotations

import ipaddress
import re
import time
import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Engine, Select, func, or_, select, update

from petitions.crypto import vault
from petitions.extensions import db
from petitions.models import (
    AbuseReport,
    Action,
    BlockKind,
    BlockRule,
    Signature,
    SignatureStatus,
    User,
    utcnow,
)
from petitions.services import audit, counting, tallies
from petitions.services.signing import SigningError, address_digest

IPV4_NETWORK, IPV6_NETWORK = 24, 48
# The widest range one rule may cover: 256 networks.
IPV4_WIDEST, IPV6_WIDEST = 16, 40
DIGEST_LENGTH = 16
COUNTED = (SignatureStatus.PENDING, SignatureStatus.CONFIRMED)


class AbuseError(ValueError):
    """Input an admin has to correct; ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- digests -----------------------------------------------------------------------------

def network_of(ip: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address = ipaddress.ip_address(ip)
    prefix = IPV4_NETWORK if address.version == 4 else IPV6_NETWORK
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def network_digest(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    return vault().digest(str(network), "ip-network")[:DIGEST_LENGTH]


def ip_network_digest(ip: str | None) -> str | None:
    """The digest of the network ``ip`` belongs to; None for no or an unparsable address."""
    if not ip:
        return None
    try:
        return network_digest(network_of(ip))
    except ValueError:
        return None


def normalize_domain(raw: str, field: str = "value") -> str:
    domain = raw.strip().lstrip("@").rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise AbuseError(field, "This is not a domain name.") from exc


def email_domain_digest(domain: str, field: str = "value") -> str:
    return vault().digest(normalize_domain(domain, field), "email-domain")[:DIGEST_LENGTH]


def digest_label(digest: str) -> str:
    """How a rule, a finding or an audit entry shows a digested value."""
    return f"#{digest[:8]}"


def range_label(networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """The label of a typed range: its first network's, and how many it covers."""
    label = digest_label(network_digest(networks[0]))
    return label if len(networks) == 1 else f"{label} (+{len(networks) - 1})"


_EMAIL = re.compile(r"[^\s<>()\"',;]+@[^\s<>()\"',;]+")
_IP_LIKE = re.compile(r"[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*(?:/\d{1,3})?")
_DOMAIN = re.compile(r"(?<![\w@.-])(?:[\w-]+\.)+[A-Za-z][\w-]+(?![\w@-])")


def redact_identifiers(text: str) -> str:
    """Free text an admin typed (a suppression's note), with every email address, IP
    address or range and domain name in it replaced by its digest label."""

    def address(match: re.Match[str]) -> str:
        try:
            return f"address {digest_label(address_digest(match.group(0)))}"
        except SigningError:
            return "address"

    def network(match: re.Match[str]) -> str:
        value = match.group(0)
        try:
            found = networks_in(value) if "/" in value else [network_of(value)]
        except (AbuseError, ValueError):
            return value  # not an address (a time, a version number)
        return f"network {range_label(found)}"

    def domain(match: re.Match[str]) -> str:
        try:
            return f"domain {digest_label(email_domain_digest(match.group(0)))}"
        except AbuseError:
            return "domain"

    text = _EMAIL.sub(address, text)
    text = _IP_LIKE.sub(network, text)
    return _DOMAIN.sub(domain, text)


def networks_in(cidr: str, field: str = "value"
                ) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The /24 (or /48) networks a typed range covers; a narrower range or a single
    address gives the one network that holds it."""
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError as exc:
        raise AbuseError(field, "Please give an IP address or a range such as "
                                "203.0.113.0/24.") from exc
    unit, widest = ((IPV4_NETWORK, IPV4_WIDEST) if network.version == 4
                    else (IPV6_NETWORK, IPV6_WIDEST))
    if network.prefixlen < widest:
        raise AbuseError(field, f"At most a /{widest} at a time.")
    if network.prefixlen >= unit:
        return [network.supernet(new_prefix=unit)]
    return list(network.subnets(new_prefix=unit))


# --- block rules -------------------------------------------------------------------------

def add_rule(kind: BlockKind, value: str, *, actor: User | None,
             via: str = "web") -> list[BlockRule]:
    """Block an email domain, an address or an IP range. Audited; commits. Only the
    digests are kept: the caller shows the admin what they typed, once."""
    if kind == BlockKind.EMAIL_DOMAIN:
        domain = normalize_domain(value)
        if "." not in domain:
            raise AbuseError("value", "Please give a domain such as example.org.")
        digests = [email_domain_digest(domain)]
    elif kind == BlockKind.EMAIL:
        try:
            digests = [address_digest(value)]
        except SigningError as exc:
            raise AbuseError("value", str(exc)) from exc
    else:
        digests = [network_digest(network) for network in networks_in(value)]
    return _store_rules(kind, digests, actor=actor, via=via)


def block_digest(kind: BlockKind, digest: str, *, actor: User | None, via: str = "web"
                 ) -> list[BlockRule]:
    """Block a network or an email domain the report named by its digest only."""
    if kind not in (BlockKind.IP_NETWORK, BlockKind.EMAIL_DOMAIN):
        raise AbuseError("kind", "Only a network or a domain is blocked by its digest.")
    return _store_rules(kind, [digest[:DIGEST_LENGTH]], actor=actor, via=via)


def _store_rules(kind: BlockKind, digests: list[str], *, actor: User | None,
                 via: str) -> list[BlockRule]:
    existing = set(db.session.scalars(select(BlockRule.value).where(
        BlockRule.kind == kind, BlockRule.value.in_(digests))))
    rules = [BlockRule(kind=kind, value=value, created_by_id=actor.id if actor else None)
             for value in digests if value not in existing]
    db.session.add_all(rules)
    db.session.flush()
    audit.record("block.add", "block_rule", rules[0].id if rules else None, actor=actor,
                 via=via, after={"kind": str(kind), "rules": len(rules),
                                 "digest": digest_label(digests[0]) if digests else ""})
    db.session.commit()
    forget_cached_rules()
    return rules


def remove_rule(rule_id: int, *, actor: User | None, via: str = "web") -> bool:
    rule = db.session.get(BlockRule, rule_id)
    if rule is None:
        return False
    audit.record("block.remove", "block_rule", rule.id, actor=actor, via=via,
                 before={"kind": str(rule.kind), "digest": digest_label(rule.value)})
    db.session.delete(rule)
    db.session.commit()
    forget_cached_rules()
    return True


def rules() -> list[BlockRule]:
    return list(db.session.scalars(select(BlockRule).order_by(BlockRule.created_at.desc(),
                                                              BlockRule.id.desc())))


def is_blocked(*, address_digest: str, domain_digest: str | None,
               network_digest: str | None) -> bool:
    """Whether a rule blocks this address, its domain or its network."""
    wanted = [(BlockKind.EMAIL, address_digest)]
    if domain_digest:
        wanted.append((BlockKind.EMAIL_DOMAIN, domain_digest))
    if network_digest:
        wanted.append((BlockKind.IP_NETWORK, network_digest))
    cached = _cached_rules()
    if cached is not None:
        return any(rule in cached for rule in wanted)
    condition = or_(*((BlockRule.kind == kind) & (BlockRule.value == value)
                      for kind, value in wanted))
    return db.session.scalar(select(BlockRule.id).where(condition).limit(1)) is not None


# Every signature asks whether it is blocked, and there are usually no rules or a few:
# each process keeps them in memory for BLOCK_RULES_CACHE_SECONDS (per database),
# unless there are more than this many, which are left in the database to ask.
CACHED_RULES_AT_MOST = 10_000


@dataclass(frozen=True)
class _CachedRules:
    loaded_at: float
    rules: frozenset[tuple[BlockKind, str]] | None  # None: too many, ask the database


_rule_caches: weakref.WeakKeyDictionary[Engine, _CachedRules] = weakref.WeakKeyDictionary()


def _cached_rules() -> frozenset[tuple[BlockKind, str]] | None:
    """This process's copy of every rule, or None to ask the database."""
    lifetime = current_app.config["BLOCK_RULES_CACHE_SECONDS"]
    if lifetime <= 0:
        return None
    engine = db.engine
    now = time.monotonic()
    cached = _rule_caches.get(engine)
    if cached is None or now - cached.loaded_at >= lifetime:
        rows = db.session.execute(select(BlockRule.kind, BlockRule.value)
                                  .limit(CACHED_RULES_AT_MOST + 1)).all()
        rules = (frozenset((kind, value) for kind, value in rows)
                 if len(rows) <= CACHED_RULES_AT_MOST else None)
        cached = _rule_caches[engine] = _CachedRules(now, rules)
    return cached.rules


def forget_cached_rules() -> None:
    """Make this process read the block rules afresh: after adding or removing one, so
    that it applies here at once (other processes follow within the cache's lifetime)."""
    _rule_caches.clear()


# --- striking out signatures in bulk -----------------------------------------------------

@dataclass(frozen=True)
class Selection:
    """Which signatures to strike out: every given criterion must match."""

    action_id: int | None = None
    domain: str = ""
    network: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def is_empty(self) -> bool:
        return not (self.domain or self.network or self.since or self.until)


def _selected(selection: Selection, columns: Iterable[Any]) -> Select[Any]:
    if selection.is_empty():
        raise AbuseError("domain", "Please give a domain, an IP range or a time window.")
    query = select(*columns).where(Signature.status.in_(COUNTED))
    if selection.action_id is not None:
        query = query.where(Signature.action_id == selection.action_id)
    if selection.domain:
        query = query.where(Signature.email_domain_digest
                            == email_domain_digest(selection.domain, "domain"))
    if selection.network:
        digests = [network_digest(n) for n in networks_in(selection.network, "network")]
        query = query.where(Signature.ip_network_digest.in_(digests))
    if selection.since:
        query = query.where(Signature.created_at >= selection.since)
    if selection.until:
        query = query.where(Signature.created_at < selection.until)
    return query


def preview(selection: Selection) -> int:
    """How many counted signatures ``invalidate`` would strike out."""
    return db.session.scalar(select(func.count()).select_from(
        _selected(selection, [Signature.id]).subquery())) or 0


def invalidate(selection: Selection, *, actor: User | None, via: str = "web") -> int:
    """Strike out the selected signatures: they stop counting, the counters and the
    tallies follow exactly. Audited; commits. Returns how many."""
    rows = db.session.execute(_selected(selection, [Signature.id, Signature.action_id,
                                                    Signature.status])).all()
    if not rows:
        return 0
    ids = [row.id for row in rows]
    for start in range(0, len(ids), 1000):
        db.session.execute(update(Signature).where(Signature.id.in_(ids[start:start + 1000]))
                           .values(status=SignatureStatus.INVALIDATED)
                           .execution_options(synchronize_session=False))
    confirmed = Counter(r.action_id for r in rows if r.status == SignatureStatus.CONFIRMED)
    pending = Counter(r.action_id for r in rows if r.status == SignatureStatus.PENDING)
    per_action = confirmed.keys() | pending.keys()
    for action_id in per_action:
        counting.add(action_id, confirmed=-confirmed[action_id], pending=-pending[action_id])
    audit.record("signatures.invalidate", "action",
                 selection.action_id if selection.action_id is not None else None,
                 actor=actor, via=via,
                 after={"signatures": len(ids), "actions": sorted(per_action),
                        "domain": digest_label(email_domain_digest(selection.domain))
                        if selection.domain else "",
                        "network": range_label(networks_in(selection.network))
                        if selection.network else "",
                        "since": selection.since.isoformat() if selection.since else None,
                        "until": selection.until.isoformat() if selection.until else None})
    db.session.commit()
    for action_id in per_action:
        tallies.compile_tally(action_id)
    return len(ids)


# --- the hourly report -------------------------------------------------------------------

def compile_report(now: datetime | None = None) -> AbuseReport:
    """Networks and email domains with at least ``ABUSE_REPORT_THRESHOLD`` signatures in
    the last hour, by digest only (no address is decrypted to name a domain: the admin
    who suspects one types it, and the block form or the strike-out preview matches)."""
    end = now or utcnow()
    start = end - timedelta(hours=1)
    threshold = current_app.config["ABUSE_REPORT_THRESHOLD"]
    in_period = (Signature.created_at >= start, Signature.created_at < end)

    def busy(column: Any) -> list[tuple[str, int]]:
        return [(digest, count) for digest, count in db.session.execute(
            select(column, func.count()).where(*in_period, column.is_not(None))
            .group_by(column).having(func.count() >= threshold)
            .order_by(func.count().desc()))]

    domains = [{"digest": digest, "count": count}
               for digest, count in busy(Signature.email_domain_digest)]
    total = db.session.scalar(select(func.count()).select_from(Signature)
                              .where(*in_period)) or 0
    report = AbuseReport(period_start=start, period_end=end, findings={
        "threshold": threshold, "signatures": total, "domains": domains,
        "networks": [{"digest": digest, "count": count}
                     for digest, count in busy(Signature.ip_network_digest)]})
    db.session.add(report)
    db.session.commit()
    return report


def latest_reports(limit: int = 24) -> list[AbuseReport]:
    return list(db.session.scalars(select(AbuseReport).order_by(
        AbuseReport.period_end.desc(), AbuseReport.id.desc()).limit(limit)))


def action_by_slug(slug: str) -> Action | None:
    return db.session.scalar(select(Action).where(Action.slug == slug))
