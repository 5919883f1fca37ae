"""Rollup counters: per unit, and per unit and day (see gridgov/rollups/measures.py); the
partial index of running cases the deadline colours are read from.

A database that already holds cases needs `flask --app gridgov rollups rebuild` once after this
revision: the counters start empty.

Revision ID: 0006_rollups
Revises: 0005_reports
Create Date: 2026-11-27 06:37:27.093469

"""
import logging

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_rollups'
down_revision = '0005_reports'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rollup_unit_days',
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('new', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolved', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolved_grid', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolved_village', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolved_town', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolved_district', sa.Float(), server_default='0', nullable=False),
    sa.Column('closed', sa.Float(), server_default='0', nullable=False),
    sa.Column('closed_on_time', sa.Float(), server_default='0', nullable=False),
    sa.Column('closed_late', sa.Float(), server_default='0', nullable=False),
    sa.Column('escalated_to_village', sa.Float(), server_default='0', nullable=False),
    sa.Column('escalated_to_town', sa.Float(), server_default='0', nullable=False),
    sa.Column('escalated_to_district', sa.Float(), server_default='0', nullable=False),
    sa.Column('satisfaction_sum', sa.Float(), server_default='0', nullable=False),
    sa.Column('satisfaction_count', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_0', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_1', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_2', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_3', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_4', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_5', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_6', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_7', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_8', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_9', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_10', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_11', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_12', sa.Float(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_rollup_unit_days_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('unit_id', 'day', name=op.f('pk_rollup_unit_days'))
    )
    op.create_table('rollup_unit_totals',
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('cases', sa.Float(), server_default='0', nullable=False),
    sa.Column('open', sa.Float(), server_default='0', nullable=False),
    sa.Column('status_reported', sa.Float(), server_default='0', nullable=False),
    sa.Column('status_accepted', sa.Float(), server_default='0', nullable=False),
    sa.Column('status_in_progress', sa.Float(), server_default='0', nullable=False),
    sa.Column('status_resolved', sa.Float(), server_default='0', nullable=False),
    sa.Column('status_closed', sa.Float(), server_default='0', nullable=False),
    sa.Column('status_suspended', sa.Float(), server_default='0', nullable=False),
    sa.Column('status_referred', sa.Float(), server_default='0', nullable=False),
    sa.Column('status_rejected', sa.Float(), server_default='0', nullable=False),
    sa.Column('status_reopened', sa.Float(), server_default='0', nullable=False),
    sa.Column('category_family_neighbour', sa.Float(), server_default='0', nullable=False),
    sa.Column('category_labour', sa.Float(), server_default='0', nullable=False),
    sa.Column('category_consumer', sa.Float(), server_default='0', nullable=False),
    sa.Column('category_traffic_injury', sa.Float(), server_default='0', nullable=False),
    sa.Column('category_property_management', sa.Float(), server_default='0', nullable=False),
    sa.Column('category_land_housing', sa.Float(), server_default='0', nullable=False),
    sa.Column('category_petition', sa.Float(), server_default='0', nullable=False),
    sa.Column('category_safety_hazard', sa.Float(), server_default='0', nullable=False),
    sa.Column('category_other', sa.Float(), server_default='0', nullable=False),
    sa.Column('risk_blue', sa.Float(), server_default='0', nullable=False),
    sa.Column('risk_yellow', sa.Float(), server_default='0', nullable=False),
    sa.Column('risk_orange', sa.Float(), server_default='0', nullable=False),
    sa.Column('risk_red', sa.Float(), server_default='0', nullable=False),
    sa.Column('owner_grid', sa.Float(), server_default='0', nullable=False),
    sa.Column('owner_village', sa.Float(), server_default='0', nullable=False),
    sa.Column('owner_town', sa.Float(), server_default='0', nullable=False),
    sa.Column('owner_district', sa.Float(), server_default='0', nullable=False),
    sa.Column('risk_weight', sa.Float(), server_default='0', nullable=False),
    sa.Column('risk_weight_age', sa.Float(), server_default='0', nullable=False),
    sa.Column('new', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolved', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolved_grid', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolved_village', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolved_town', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolved_district', sa.Float(), server_default='0', nullable=False),
    sa.Column('closed', sa.Float(), server_default='0', nullable=False),
    sa.Column('closed_on_time', sa.Float(), server_default='0', nullable=False),
    sa.Column('closed_late', sa.Float(), server_default='0', nullable=False),
    sa.Column('escalated_to_village', sa.Float(), server_default='0', nullable=False),
    sa.Column('escalated_to_town', sa.Float(), server_default='0', nullable=False),
    sa.Column('escalated_to_district', sa.Float(), server_default='0', nullable=False),
    sa.Column('satisfaction_sum', sa.Float(), server_default='0', nullable=False),
    sa.Column('satisfaction_count', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_0', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_1', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_2', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_3', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_4', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_5', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_6', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_7', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_8', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_9', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_10', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_11', sa.Float(), server_default='0', nullable=False),
    sa.Column('resolve_wd_12', sa.Float(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_rollup_unit_totals_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('unit_id', name=op.f('pk_rollup_unit_totals'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_running', ['origin_path', 'deadline_at', 'yellow_at'], unique=False, sqlite_where=sa.text("status IN ('reported', 'accepted', 'in_progress', 'reopened')"), postgresql_where=sa.text("status IN ('reported', 'accepted', 'in_progress', 'reopened')"))
    if op.get_bind().execute(sa.text("SELECT 1 FROM cases LIMIT 1")).first() is not None:
        # The counters start empty: said where the operator looks, not only in this file.
        logging.getLogger("alembic.runtime.migration").warning(
            "cases exist: run `flask --app gridgov rollups rebuild` once the upgrade is done, "
            "or the rollups count none of them")



def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_running', sqlite_where=sa.text("status IN ('reported', 'accepted', 'in_progress', 'reopened')"), postgresql_where=sa.text("status IN ('reported', 'accepted', 'in_progress', 'reopened')"))

    op.drop_table('rollup_unit_totals')
    op.drop_table('rollup_unit_days')
