"""add customers.segment and lookup indexes

Revision ID: 0003
Revises: 0002
Create Date: 2024-01-03 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Nullable, so a plain ALTER TABLE ... ADD COLUMN works on SQLite too.
    op.add_column("customers", sa.Column("segment", sa.String(20), nullable=True))
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])
    op.create_index("ix_orders_updated_at", "orders", ["updated_at"])
    op.create_index("ix_payments_order_id", "payments", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_payments_order_id", table_name="payments")
    op.drop_index("ix_orders_updated_at", table_name="orders")
    op.drop_index("ix_orders_customer_id", table_name="orders")
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_column("segment")
