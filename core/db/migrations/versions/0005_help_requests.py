"""Help requests from the jobseeker's space, and the caseworkers' answers and notes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "help_requests",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("appointment_id", sa.String(64), nullable=True),
        sa.Column("child_ages", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_help_requests"),
    )
    op.create_index("ix_help_requests_profile_id", "help_requests", ["profile_id"])
    op.create_index("ix_help_requests_created_at", "help_requests", ["created_at"])
    op.create_index("ix_help_requests_updated_at", "help_requests", ["updated_at"])
    op.create_table(
        "help_replies",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_help_replies"),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_requests.id"],
            name="fk_help_replies_request_id_help_requests",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_help_replies_request_id", "help_replies", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_help_replies_request_id", table_name="help_replies")
    op.drop_table("help_replies")
    op.drop_index("ix_help_requests_updated_at", table_name="help_requests")
    op.drop_index("ix_help_requests_created_at", table_name="help_requests")
    op.drop_index("ix_help_requests_profile_id", table_name="help_requests")
    op.drop_table("help_requests")
