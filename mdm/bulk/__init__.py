"""Set-based bulk loading (``mdm load --bulk``): vectorized blocking and scoring, one clustering
pass, bulk inserts in one transaction. See :mod:`mdm.bulk.load` for the why and the limits."""

from mdm.bulk.load import BulkReport, NotEmpty, bulk_load, domain_is_empty

__all__ = ["BulkReport", "NotEmpty", "bulk_load", "domain_is_empty"]
