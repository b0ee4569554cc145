"""room chain length

Revision ID: 0004
Revises: 0003

Rooms count their signed membership events so that message.send can refuse an envelope
encrypted under an older membership chain (docs/crypto.md §6.1). Existing rooms are counted from
their stored events.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("chain_length", sa.Integer(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE rooms SET chain_length = (SELECT COUNT(*) FROM membership_events e "
        "WHERE e.room_id = rooms.id AND e.signed_event IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.drop_column("chain_length")
