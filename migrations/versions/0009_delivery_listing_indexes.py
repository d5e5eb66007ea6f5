"""deliveries: a subscription's deliveries are indexed by id (listing) and by delivery time (metrics)

Revision ID: 0009
Revises: 0008

``GET /subscriptions/{id}/deliveries`` pages a subscription's deliveries by id (``subscription_id
= ? AND id > ? ORDER BY id LIMIT ?``). No index led with the subscription and went on with the
id, so on tables never analyzed every page bitmap-read all of the subscription's deliveries and
sorted them: 70,000 rows (22-33 ms) per page of 100 at 140,000 deliveries, from any cursor.
``ix_delivery_subscription`` (subscription_id, id) makes a page a range probe of its entries.

The metrics collector's recent lag (``subscription_id = ? AND delivered_at >= now - 5 min``) read
every delivery of the subscription the same way (70,000 rows, ~19 ms per subscription per
scrape) to find the last five minutes' ones; ``ix_delivery_delivered`` (subscription_id,
delivered_at) reads that window only.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_delivery_subscription", "delivery", ["subscription_id", "id"])
    op.create_index("ix_delivery_delivered", "delivery", ["subscription_id", "delivered_at"])


def downgrade() -> None:
    op.drop_index("ix_delivery_delivered", table_name="delivery")
    op.drop_index("ix_delivery_subscription", table_name="delivery")
