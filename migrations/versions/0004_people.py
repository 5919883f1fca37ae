"""People: workers, studios and their members, assignments; cases.studio_id.

Revision ID: 0004_people
Revises: 0003_cases
Create Date: 2026-11-27 04:33:41.561465

"""
from alembic import op
import sqlalchemy as sa
import gridgov.db


# revision identifiers, used by Alembic.
revision = '0004_people'
down_revision = '0003_cases'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('studios',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('specialties', sa.JSON(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('created_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['units.id'], name=op.f('fk_studios_district_id_units')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_studios_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_studios'))
    )
    with op.batch_alter_table('studios', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_studios_district_id'), ['district_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_studios_path'), ['path'], unique=False)
        batch_op.create_index(batch_op.f('ix_studios_unit_id'), ['unit_id'], unique=False)

    op.create_table('workers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('role', sa.Enum('grid_worker', 'grid_officer', 'community_police_chief', 'mediator', 'auxiliary_police', 'legal_expert', 'gold_mediator', 'counsellor', 'social_worker', 'triage_clerk', name='worker_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('home_unit_id', sa.Integer(), nullable=False),
    sa.Column('home_path', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('principal_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('capacity >= 0', name=op.f('ck_workers_capacity_non_negative')),
    sa.ForeignKeyConstraint(['district_id'], ['units.id'], name=op.f('fk_workers_district_id_units')),
    sa.ForeignKeyConstraint(['home_unit_id'], ['units.id'], name=op.f('fk_workers_home_unit_id_units')),
    sa.ForeignKeyConstraint(['principal_id'], ['principals.id'], name=op.f('fk_workers_principal_id_principals'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workers')),
    sa.UniqueConstraint('principal_id', name=op.f('uq_workers_principal_id'))
    )
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workers_district_id'), ['district_id'], unique=False)
        batch_op.create_index('ix_workers_home_path', ['home_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_workers_home_unit_id'), ['home_unit_id'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('duty', sa.String(length=50), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('created_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['units.id'], name=op.f('fk_assignments_district_id_units')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_assignments_unit_id_units')),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_assignments_worker_id_workers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_current', ['unit_id', 'ends_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_district_id'), ['district_id'], unique=False)
        batch_op.create_index('ix_assignments_unit_path', ['unit_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_worker_id'), ['worker_id'], unique=False)

    op.create_table('studio_members',
    sa.Column('studio_id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['studio_id'], ['studios.id'], name=op.f('fk_studio_members_studio_id_studios'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_studio_members_worker_id_workers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('studio_id', 'worker_id', name=op.f('pk_studio_members'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('studio_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_studio_id'), ['studio_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_cases_studio_id_studios'), 'studios', ['studio_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cases_studio_id_studios'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_cases_studio_id'))
        batch_op.drop_column('studio_id')

    op.drop_table('studio_members')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignments_worker_id'))
        batch_op.drop_index('ix_assignments_unit_path')
        batch_op.drop_index(batch_op.f('ix_assignments_district_id'))
        batch_op.drop_index('ix_assignments_current')

    op.drop_table('assignments')
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workers_home_unit_id'))
        batch_op.drop_index('ix_workers_home_path')
        batch_op.drop_index(batch_op.f('ix_workers_district_id'))

    op.drop_table('workers')
    with op.batch_alter_table('studios', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_studios_unit_id'))
        batch_op.drop_index(batch_op.f('ix_studios_path'))
        batch_op.drop_index(batch_op.f('ix_studios_district_id'))

    op.drop_table('studios')
