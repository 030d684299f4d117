"""Appointment kinds: video (as before), in person (place, address, what to bring) or by
phone. Existing appointments are video appointments.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "appointments", sa.Column("kind", sa.String(16), nullable=False, server_default="video")
    )
    for name in ("place", "address", "bring"):
        op.add_column("appointments", sa.Column(name, sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        for name in ("bring", "address", "place", "kind"):
            batch.drop_column(name)
