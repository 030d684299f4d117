"""SCORM 1.2 packages imported through the console (their files live under the data
directory; this table says which exist, how to launch them and who imported them).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scorm_packages",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("identifier", sa.String(200), nullable=False),
        sa.Column("launch", sa.String(1000), nullable=False),
        sa.Column("content_key", sa.String(64), nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mastery_score", sa.Double, nullable=True),
        sa.Column("imported_by", sa.String(200), nullable=False),
        sa.Column("imported_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scorm_packages"),
        sa.UniqueConstraint("content_key", name="uq_scorm_packages_content_key"),
    )


def downgrade() -> None:
    op.drop_table("scorm_packages")
