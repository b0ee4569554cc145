"""device list log

Revision ID: 0007
Revises: 0006

The signed device lists of each user, by version, so clients can verify the hash chain between
the list they pinned and a later one (docs/crypto.md §2.5).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_list_log",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("signed_device_list", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_device_list_log_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "version", name=op.f("pk_device_list_log")),
    )


def downgrade() -> None:
    op.drop_table("device_list_log")
