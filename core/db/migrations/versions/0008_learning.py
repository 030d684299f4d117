"""E-learning: xAPI statements, resume points and recommendations, each erased with its
profile (cascading foreign keys).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _profile(table: str) -> list[sa.Column[str] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=f"fk_{table}_profile_id_profiles",
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "learning_statements",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("id", sa.String(36), nullable=False),
        *_profile("learning_statements"),
        sa.Column("module_id", sa.String(64), nullable=False),
        sa.Column("section_id", sa.String(64), nullable=True),
        sa.Column("question_id", sa.String(64), nullable=True),
        sa.Column("verb", sa.String(16), nullable=False),
        sa.Column("success", sa.Boolean, nullable=True),
        sa.Column("score", sa.Double, nullable=True),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_learning_statements"),
        sa.UniqueConstraint("id", name="uq_learning_statements_id"),
    )
    op.create_index(
        "ix_learning_statements_profile_id_module_id_seq",
        "learning_statements",
        ["profile_id", "module_id", "seq"],
    )
    op.create_table(
        "learning_resume",
        *_profile("learning_resume"),
        sa.Column("module_id", sa.String(64), nullable=False),
        sa.Column("section_id", sa.String(64), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("profile_id", "module_id", name="pk_learning_resume"),
    )
    op.create_table(
        "learning_recommendations",
        *_profile("learning_recommendations"),
        sa.Column("module_id", sa.String(64), nullable=False),
        sa.Column("due", sa.String(10), nullable=True),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("profile_id", "module_id", name="pk_learning_recommendations"),
    )


def downgrade() -> None:
    op.drop_table("learning_recommendations")
    op.drop_table("learning_resume")
    op.drop_index(
        "ix_learning_statements_profile_id_module_id_seq", table_name="learning_statements"
    )
    op.drop_table("learning_statements")
