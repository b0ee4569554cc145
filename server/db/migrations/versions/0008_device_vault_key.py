"""device vault key

Revision ID: 0008
Revises: 0007

The per-device key that unlocks a browser's local vault (server/auth/vault_key.py): random,
handed only to a live session of that device, erased when the device is revoked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("vault_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("vault_key")
