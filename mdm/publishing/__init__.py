"""Publishing approved golden records: outbox → deliveries → webhooks, the feed, Salesforce.

Modules, each small and with one job:

* :mod:`~mdm.publishing.feed` — the change feed with commit-safe cursors (PostgreSQL xids);
* :mod:`~mdm.publishing.subscriptions` — who receives what (validation, secrets, rotation);
* :mod:`~mdm.publishing.fanout` — outbox events → one delivery row per subscription;
* :mod:`~mdm.publishing.deliveries` — leases, per-golden ordering, retries, replay;
* :mod:`~mdm.publishing.webhook` — Standard Webhooks sender;
* :mod:`~mdm.publishing.salesforce` — Account upserts via simple-salesforce;
* :mod:`~mdm.publishing.jobs` — RQ jobs on the ``publish`` queue and their debounced nudges;
* :mod:`~mdm.publishing.sweep` — the periodic safety net (the outbox is the truth);
* :mod:`~mdm.publishing.metrics` — Prometheus collector; :mod:`~mdm.publishing.loop` — echo filter.

Importing this package registers the ``subscription`` and ``delivery`` tables.
"""

from mdm.publishing import models  # noqa: F401 - registers the tables on SQLModel.metadata
