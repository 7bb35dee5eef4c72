"""Core tables (organizations to scores) and alerts

Revision ID: 0001
Revises:
Create Date: 2026-11-26 12:49:45.728677
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('organizations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')),
    sa.UniqueConstraint('code', name=op.f('uq_organizations_code'))
    )
    op.create_table('clinicians',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('therapist', 'psychiatrist', 'staff', 'observer', 'supervisor')", name=op.f('ck_clinicians_role')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_clinicians_organization_id_organizations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinicians')),
    sa.UniqueConstraint('code', name=op.f('uq_clinicians_code'))
    )
    with op.batch_alter_table('clinicians', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinicians_organization_id'), ['organization_id'], unique=False)

    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_patients_organization_id_organizations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients')),
    sa.UniqueConstraint('code', name=op.f('uq_patients_code'))
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patients_organization_id'), ['organization_id'], unique=False)

    op.create_table('episodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('treatment', sa.String(length=100), nullable=True),
    sa.Column('format', sa.String(length=20), nullable=False),
    sa.Column('diagnosis', sa.String(length=20), nullable=True),
    sa.Column('start', sa.Date(), nullable=True),
    sa.Column('end', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("format IN ('individual', 'couple', 'family', 'group', 'internet', 'medication')", name=op.f('ck_episodes_format')),
    sa.CheckConstraint('"end" IS NULL OR "end" >= start', name=op.f('ck_episodes_period')),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinicians.id'], name=op.f('fk_episodes_clinician_id_clinicians'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_episodes_organization_id_organizations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_episodes_patient_id_patients'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_episodes')),
    sa.UniqueConstraint('code', name=op.f('uq_episodes_code'))
    )
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_episodes_clinician_id'), ['clinician_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_episodes_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_episodes_patient_id'), ['patient_id'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('rule', sa.String(length=100), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('pathway', sa.String(length=20), nullable=True),
    sa.Column('suggestions', sa.JSON(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("pathway IS NULL OR pathway IN ('care', 'expectancy', 'specific')", name=op.f('ck_alerts_pathway')),
    sa.CheckConstraint("state IN ('open', 'acknowledged', 'resolved')", name=op.f('ck_alerts_state')),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['clinicians.id'], name=op.f('fk_alerts_acknowledged_by_id_clinicians'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_alerts_episode_id_episodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_alerts_dedupe_key'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_acknowledged_by_id'), ['acknowledged_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_episode_id'), ['episode_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_state'), ['state'], unique=False)

    op.create_table('therapy_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=True),
    sa.CheckConstraint('number >= 0', name=op.f('ck_therapy_sessions_number')),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_therapy_sessions_episode_id_episodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_therapy_sessions')),
    sa.UniqueConstraint('episode_id', 'number', name=op.f('uq_therapy_sessions_episode_id_number'))
    )
    with op.batch_alter_table('therapy_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_therapy_sessions_episode_id'), ['episode_id'], unique=False)

    op.create_table('administrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('instrument_id', sa.String(length=64), nullable=False),
    sa.Column('instrument_version', sa.String(length=32), nullable=False),
    sa.Column('rater', sa.String(length=20), nullable=False),
    sa.Column('target', sa.String(length=20), nullable=True),
    sa.Column('target_ref', sa.String(length=100), nullable=True),
    sa.Column('rater_clinician_id', sa.Integer(), nullable=True),
    sa.Column('authored_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('payload_hash', sa.String(length=64), nullable=False),
    sa.Column('risk_items', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("rater IN ('patient', 'clinician', 'observer')", name=op.f('ck_administrations_rater')),
    sa.CheckConstraint("target IS NULL OR target IN ('clinician', 'programme', 'staff', 'group', 'self')", name=op.f('ck_administrations_target')),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_administrations_episode_id_episodes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rater_clinician_id'], ['clinicians.id'], name=op.f('fk_administrations_rater_clinician_id_clinicians'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['session_id'], ['therapy_sessions.id'], name=op.f('fk_administrations_session_id_therapy_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_administrations')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_administrations_idempotency_key'))
    )
    with op.batch_alter_table('administrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_administrations_episode_id'), ['episode_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_administrations_instrument_id'), ['instrument_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_administrations_rater_clinician_id'), ['rater_clinician_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_administrations_session_id'), ['session_id'], unique=False)

    op.create_table('item_responses',
    sa.Column('administration_id', sa.Integer(), nullable=False),
    sa.Column('item', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['administration_id'], ['administrations.id'], name=op.f('fk_item_responses_administration_id_administrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('administration_id', 'item', name=op.f('pk_item_responses'))
    )
    with op.batch_alter_table('item_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_responses_administration_id'), ['administration_id'], unique=False)

    op.create_table('scores',
    sa.Column('administration_id', sa.Integer(), nullable=False),
    sa.Column('scale', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('band', sa.String(length=64), nullable=True),
    sa.Column('prorated', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['administration_id'], ['administrations.id'], name=op.f('fk_scores_administration_id_administrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('administration_id', 'scale', name=op.f('pk_scores'))
    )
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scores_administration_id'), ['administration_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scores_administration_id'))

    op.drop_table('scores')
    with op.batch_alter_table('item_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_responses_administration_id'))

    op.drop_table('item_responses')
    with op.batch_alter_table('administrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_administrations_session_id'))
        batch_op.drop_index(batch_op.f('ix_administrations_rater_clinician_id'))
        batch_op.drop_index(batch_op.f('ix_administrations_instrument_id'))
        batch_op.drop_index(batch_op.f('ix_administrations_episode_id'))

    op.drop_table('administrations')
    with op.batch_alter_table('therapy_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_therapy_sessions_episode_id'))

    op.drop_table('therapy_sessions')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_state'))
        batch_op.drop_index(batch_op.f('ix_alerts_kind'))
        batch_op.drop_index(batch_op.f('ix_alerts_episode_id'))
        batch_op.drop_index(batch_op.f('ix_alerts_acknowledged_by_id'))

    op.drop_table('alerts')
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_episodes_patient_id'))
        batch_op.drop_index(batch_op.f('ix_episodes_organization_id'))
        batch_op.drop_index(batch_op.f('ix_episodes_clinician_id'))

    op.drop_table('episodes')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patients_organization_id'))

    op.drop_table('patients')
    with op.batch_alter_table('clinicians', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinicians_organization_id'))

    op.drop_table('clinicians')
    op.drop_table('organizations')
