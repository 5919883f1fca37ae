"""Cases: parties, mediation attempts, attachments, events, reference sequences, idempotency.

Revision ID: 0003_cases
Revises: 0002_auth
Create Date: 2026-11-27 03:37:31.689472

"""
from alembic import op
import sqlalchemy as sa
import gridgov.db


# revision identifiers, used by Alembic.
revision = '0003_cases'
down_revision = '0002_auth'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_sequences',
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['units.id'], name=op.f('fk_case_sequences_district_id_units')),
    sa.PrimaryKeyConstraint('district_id', 'year', name=op.f('pk_case_sequences'))
    )
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=32), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sa.Enum('family_neighbour', 'labour', 'consumer', 'traffic_injury', 'property_management', 'land_housing', 'petition', 'safety_hazard', 'other', name='case_category', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('risk_grade', sa.Enum('blue', 'yellow', 'orange', 'red', name='case_risk_grade', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('people_involved', sa.Integer(), nullable=False),
    sa.Column('amount_in_dispute', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('source', sa.Enum('grid_patrol', 'citizen_report', 'hotline', 'police_dispatch', 'court_referral', 'other', name='case_source', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('origin_unit_id', sa.Integer(), nullable=False),
    sa.Column('origin_path', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('owner_unit_id', sa.Integer(), nullable=False),
    sa.Column('owner_path', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('owner_level', sa.Enum('grid', 'village', 'town', 'district', name='case_owner_level', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('arrived_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('highest_level', sa.Enum('grid', 'village', 'town', 'district', name='case_highest_level', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('reported', 'accepted', 'in_progress', 'resolved', 'closed', 'suspended', 'referred', 'rejected', 'reopened', name='case_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('suspended_from', sa.Enum('reported', 'accepted', 'in_progress', 'resolved', 'closed', 'suspended', 'referred', 'rejected', 'reopened', name='case_suspended_from', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('deadline_at', gridgov.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('yellow_at', gridgov.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deadline_budget_seconds', sa.Integer(), nullable=True),
    sa.Column('deadline_remaining_seconds', sa.Integer(), nullable=True),
    sa.Column('clock_started_at', gridgov.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clock_left_seconds', sa.Integer(), nullable=True),
    sa.Column('deadline_provisional', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('overdue_marked_at', gridgov.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_level', sa.Enum('grid', 'village', 'town', 'district', name='case_resolved_level', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('resolved_at', gridgov.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.Column('closed_at', gridgov.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_on_time', sa.Boolean(), nullable=True),
    sa.Column('rejection_reason', sa.String(length=500), nullable=True),
    sa.Column('referral_channel', sa.Enum('legal_aid', 'labour_arbitration', 'litigation', name='case_referral_channel', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('referral_reference', sa.String(length=100), nullable=True),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint('amount_in_dispute >= 0', name=op.f('ck_cases_amount_non_negative')),
    sa.CheckConstraint('people_involved >= 0', name=op.f('ck_cases_people_non_negative')),
    sa.CheckConstraint('satisfaction BETWEEN 1 AND 5', name=op.f('ck_cases_satisfaction_range')),
    sa.ForeignKeyConstraint(['assignee_id'], ['principals.id'], name=op.f('fk_cases_assignee_id_principals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['closed_by_id'], ['principals.id'], name=op.f('fk_cases_closed_by_id_principals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['principals.id'], name=op.f('fk_cases_created_by_id_principals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['district_id'], ['units.id'], name=op.f('fk_cases_district_id_units')),
    sa.ForeignKeyConstraint(['origin_unit_id'], ['units.id'], name=op.f('fk_cases_origin_unit_id_units')),
    sa.ForeignKeyConstraint(['owner_unit_id'], ['units.id'], name=op.f('fk_cases_owner_unit_id_units')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['principals.id'], name=op.f('fk_cases_resolved_by_id_principals'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('reference', name=op.f('uq_cases_reference'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_closed_at'), ['closed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_district_id'), ['district_id'], unique=False)
        batch_op.create_index('ix_cases_origin_path', ['origin_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_origin_unit_id'), ['origin_unit_id'], unique=False)
        batch_op.create_index('ix_cases_owner_path', ['owner_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_owner_unit_id'), ['owner_unit_id'], unique=False)
        batch_op.create_index('ix_cases_status_deadline', ['status', 'deadline_at'], unique=False)

    op.create_table('case_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_name', sa.String(length=100), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_attachments_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['principals.id'], name=op.f('fk_case_attachments_uploaded_by_id_principals'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_attachments')),
    sa.UniqueConstraint('storage_name', name=op.f('uq_case_attachments_storage_name'))
    )
    with op.batch_alter_table('case_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_attachments_case_id'), ['case_id'], unique=False)

    op.create_table('case_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.Enum('reported', 'accepted', 'in_progress', 'resolved', 'closed', 'suspended', 'referred', 'rejected', 'reopened', name='event_from_status', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('to_status', sa.Enum('reported', 'accepted', 'in_progress', 'resolved', 'closed', 'suspended', 'referred', 'rejected', 'reopened', name='event_to_status', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('from_owner_unit_id', sa.Integer(), nullable=True),
    sa.Column('to_owner_unit_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['principals.id'], name=op.f('fk_case_events_actor_id_principals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_events_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['from_owner_unit_id'], ['units.id'], name=op.f('fk_case_events_from_owner_unit_id_units')),
    sa.ForeignKeyConstraint(['to_owner_unit_id'], ['units.id'], name=op.f('fk_case_events_to_owner_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_events'))
    )
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index('ix_case_events_case_id_id', ['case_id', 'id'], unique=False)

    op.create_table('case_parties',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('applicant', 'respondent', 'other', name='party_role', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('id_number_hash', sa.String(length=64), nullable=True),
    sa.Column('id_number_last4', sa.String(length=4), nullable=True),
    sa.Column('home_unit_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_parties_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['home_unit_id'], ['units.id'], name=op.f('fk_case_parties_home_unit_id_units'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_parties'))
    )
    with op.batch_alter_table('case_parties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_parties_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_parties_id_number_hash'), ['id_number_hash'], unique=False)

    op.create_table('idempotency_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('principal_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('created_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_idempotency_records_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['principal_id'], ['principals.id'], name=op.f('fk_idempotency_records_principal_id_principals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('principal_id', 'key', name='uq_idempotency_records_principal_key')
    )
    op.create_table('mediation_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('attempted_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by_principal_id', sa.Integer(), nullable=True),
    sa.Column('by_name', sa.String(length=100), nullable=False),
    sa.Column('outcome', sa.Enum('success', 'failure', 'partial', name='attempt_outcome', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('owner_unit_id', sa.Integer(), nullable=False),
    sa.Column('owner_level', sa.Enum('grid', 'village', 'town', 'district', name='attempt_owner_level', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.ForeignKeyConstraint(['by_principal_id'], ['principals.id'], name=op.f('fk_mediation_attempts_by_principal_id_principals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_mediation_attempts_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_unit_id'], ['units.id'], name=op.f('fk_mediation_attempts_owner_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mediation_attempts'))
    )
    with op.batch_alter_table('mediation_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mediation_attempts_case_id'), ['case_id'], unique=False)



def downgrade():
    with op.batch_alter_table('mediation_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mediation_attempts_case_id'))

    op.drop_table('mediation_attempts')
    op.drop_table('idempotency_records')
    with op.batch_alter_table('case_parties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_parties_id_number_hash'))
        batch_op.drop_index(batch_op.f('ix_case_parties_case_id'))

    op.drop_table('case_parties')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index('ix_case_events_case_id_id')

    op.drop_table('case_events')
    with op.batch_alter_table('case_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_attachments_case_id'))

    op.drop_table('case_attachments')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_status_deadline')
        batch_op.drop_index(batch_op.f('ix_cases_owner_unit_id'))
        batch_op.drop_index('ix_cases_owner_path')
        batch_op.drop_index(batch_op.f('ix_cases_origin_unit_id'))
        batch_op.drop_index('ix_cases_origin_path')
        batch_op.drop_index(batch_op.f('ix_cases_district_id'))
        batch_op.drop_index(batch_op.f('ix_cases_created_at'))
        batch_op.drop_index(batch_op.f('ix_cases_closed_at'))
        batch_op.drop_index(batch_op.f('ix_cases_assignee_id'))

    op.drop_table('cases')
    op.drop_table('case_sequences')
