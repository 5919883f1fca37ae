"""Principals, API tokens and the admin audit log.

Revision ID: 0002_auth
Revises: 0001_units
Create Date: 2026-11-27 03:26:52.353597

"""
from alembic import op
import sqlalchemy as sa
import gridgov.db


# revision identifiers, used by Alembic.
revision = '0002_auth'
down_revision = '0001_units'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('principals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.Enum('grid_worker', 'village_station', 'town_centre', 'district_command', 'triage_clerk', 'specialist', 'auditor', 'admin', 'integration', name='principal_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('scope_unit_id', sa.Integer(), nullable=True),
    sa.Column('scope_path', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', gridgov.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('session_generation', sa.Integer(), server_default='1', nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('failed_logins >= 0', name=op.f('ck_principals_failed_logins_non_negative')),
    sa.ForeignKeyConstraint(['district_id'], ['units.id'], name=op.f('fk_principals_district_id_units')),
    sa.ForeignKeyConstraint(['scope_unit_id'], ['units.id'], name=op.f('fk_principals_scope_unit_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_principals')),
    sa.UniqueConstraint('username', name=op.f('uq_principals_username'))
    )
    with op.batch_alter_table('principals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_principals_district_id'), ['district_id'], unique=False)
        batch_op.create_index('ix_principals_scope_path', ['scope_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_principals_scope_unit_id'), ['scope_unit_id'], unique=False)

    op.create_table('admin_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('target_type', sa.String(length=20), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('target_label', sa.String(length=200), nullable=False),
    sa.Column('path', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=True),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['principals.id'], name=op.f('fk_admin_events_actor_id_principals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['district_id'], ['units.id'], name=op.f('fk_admin_events_district_id_units'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_events'))
    )
    with op.batch_alter_table('admin_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_admin_events_district_id'), ['district_id'], unique=False)
        batch_op.create_index('ix_admin_events_path', ['path'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('principal_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', gridgov.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', gridgov.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['principal_id'], ['principals.id'], name=op.f('fk_api_tokens_principal_id_principals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_principal_id'), ['principal_id'], unique=False)



def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_principal_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('admin_events', schema=None) as batch_op:
        batch_op.drop_index('ix_admin_events_path')
        batch_op.drop_index(batch_op.f('ix_admin_events_district_id'))
        batch_op.drop_index(batch_op.f('ix_admin_events_at'))

    op.drop_table('admin_events')
    with op.batch_alter_table('principals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_principals_scope_unit_id'))
        batch_op.drop_index('ix_principals_scope_path')
        batch_op.drop_index(batch_op.f('ix_principals_district_id'))

    op.drop_table('principals')
