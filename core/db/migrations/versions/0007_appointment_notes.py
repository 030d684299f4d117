"""The caseworker's notes on an appointment (staff only; set when scheduling or editing).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("appointments", sa.Column("notes", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.drop_column("notes")
