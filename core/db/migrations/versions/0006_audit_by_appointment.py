"""The audit trail by appointment: a profile's trail takes in its appointments' entries
(admissions, joins and leaves carry no profile).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_appointment_id", "audit_log", ["appointment_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_appointment_id", table_name="audit_log")
