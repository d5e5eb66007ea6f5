"""initial schema: sources, source records, golden records and versions, keys, batches, outbox

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 17:59:51.016257
"""

from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batch',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('domain', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('counter',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('golden_record',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('domain', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('merged_into', sa.String(length=36), nullable=True),
    sa.Column('approval', sa.String(length=24), nullable=False),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('lineage', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('account_number', sa.String(length=64), nullable=True),
    sa.Column('rules_hash', sa.String(length=80), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_number')
    )
    with op.batch_alter_table('golden_record', schema=None) as batch_op:
        batch_op.create_index('ix_golden_domain_status', ['domain', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_golden_record_merged_into'), ['merged_into'], unique=False)

    op.create_table('match_model',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('domain', sa.String(length=16), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version')
    )
    with op.batch_alter_table('match_model', schema=None) as batch_op:
        batch_op.create_index('ix_match_model_active', ['domain', 'active'], unique=False)

    op.create_table('outbox_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('golden_id', sa.String(length=36), nullable=False),
    sa.Column('domain', sa.String(length=16), nullable=False),
    sa.Column('golden_version', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('correlation_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id')
    )
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_golden', ['golden_id', 'golden_version'], unique=False)

    op.create_table('source_system',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('api_key',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['source'], ['source_system.name'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_table('golden_override',
    sa.Column('golden_id', sa.String(length=36), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('pinned_by', sa.String(length=128), nullable=False),
    sa.Column('pinned_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['golden_id'], ['golden_record.id'], ),
    sa.PrimaryKeyConstraint('golden_id', 'field')
    )
    op.create_table('golden_version',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('golden_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('lineage', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('members', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('cause', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('correlation_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['golden_id'], ['golden_record.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('golden_id', 'version', name='uq_golden_version')
    )
    op.create_table('source_record',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('domain', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=255), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('prepared', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('source_updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('golden_id', sa.String(length=36), nullable=True),
    sa.Column('match_status', sa.String(length=16), nullable=False),
    sa.Column('match_probability', sa.Float(), nullable=True),
    sa.Column('match_explanation', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('model_version', sa.String(length=64), nullable=True),
    sa.Column('resolved_hash', sa.String(length=64), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('job_id', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('warnings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['golden_id'], ['golden_record.id'], ),
    sa.ForeignKeyConstraint(['source'], ['source_system.name'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'domain', 'source_id', name='uq_source_record_key')
    )
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.create_index('ix_source_record_golden', ['golden_id'], unique=False)
        batch_op.create_index('ix_source_record_pending', ['match_status', 'enqueued_at'], unique=False)

    op.create_table('batch_item',
    sa.Column('batch_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('source_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ),
    sa.ForeignKeyConstraint(['source_record_id'], ['source_record.id'], ),
    sa.PrimaryKeyConstraint('batch_id', 'position')
    )
    with op.batch_alter_table('batch_item', schema=None) as batch_op:
        batch_op.create_index('ix_batch_item_record', ['source_record_id', 'status'], unique=False)
        batch_op.create_index('ix_batch_item_status', ['batch_id', 'status'], unique=False)

    op.create_table('match_key',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('domain', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('source_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['source_record_id'], ['source_record.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('match_key', schema=None) as batch_op:
        batch_op.create_index('ix_match_key_lookup', ['domain', 'key'], unique=False)
        batch_op.create_index('ix_match_key_record', ['source_record_id'], unique=False)

    op.create_table('match_label',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('domain', sa.String(length=16), nullable=False),
    sa.Column('source_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('golden_id', sa.String(length=36), nullable=False),
    sa.Column('is_match', sa.Boolean(), nullable=False),
    sa.Column('record_hash', sa.String(length=64), nullable=False),
    sa.Column('snapshot', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_record_id'], ['source_record.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('match_label', schema=None) as batch_op:
        batch_op.create_index('ix_match_label_pair', ['source_record_id', 'golden_id'], unique=False)

    op.create_table('review_item',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('domain', sa.String(length=16), nullable=False),
    sa.Column('source_record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('candidate_golden_id', sa.String(length=36), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('explanation', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['source_record_id'], ['source_record.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('review_item', schema=None) as batch_op:
        batch_op.create_index('ix_review_item_queue', ['domain', 'status', 'created_at'], unique=False)
        batch_op.create_index('ix_review_item_record', ['source_record_id'], unique=False)

    # the two systems every deployment has; more are registered with POST /api/v1/sources
    source_system = sa.table(
        "source_system",
        sa.column("name", sa.String),
        sa.column("kind", sa.String),
        sa.column("description", sa.Text),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(timezone.utc)
    op.bulk_insert(
        source_system,
        [
            {"name": "salesforce", "kind": "salesforce", "description": "Salesforce CRM org", "created_at": now},
            {"name": "erp", "kind": "erp", "description": "The ERP (canonical payloads)", "created_at": now},
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table('review_item', schema=None) as batch_op:
        batch_op.drop_index('ix_review_item_record')
        batch_op.drop_index('ix_review_item_queue')

    op.drop_table('review_item')
    with op.batch_alter_table('match_label', schema=None) as batch_op:
        batch_op.drop_index('ix_match_label_pair')

    op.drop_table('match_label')
    with op.batch_alter_table('match_key', schema=None) as batch_op:
        batch_op.drop_index('ix_match_key_record')
        batch_op.drop_index('ix_match_key_lookup')

    op.drop_table('match_key')
    with op.batch_alter_table('batch_item', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_item_status')
        batch_op.drop_index('ix_batch_item_record')

    op.drop_table('batch_item')
    with op.batch_alter_table('source_record', schema=None) as batch_op:
        batch_op.drop_index('ix_source_record_pending')
        batch_op.drop_index('ix_source_record_golden')

    op.drop_table('source_record')
    op.drop_table('golden_version')
    op.drop_table('golden_override')
    op.drop_table('api_key')
    op.drop_table('source_system')
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_golden')

    op.drop_table('outbox_event')
    with op.batch_alter_table('match_model', schema=None) as batch_op:
        batch_op.drop_index('ix_match_model_active')

    op.drop_table('match_model')
    with op.batch_alter_table('golden_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_golden_record_merged_into'))
        batch_op.drop_index('ix_golden_domain_status')

    op.drop_table('golden_record')
    op.drop_table('counter')
    op.drop_table('batch')
