"""SCORM 1.2 packages imported through the console (their files live under the data
directory; this table says which exist, how to launch them and who imported them), and where
each learner left each course (erased with the profile).

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
    op.create_table(
        "scorm_places",
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("module_id", sa.String(64), nullable=False),
        sa.Column("location", sa.String(255), nullable=False),
        sa.Column("suspend_data", sa.Text, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name="fk_scorm_places_profile_id_profiles",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("profile_id", "module_id", name="pk_scorm_places"),
    )


def downgrade() -> None:
    op.drop_table("scorm_places")
    op.drop_table("scorm_packages")
