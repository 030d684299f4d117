"""Jobseeker profiles, their space's device sessions, and the profile a participant stands for.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(64), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("space_link_hash", sa.String(128), nullable=True),
        sa.Column("space_link_version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_profiles"),
        sa.UniqueConstraint("space_link_hash", name="uq_profiles_space_link_hash"),
    )
    op.create_table(
        "space_sessions",
        sa.Column("session_hash", sa.String(128), nullable=False),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("last_seen", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("link_version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("session_hash", name="pk_space_sessions"),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name="fk_space_sessions_profile_id_profiles",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_space_sessions_profile_id", "space_sessions", ["profile_id"])
    op.create_index("ix_space_sessions_expires_at", "space_sessions", ["expires_at"])
    op.add_column("participants", sa.Column("profile_id", sa.String(64), nullable=True))
    op.create_index("ix_participants_profile_id", "participants", ["profile_id"])


def downgrade() -> None:
    op.drop_index("ix_participants_profile_id", table_name="participants")
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("profile_id")
    op.drop_index("ix_space_sessions_expires_at", table_name="space_sessions")
    op.drop_index("ix_space_sessions_profile_id", table_name="space_sessions")
    op.drop_table("space_sessions")
    op.drop_table("profiles")
