"""initial history schema: runs, measurements, shorts, events, histograms, drift_sums

Revision ID: 0001
Revises: 
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('drift_sums',
    sa.Column('fixture_id', sa.String(length=64), nullable=False),
    sa.Column('simulated', sa.Boolean(), nullable=False),
    sa.Column('pos', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('sum_r', sa.Float(), nullable=False),
    sa.Column('sum_rr', sa.Float(), nullable=False),
    sa.Column('sum_t', sa.Float(), nullable=False),
    sa.Column('sum_tt', sa.Float(), nullable=False),
    sa.Column('sum_tr', sa.Float(), nullable=False),
    sa.Column('r_min', sa.Float(), nullable=True),
    sa.Column('r_max', sa.Float(), nullable=True),
    sa.Column('t_min', sa.Float(), nullable=True),
    sa.Column('t_max', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('fixture_id', 'simulated', 'pos', 'stage', 'day')
    )
    op.create_table('runs',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('record_sha256', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.Column('simulated', sa.Boolean(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=True),
    sa.Column('started', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_s', sa.Float(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('serial', sa.String(length=64), nullable=True),
    sa.Column('lot', sa.String(length=64), nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=True),
    sa.Column('positions', sa.Integer(), nullable=True),
    sa.Column('fixture_id', sa.String(length=64), nullable=True),
    sa.Column('fixture_uid', sa.String(length=64), nullable=True),
    sa.Column('firmware_version', sa.String(length=32), nullable=True),
    sa.Column('protocol_version', sa.Integer(), nullable=True),
    sa.Column('calibration_id', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('source_dir', sa.Text(), nullable=True),
    sa.Column('parent_id', sa.String(length=64), nullable=True),
    sa.Column('first_pass', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('stored_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=True),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index('ix_runs_fixture_started', ['fixture_id', 'started_s'], unique=False)
        batch_op.create_index('ix_runs_kind_serial_started', ['kind', 'serial', 'started_s'], unique=False)
        batch_op.create_index('ix_runs_lot', ['lot'], unique=False)
        batch_op.create_index('ix_runs_started', ['started_s'], unique=False)
        batch_op.create_index('ix_runs_unjudged', ['kind', 'verdict', 'parent_id', 'simulated', 'lot', 'fixture_id', 'started_s'], unique=False)
        batch_op.create_index('ix_runs_yield', ['first_pass', 'simulated', 'verdict', 'lot', 'day', 'fixture_id', 'started_s', 'id'], unique=False)

    op.create_table('events',
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('window', sa.String(length=32), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=True),
    sa.Column('channel', sa.Integer(), nullable=True),
    sa.Column('pins', sa.String(length=64), nullable=True),
    sa.Column('t_us', sa.BigInteger(), nullable=True),
    sa.Column('length_ns', sa.BigInteger(), nullable=True),
    sa.Column('axis', sa.String(length=8), nullable=True),
    sa.Column('direction', sa.String(length=8), nullable=True),
    sa.Column('shock', sa.Integer(), nullable=True),
    sa.Column('sweep_hz', sa.Float(), nullable=True),
    sa.Column('open_at_end', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_run', ['run_id'], unique=False)

    op.create_table('histograms',
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('window', sa.String(length=32), nullable=True),
    sa.Column('channel', sa.Integer(), nullable=True),
    sa.Column('pins', sa.String(length=64), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=True),
    sa.Column('glitches', sa.Integer(), nullable=True),
    sa.Column('longest_ns', sa.BigInteger(), nullable=True),
    sa.Column('bins', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE')
    )
    with op.batch_alter_table('histograms', schema=None) as batch_op:
        batch_op.create_index('ix_hist_run', ['run_id'], unique=False)

    op.create_table('measurements',
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('pin', sa.Integer(), nullable=True),
    sa.Column('anchor', sa.Integer(), nullable=True),
    sa.Column('r_mohm', sa.Float(), nullable=True),
    sa.Column('u_mohm', sa.Float(), nullable=True),
    sa.Column('emf_uv', sa.Float(), nullable=True),
    sa.Column('limit_mohm', sa.Float(), nullable=True),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.Column('fault', sa.String(length=16), nullable=True),
    sa.Column('i_ma', sa.Float(), nullable=True),
    sa.Column('r_raw_mohm', sa.Float(), nullable=True),
    sa.Column('fixture_id', sa.String(length=64), nullable=True),
    sa.Column('started_s', sa.Float(), nullable=True),
    sa.Column('simulated', sa.Boolean(), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE')
    )
    with op.batch_alter_table('measurements', schema=None) as batch_op:
        batch_op.create_index('ix_meas_fixture_pin', ['fixture_id', 'pin', 'anchor', 'started_s'], unique=False)
        batch_op.create_index('ix_meas_run', ['run_id'], unique=False)
        batch_op.create_index('ix_meas_verdict', ['verdict', 'run_id'], unique=False)

    op.create_table('shorts',
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=16), nullable=True),
    sa.Column('pin_a', sa.Integer(), nullable=True),
    sa.Column('pin_b', sa.Integer(), nullable=True),
    sa.Column('ohm', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE')
    )
    with op.batch_alter_table('shorts', schema=None) as batch_op:
        batch_op.create_index('ix_shorts_run', ['run_id'], unique=False)



def downgrade():
    with op.batch_alter_table('shorts', schema=None) as batch_op:
        batch_op.drop_index('ix_shorts_run')

    op.drop_table('shorts')
    with op.batch_alter_table('measurements', schema=None) as batch_op:
        batch_op.drop_index('ix_meas_verdict')
        batch_op.drop_index('ix_meas_run')
        batch_op.drop_index('ix_meas_fixture_pin')

    op.drop_table('measurements')
    with op.batch_alter_table('histograms', schema=None) as batch_op:
        batch_op.drop_index('ix_hist_run')

    op.drop_table('histograms')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_run')

    op.drop_table('events')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_yield')
        batch_op.drop_index('ix_runs_unjudged')
        batch_op.drop_index('ix_runs_started')
        batch_op.drop_index('ix_runs_lot')
        batch_op.drop_index('ix_runs_kind_serial_started')
        batch_op.drop_index('ix_runs_fixture_started')

    op.drop_table('runs')
    op.drop_table('drift_sums')
