"""The administrative tree: units on materialized paths.

Revision ID: 0001_units
Revises: 
Create Date: 2026-11-27 03:08:53.254886

"""
from alembic import op
import sqlalchemy as sa
import gridgov.db


# revision identifiers, used by Alembic.
revision = '0001_units'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.Enum('district', 'town', 'village', 'grid', 'microgrid', name='unit_level', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('path', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('depth', sa.SmallInteger(), nullable=False),
    sa.Column('next_child', sa.Integer(), server_default='0', nullable=False),
    sa.Column('city_code', sa.String(length=32), nullable=True),
    sa.Column('households', sa.Integer(), nullable=True),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('households >= 0', name=op.f('ck_units_households_non_negative')),
    sa.CheckConstraint('latitude BETWEEN -90 AND 90', name=op.f('ck_units_latitude_range')),
    sa.CheckConstraint('longitude BETWEEN -180 AND 180', name=op.f('ck_units_longitude_range')),
    sa.CheckConstraint('next_child >= 0', name=op.f('ck_units_next_child_non_negative')),
    sa.CheckConstraint('population >= 0', name=op.f('ck_units_population_non_negative')),
    sa.ForeignKeyConstraint(['district_id'], ['units.id'], name=op.f('fk_units_district_id_units')),
    sa.ForeignKeyConstraint(['parent_id'], ['units.id'], name=op.f('fk_units_parent_id_units'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_units'))
    )
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.create_index('ix_units_code', ['code'], unique=True)
        batch_op.create_index(batch_op.f('ix_units_district_id'), ['district_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_units_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index('ix_units_path', ['path'], unique=True)



def downgrade():
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_index('ix_units_path')
        batch_op.drop_index(batch_op.f('ix_units_parent_id'))
        batch_op.drop_index(batch_op.f('ix_units_district_id'))
        batch_op.drop_index('ix_units_code')

    op.drop_table('units')
