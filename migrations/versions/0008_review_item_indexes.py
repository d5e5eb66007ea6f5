"""review items: the queue index ends with the id it is paged by; candidate goldens are indexed

Revision ID: 0008
Revises: 0007

The steward queue is listed oldest first by id, with ``after`` as a keyset cursor
(``domain = ? AND status = ? AND id > ? ORDER BY id LIMIT ?``). ``ix_review_item_queue`` ended
with ``created_at``, which nothing orders by, so every page read and sorted the whole queue of
that status: at 25,000 items, a page of 50 open ones read 4,978 rows, of approved ones 12,078.
Ending the index with ``id`` makes a page a range probe of 51 entries.

The resolve path's bridge check asks whether a golden is the candidate of an open review
(``candidate_golden_id = ? AND status = 'open'``); with no index on the candidate that was a
scan of every review item ever opened (25,018 rows per check).
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_review_item_queue", table_name="review_item")
    op.create_index("ix_review_item_queue", "review_item", ["domain", "status", "id"])
    op.create_index("ix_review_item_candidate", "review_item", ["candidate_golden_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_review_item_candidate", table_name="review_item")
    op.drop_index("ix_review_item_queue", table_name="review_item")
    op.create_index("ix_review_item_queue", "review_item", ["domain", "status", "created_at"])
