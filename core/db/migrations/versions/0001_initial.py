"""Durable records: staff accounts and sessions, appointments, participants, attendance.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(500), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_staff_accounts"),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("session_hash", sa.String(128), nullable=False),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("session_hash", name="pk_staff_sessions"),
    )
    op.create_index("ix_staff_sessions_expires_at", "staff_sessions", ["expires_at"])
    op.create_table(
        "appointments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("starts_at", sa.Double, nullable=False),
        sa.Column("ends_at", sa.Double, nullable=False),
        sa.Column("waiting_room", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("ended_at", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_appointments"),
    )
    op.create_index("ix_appointments_ends_at", "appointments", ["ends_at"])
    op.create_index("ix_appointments_starts_at_id", "appointments", ["starts_at", "id"])
    op.create_table(
        "participants",
        sa.Column("appointment_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("invite_hash", sa.String(128), nullable=False),
        sa.Column("not_before", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("appointment_id", "id", name="pk_participants"),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name="fk_participants_appointment_id_appointments",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("invite_hash", name="uq_participants_invite_hash"),
    )
    op.create_table(
        "attendance",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("appointment_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_attendance"),
    )
    op.create_index("ix_attendance_appointment_id_seq", "attendance", ["appointment_id", "seq"])


def downgrade() -> None:
    op.drop_table("attendance")
    op.drop_table("participants")
    op.drop_index("ix_appointments_starts_at_id", "appointments")
    op.drop_index("ix_appointments_ends_at", "appointments")
    op.drop_table("appointments")
    op.drop_index("ix_staff_sessions_expires_at", "staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("staff_accounts")
