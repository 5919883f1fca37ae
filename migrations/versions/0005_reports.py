"""Residents' reports: report codes, reports (QR codes, the triage desk, Open311).

Revision ID: 0005_reports
Revises: 0004_people
Create Date: 2026-11-27 06:17:39.104398

"""
from alembic import op
import sqlalchemy as sa
import gridgov.db


# revision identifiers, used by Alembic.
revision = '0005_reports'
down_revision = '0004_people'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_codes',
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('created_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_report_codes_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('unit_id', name=op.f('pk_report_codes')),
    sa.UniqueConstraint('token', name=op.f('uq_report_codes_token'))
    )
    op.create_table('reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tracking_code', sa.String(length=16), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_path', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('channel', sa.Enum('qr', 'open311', name='report_channel', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('filed_by_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.Enum('family_neighbour', 'labour', 'consumer', 'traffic_injury', 'property_management', 'land_housing', 'petition', 'safety_hazard', 'other', name='report_category', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('risk_grade', sa.Enum('blue', 'yellow', 'orange', 'red', name='report_risk_grade', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('media_url', sa.String(length=500), nullable=True),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('reporter_name', sa.String(length=100), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('latitude', sa.Double(), nullable=True),
    sa.Column('longitude', sa.Double(), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('status', sa.Enum('pending', 'dispatched', 'merged', 'rejected', name='report_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('submitted_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('triage_due_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('classified_at', gridgov.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('handled_at', gridgov.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('handled_by_id', sa.Integer(), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('rejection_reason', sa.Enum('spam', 'out_of_scope', 'invalid', name='report_rejection', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('rejection_note', sa.String(length=500), nullable=True),
    sa.Column('updated_at', gridgov.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('latitude BETWEEN -90 AND 90', name=op.f('ck_reports_latitude_range')),
    sa.CheckConstraint('longitude BETWEEN -180 AND 180', name=op.f('ck_reports_longitude_range')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_reports_case_id_cases')),
    sa.ForeignKeyConstraint(['district_id'], ['units.id'], name=op.f('fk_reports_district_id_units')),
    sa.ForeignKeyConstraint(['filed_by_id'], ['principals.id'], name=op.f('fk_reports_filed_by_id_principals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['handled_by_id'], ['principals.id'], name=op.f('fk_reports_handled_by_id_principals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merged_into_id'], ['reports.id'], name=op.f('fk_reports_merged_into_id_reports')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_reports_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('tracking_code', name=op.f('uq_reports_tracking_code'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_district_id'), ['district_id'], unique=False)
        batch_op.create_index('ix_reports_status_id', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index('ix_reports_unit_path', ['unit_path'], unique=False)



def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_unit_path')
        batch_op.drop_index(batch_op.f('ix_reports_unit_id'))
        batch_op.drop_index('ix_reports_status_id')
        batch_op.drop_index(batch_op.f('ix_reports_district_id'))
        batch_op.drop_index(batch_op.f('ix_reports_case_id'))

    op.drop_table('reports')
    op.drop_table('report_codes')
