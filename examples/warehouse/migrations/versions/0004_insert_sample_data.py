"""insert sample rows so the example marts are not empty

Revision ID: 0004
Revises: 0003
Create Date: 2024-01-04 00:00:00

"""
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Lightweight table stubs: only what bulk_insert needs, independent of any model code.
customers = sa.table(
    "customers",
    sa.column("id", sa.Integer()),
    sa.column("first_name", sa.String()),
    sa.column("last_name", sa.String()),
    sa.column("email", sa.String()),
    sa.column("country_code", sa.String()),
    sa.column("is_active", sa.Boolean()),
    sa.column("segment", sa.String()),
    sa.column("created_at", sa.DateTime()),
    sa.column("updated_at", sa.DateTime()),
)
products = sa.table(
    "products",
    sa.column("id", sa.Integer()),
    sa.column("sku", sa.String()),
    sa.column("name", sa.String()),
    sa.column("category_code", sa.String()),
    sa.column("unit_price", sa.Numeric(10, 2)),
    sa.column("created_at", sa.DateTime()),
)
orders = sa.table(
    "orders",
    sa.column("id", sa.Integer()),
    sa.column("customer_id", sa.Integer()),
    sa.column("product_id", sa.Integer()),
    sa.column("quantity", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("ordered_at", sa.DateTime()),
    sa.column("updated_at", sa.DateTime()),
)
payments = sa.table(
    "payments",
    sa.column("id", sa.Integer()),
    sa.column("order_id", sa.Integer()),
    sa.column("payment_method", sa.String()),
    sa.column("amount", sa.Numeric(10, 2)),
    sa.column("paid_at", sa.DateTime()),
)

T0 = datetime(2023, 12, 1, 9, 0, 0)

# id, first_name, last_name, email, country_code, is_active, segment
CUSTOMERS = [
    (1, "Ada", "Lovelace", "ada@example.com", "GB", True, "consumer"),
    (2, "Grace", "Hopper", "grace@example.com", "US", True, "business"),
    (3, "Alan", "Turing", "alan@example.com", "GB", True, "consumer"),
    (4, "Katherine", "Johnson", "katherine@example.com", "US", True, "business"),
    (5, "Edsger", "Dijkstra", "edsger@example.com", "NL", True, "consumer"),
    (6, "Hedy", "Lamarr", "hedy@example.com", "DE", True, "consumer"),
    (7, "Yukihiro", "Matsumoto", "matz@example.com", "JP", True, "business"),
    (8, "Margaret", "Hamilton", "margaret@example.com", "US", True, "business"),
    (9, "Clarice", "Lispector", "clarice@example.com", "BR", False, "consumer"),
]

# id, sku, name, category_code, unit_price
PRODUCTS = [
    (1, "ELEC-001", "Noise-cancelling headphones", "ELEC", Decimal("199.00")),
    (2, "ELEC-002", "USB-C hub", "ELEC", Decimal("39.50")),
    (3, "BOOK-001", "Data Warehousing 101", "BOOK", Decimal("45.00")),
    (4, "HOME-001", "Cast-iron pan", "HOME", Decimal("60.00")),
    (5, "TOYS-001", "Wooden train set", "TOYS", Decimal("80.00")),
    (6, "BOOK-002", "SQL Pocket Guide", "BOOK", Decimal("19.99")),
]

# id, customer_id, product_id, quantity, status, ordered_at
ORDERS = [
    (1, 1, 1, 1, "completed", datetime(2024, 1, 3, 9, 15)),
    (2, 1, 3, 2, "completed", datetime(2024, 1, 3, 14, 2)),
    (3, 2, 2, 3, "shipped", datetime(2024, 1, 4, 10, 30)),
    (4, 3, 4, 1, "completed", datetime(2024, 1, 4, 18, 45)),
    (5, 4, 5, 1, "returned", datetime(2024, 1, 5, 8, 20)),
    (6, 5, 6, 4, "completed", datetime(2024, 1, 5, 12, 0)),
    (7, 6, 1, 2, "placed", datetime(2024, 1, 6, 16, 10)),
    (8, 2, 4, 2, "completed", datetime(2024, 1, 6, 19, 30)),
    (9, 7, 2, 1, "cancelled", datetime(2024, 1, 7, 7, 55)),
    (10, 8, 3, 1, "shipped", datetime(2024, 1, 7, 11, 11)),
    (11, 3, 5, 2, "completed", datetime(2024, 1, 8, 13, 40)),
    (12, 5, 1, 1, "completed", datetime(2024, 1, 8, 20, 5)),
    (13, 6, 6, 2, "placed", datetime(2024, 1, 9, 9, 0)),
    (14, 1, 2, 2, "shipped", datetime(2024, 1, 9, 15, 25)),
]

# id, order_id, payment_method, amount (orders 6 and 12 are paid in two parts;
# placed and cancelled orders have no payment)
PAYMENTS = [
    (1, 1, "credit_card", Decimal("199.00")),
    (2, 2, "paypal", Decimal("90.00")),
    (3, 3, "credit_card", Decimal("118.50")),
    (4, 4, "bank_transfer", Decimal("60.00")),
    (5, 5, "credit_card", Decimal("80.00")),
    (6, 6, "gift_card", Decimal("20.00")),
    (7, 6, "credit_card", Decimal("59.96")),
    (8, 8, "paypal", Decimal("120.00")),
    (9, 10, "credit_card", Decimal("45.00")),
    (10, 11, "bank_transfer", Decimal("160.00")),
    (11, 12, "credit_card", Decimal("150.00")),
    (12, 12, "gift_card", Decimal("49.00")),
    (13, 14, "credit_card", Decimal("79.00")),
]


def upgrade() -> None:
    op.bulk_insert(
        customers,
        [
            {
                "id": cid,
                "first_name": first,
                "last_name": last,
                "email": email,
                "country_code": country,
                "is_active": active,
                "segment": segment,
                "created_at": T0 + timedelta(days=cid),
                "updated_at": T0 + timedelta(days=cid, hours=1),
            }
            for cid, first, last, email, country, active, segment in CUSTOMERS
        ],
    )
    op.bulk_insert(
        products,
        [
            {
                "id": pid,
                "sku": sku,
                "name": name,
                "category_code": category,
                "unit_price": price,
                "created_at": T0,
            }
            for pid, sku, name, category, price in PRODUCTS
        ],
    )
    ordered_at = {oid: ts for oid, _, _, _, _, ts in ORDERS}
    op.bulk_insert(
        orders,
        [
            {
                "id": oid,
                "customer_id": cid,
                "product_id": pid,
                "quantity": qty,
                "status": status,
                "ordered_at": ts,
                "updated_at": ts if status == "placed" else ts + timedelta(days=2),
            }
            for oid, cid, pid, qty, status, ts in ORDERS
        ],
    )
    op.bulk_insert(
        payments,
        [
            {
                "id": pay_id,
                "order_id": oid,
                "payment_method": method,
                "amount": amount,
                "paid_at": ordered_at[oid] + timedelta(minutes=10),
            }
            for pay_id, oid, method, amount in PAYMENTS
        ],
    )


def downgrade() -> None:
    op.execute(payments.delete().where(payments.c.id.in_([p[0] for p in PAYMENTS])))
    op.execute(orders.delete().where(orders.c.id.in_([o[0] for o in ORDERS])))
    op.execute(products.delete().where(products.c.id.in_([p[0] for p in PRODUCTS])))
    op.execute(customers.delete().where(customers.c.id.in_([c[0] for c in CUSTOMERS])))
