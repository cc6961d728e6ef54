"""digests, not clear values: block rules, audit log, abuse reports, suppression notes

Block rules lose the label that kept the domain or range an admin typed in clear;
the audit entries that quoted it (block.add, block.remove) and the strike-outs
(signatures.invalidate) keep the digest label instead; the hourly abuse reports
lose the domain names they read from signers' addresses; suppression notes have
every address, IP and domain replaced by its digest label. The digests are computed
with the running app's PII_INDEX_KEY (``flask db upgrade`` runs inside the app).

The downgrade brings the column back, empty: the clear values are gone for good,
which is the point.

Revision ID: 0006_lifecycle
Revises: 0006_staffapi
Create Date: 2026-12-04 16:30:00

"""
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006_lifecycle'
down_revision = '0006_staffapi'
branch_labels = None
depends_on = None


_block_rules = sa.table('block_rules', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                        sa.column('label', sa.String))
_audit = sa.table('audit_log', sa.column('id', sa.Integer), sa.column('verb', sa.String),
                  sa.column('before', sa.JSON), sa.column('after', sa.JSON))
_reports = sa.table('abuse_reports', sa.column('id', sa.Integer),
                    sa.column('findings', sa.JSON))
_suppressions = sa.table('suppressions', sa.column('id', sa.Integer),
                         sa.column('note', sa.String))


def _domain_label(domain: str) -> str:
    from petitions.services import abuse
    try:
        return abuse.digest_label(abuse.email_domain_digest(domain))
    except abuse.AbuseError:
        return ""


def _range_label(network: str) -> str:
    from petitions.services import abuse
    try:
        return abuse.range_label(abuse.networks_in(network))
    except abuse.AbuseError:
        return ""


def _rule_label(kind: str | None, label: str) -> str:
    if not label:
        return ""
    return _domain_label(label) if kind == 'email_domain' else _range_label(label)


def _rewrite_audit(connection: sa.Connection) -> None:
    rows = connection.execute(sa.select(_audit.c.id, _audit.c.verb, _audit.c.before,
                                        _audit.c.after).where(_audit.c.verb.in_(
                                            ['block.add', 'block.remove',
                                             'signatures.invalidate']))).all()
    for row_id, verb, before, after in rows:
        values: dict[str, Any] = {}
        if verb in ('block.add', 'block.remove'):
            name = 'after' if verb == 'block.add' else 'before'
            details = dict((after if name == 'after' else before) or {})
            if 'label' in details:
                details['digest'] = _rule_label(details.get('kind'), details.pop('label') or "")
                values[name] = details
        else:
            details = dict(after or {})
            if details.get('domain'):
                details['domain'] = _domain_label(details['domain'])
            if details.get('network'):
                details['network'] = _range_label(details['network'])
            values['after'] = details
        if values:
            connection.execute(sa.update(_audit).where(_audit.c.id == row_id).values(**values))


def upgrade():
    from petitions.services.abuse import redact_identifiers

    connection = op.get_bind()
    _rewrite_audit(connection)
    for row_id, findings in connection.execute(
            sa.select(_reports.c.id, _reports.c.findings)).all():
        findings = dict(findings or {})
        findings['domains'] = [{k: v for k, v in d.items() if k != 'domain'}
                               for d in findings.get('domains') or []]
        connection.execute(sa.update(_reports).where(_reports.c.id == row_id)
                           .values(findings=findings))
    for row_id, note in connection.execute(
            sa.select(_suppressions.c.id, _suppressions.c.note)
            .where(_suppressions.c.note.is_not(None))).all():
        connection.execute(sa.update(_suppressions).where(_suppressions.c.id == row_id)
                           .values(note=redact_identifiers(note)))

    with op.batch_alter_table('block_rules', schema=None) as batch_op:
        batch_op.drop_column('label')


def downgrade():
    with op.batch_alter_table('block_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('label', sa.String(length=200), nullable=False,
                                      server_default=''))
