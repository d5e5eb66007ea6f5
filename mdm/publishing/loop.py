"""Loop prevention: a Salesforce change caused by the hub's own write is not ingested again.

Without it, publishing an Account makes Salesforce emit a change, the hub ingests it as a
new version of the Salesforce source record, recomputes the golden, publishes again, and so
on. Two independent signals mark an echo (either is enough):

* ``LastModifiedById`` (or CDC's ``ChangeEventHeader.commitUser``) is one of the integration
  users the hub logs in as — ``MDM_SALESFORCE_INTEGRATION_USER_IDS`` (15 or 18 characters);
* CDC's ``ChangeEventHeader.changeOrigin`` contains ``client=<MDM_SALESFORCE_CLIENT_NAME>``,
  which Salesforce copies from the ``Sforce-Call-Options`` header the publisher sends.

Only changes to records the hub already holds are dropped (acknowledged with outcome
``echo``). An Account the hub *created* still comes in once, so its Salesforce id joins the
golden's cross-reference; after that the publisher updates it by Id.
"""

from __future__ import annotations

from typing import Any

from mdm.publishing.config import PublishSettings
from mdm.source_mapping import salesforce_id18


def echo_reason(payload: dict[str, Any], psettings: PublishSettings | None = None) -> str | None:
    """Why this source payload is the hub's own echo, or None when it is a real change."""
    if not isinstance(payload, dict):
        return None
    psettings = psettings or PublishSettings.from_env()
    header = payload.get("ChangeEventHeader") if isinstance(payload.get("ChangeEventHeader"), dict) else {}
    origin = header.get("changeOrigin") or payload.get("changeOrigin")
    if isinstance(origin, str) and f"client={psettings.salesforce_client_name}" in origin:
        return "changeOrigin"
    users = {salesforce_id18(u) for u in psettings.salesforce_integration_user_ids}
    modified_by = payload.get("LastModifiedById") or header.get("commitUser")
    if users and isinstance(modified_by, str) and salesforce_id18(modified_by) in users:
        return "integration_user"
    return None


def is_publisher_echo(payload: dict[str, Any]) -> bool:
    return echo_reason(payload) is not None
