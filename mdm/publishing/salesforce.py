"""Publish approved customer masters to Salesforce Accounts with ``simple-salesforce``.

* A golden record whose cross-reference holds a Salesforce Account (``001…``, normalized to
  18 characters) updates that Account by Id and stamps ``MDM_Golden_Id__c`` on it; any other
  golden is upserted by the external id ``MDM_Golden_Id__c`` (created once, updated after).
* A claimed batch goes out as sObject Collections (``composite/sobjects``; at most 200 records
  per call, ``allOrNone: false``), so one bad record does not fail its neighbours. A batch of
  one uses the single-record upsert, where Salesforce answers 300 when the external id matches
  several Accounts.
* Per-record errors are recorded on the delivery (``status = rejected``, errors in
  ``response``); a multiple match (300, or ``DUPLICATE_EXTERNAL_ID`` in a collection) becomes
  ``status = steward``: a data problem in Salesforce for a person to fix, never a retry loop.
* Whole-call failures are retried on the delivery schedule: 5xx, ``REQUEST_LIMIT_EXCEEDED``
  (Salesforce's 403, not a 429), network errors. A 401 ``INVALID_SESSION_ID`` refreshes the
  OAuth2 access token once and repeats the call.
* Every call carries ``Sforce-Call-Options: client=<MDM_SALESFORCE_CLIENT_NAME>`` so Change
  Data Capture marks the hub's own writes in ``changeOrigin`` (loop prevention, see
  :mod:`mdm.publishing.loop`).

The account number and the ERP-governed finance fields are written like any other field;
making them read-only for Salesforce users is field-level security in the org (documented).
"""

from __future__ import annotations

import contextlib
import json
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
)

from mdm.db import UnitOfWork
from mdm.publishing import crypto
from mdm.publishing.config import PublishSettings
from mdm.publishing.deliveries import Claimed, Outcome
from mdm.publishing.models import Subscription
from mdm.publishing.urls import check_url
from mdm.settings import Settings
from mdm.source_mapping import salesforce_id18

log = logging.getLogger(__name__)

BATCH_LIMIT = 200
STEWARD_CODES = frozenset({"DUPLICATE_EXTERNAL_ID", "MULTIPLE_RECORDS_FOUND", "DUPLICATE_VALUE"})
#: canonical field (dotted for the address) -> Account field; override per subscription with
#: ``salesforce.field_map`` (a null target drops the field)
DEFAULT_FIELD_MAP: dict[str, str | None] = {
    "name": "Name",
    "phone": "Phone",
    "website": "Website",
    "address.city": "BillingCity",
    "address.region": "BillingState",
    "address.postal_code": "BillingPostalCode",
    "address.country": "BillingCountry",
    "account_number": "AccountNumber",
    "payment_terms": "MDM_Payment_Terms__c",
    "credit_limit": "MDM_Credit_Limit__c",
    "credit_hold": "MDM_Credit_Hold__c",
    "tax_registration": "MDM_Tax_Registration__c",
    "currency": "MDM_Currency__c",
}
NUMERIC = frozenset({"credit_limit"})


class TokenError(RuntimeError):
    """The OAuth2 token endpoint refused or failed; retried like any whole-call failure."""


def _get(fields: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = fields
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def account_record(payload: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The Account fields for one golden payload (no Id, no external id: the caller adds them)."""
    fields = payload.get("fields") or {}
    field_map = {**DEFAULT_FIELD_MAP, **(config.get("field_map") or {})}
    record: dict[str, Any] = {}
    for canonical, target in field_map.items():
        if not target:
            continue
        if canonical == "account_number":
            value = payload.get("account_number") or fields.get("account_number")
            if value is not None:
                record[target] = value
            continue
        present, value = _get(fields, canonical)
        if not present:
            continue
        if canonical in NUMERIC and isinstance(value, str):
            with contextlib.suppress(InvalidOperation):
                value = float(Decimal(value))
        record[target] = value
    address = fields.get("address") if isinstance(fields.get("address"), dict) else {}
    street = "\n".join(str(address[k]) for k in ("line1", "line2") if address.get(k))
    if street and field_map.get("address.line1", "BillingStreet"):
        record[field_map.get("address.line1") or "BillingStreet"] = street
    if "Name" not in record and fields.get("kind") == "person":
        name = " ".join(str(fields[k]) for k in ("first_name", "last_name") if fields.get(k))
        if name:
            record["Name"] = name
    record["MDM_Golden_Version__c"] = payload.get("version")
    record["MDM_Status__c"] = payload.get("status")
    if payload.get("merged_into"):
        record["MDM_Merged_Into__c"] = payload["merged_into"]
    return record


def salesforce_account_id(payload: dict[str, Any], source: str) -> str | None:
    """The Salesforce Account this golden already owns, if any (oldest member first)."""
    for ref in payload.get("crossref") or []:
        if ref.get("source") == source:
            sf_id = salesforce_id18(str(ref.get("source_id") or ""))
            if isinstance(sf_id, str) and len(sf_id) == 18 and sf_id.startswith("001"):
                return sf_id
    return None


class SalesforceSession:
    """OAuth2 token + simple-salesforce client; refreshes the token on INVALID_SESSION_ID."""

    def __init__(self, settings: Settings, psettings: PublishSettings, sub: Subscription) -> None:
        self.settings, self.psettings, self.sub_id = settings, psettings, sub.id
        self.config: dict[str, Any] = crypto.unseal(settings.secret_key, sub.config, {})
        self.state: dict[str, Any] = crypto.unseal(settings.secret_key, sub.state, {}) or {}
        self.http = requests.Session()
        ca = self.config.get("ca_bundle")
        if ca:
            self.http.verify = ca
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's verify;
            # an explicitly configured bundle must win (note: this also ignores proxy variables)
            self.http.trust_env = False
        self.headers = {"Sforce-Call-Options": f"client={psettings.salesforce_client_name}"}
        self.refreshed = False
        self.client: Salesforce | None = None

    def token(self) -> None:
        config = self.config
        data = {"grant_type": config["grant_type"], "client_id": config["client_id"]}
        if config.get("client_secret"):
            data["client_secret"] = config["client_secret"]
        if config["grant_type"] == "refresh_token":
            data["refresh_token"] = config["refresh_token"]
        elif config["grant_type"] == "password":
            data["username"], data["password"] = config["username"], config["password"]
        try:
            response = self.http.post(config["token_url"], data=data, timeout=(self.psettings.connect_timeout_seconds, self.psettings.timeout_seconds))
            body = response.json() if response.status_code == 200 else {}
        except (requests.RequestException, ValueError) as exc:
            raise TokenError(f"token endpoint failed: {exc}") from exc
        if not body.get("access_token"):
            raise TokenError(f"token endpoint answered {response.status_code}: {response.text[:300]}")
        instance = body.get("instance_url") or config["instance_url"]
        check_url(instance, self.psettings.allowed_hosts)
        self.state = {"access_token": body["access_token"], "instance_url": instance}
        self.refreshed = True
        self.client = None

    def sf(self) -> Salesforce:
        if not self.state.get("access_token"):
            self.token()
        if self.client is None:
            self.client = Salesforce(
                instance_url=self.state["instance_url"],
                session_id=self.state["access_token"],
                version=self.config.get("api_version", "60.0"),
                session=self.http,
            )
        return self.client

    def call(self, fn: Any) -> Any:
        try:
            return fn(self.sf())
        except SalesforceExpiredSession:
            self.token()
            return fn(self.sf())

    def save_state(self) -> None:
        if not self.refreshed:
            return
        with UnitOfWork(self.settings) as uow:
            sub = uow.session.get(Subscription, self.sub_id)
            if sub is not None:
                sub.state = crypto.seal(self.settings.secret_key, self.state)
                uow.session.add(sub)
                uow.commit()


def _error_codes(content: Any) -> list[str]:
    if isinstance(content, list):
        return [str(item.get("errorCode") or item.get("statusCode") or "") for item in content if isinstance(item, dict)]
    if isinstance(content, dict):
        return [str(content.get("errorCode") or "")]
    return []


def _whole_call_failure(claimed: list[Claimed], exc: Exception) -> list[Outcome]:
    status = getattr(exc, "status", None)
    content = getattr(exc, "content", None)
    codes = _error_codes(content)
    if isinstance(exc, SalesforceRefusedRequest) and "REQUEST_LIMIT_EXCEEDED" in codes:
        message = "REQUEST_LIMIT_EXCEEDED: the org's API limit is used up; retrying later"
    else:
        message = f"{exc.__class__.__name__}: {json.dumps(content, default=str)[:800] if content is not None else exc}"
    return [Outcome(c.delivery_id, c.token, "retry", status_code=status, error=message) for c in claimed]


def _record_outcome(c: Claimed, result: dict[str, Any]) -> Outcome:
    if result.get("success"):
        return Outcome(
            c.delivery_id, c.token, "delivered", status_code=201 if result.get("created") else 200,
            remote_id=result.get("id"), response={"id": result.get("id"), "created": bool(result.get("created"))},
        )
    errors = result.get("errors") or []
    codes = {str(e.get("statusCode") or e.get("errorCode") or "") for e in errors if isinstance(e, dict)}
    kind = "steward" if codes & STEWARD_CODES else "rejected"
    return Outcome(
        c.delivery_id, c.token, kind, status_code=400, error="; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors)[:4000],
        response={"errors": errors},
    )


def _single_upsert(session: SalesforceSession, c: Claimed, ext: str, record: dict[str, Any]) -> Outcome:
    sobject = session.config.get("sobject", "Account")
    try:
        response = session.call(
            lambda sf: getattr(sf, sobject).upsert(f"{ext}/{c.event.golden_id}", record, raw_response=True, headers=session.headers)
        )
    except SalesforceMoreThanOneRecord as exc:
        matches = exc.content if isinstance(exc.content, list) else [exc.content]
        return Outcome(
            c.delivery_id, c.token, "steward", status_code=300,
            error=f"{ext} {c.event.golden_id} matches {len(matches)} Salesforce records; a steward must merge them",
            response={"multiple_matches": matches},
        )
    except SalesforceError as exc:
        if exc.status in (400, 404):
            return Outcome(c.delivery_id, c.token, "rejected", status_code=exc.status, error=json.dumps(exc.content, default=str)[:4000], response={"errors": exc.content})
        raise
    body: dict[str, Any] = {}
    if response.status_code != 204:
        try:
            body = response.json()
        except ValueError:
            body = {}
    return Outcome(
        c.delivery_id, c.token, "delivered", status_code=response.status_code, remote_id=body.get("id"),
        response={"id": body.get("id"), "created": response.status_code == 201},
    )


def publish(settings: Settings, psettings: PublishSettings, sub: Subscription, claimed: list[Claimed]) -> list[Outcome]:
    """Send up to 200 claimed deliveries; one outcome per delivery."""
    try:
        session = SalesforceSession(settings, psettings, sub)
    except Exception as exc:  # noqa: BLE001 - unreadable secrets: recorded, retried
        return _whole_call_failure(claimed, exc)
    config = session.config
    ext = config.get("external_id_field", "MDM_Golden_Id__c")
    sobject = config.get("sobject", "Account")
    source = config.get("source", "salesforce")
    updates: list[tuple[Claimed, dict[str, Any]]] = []
    upserts: list[tuple[Claimed, dict[str, Any]]] = []
    for c in claimed:
        payload = c.event.payload or {}
        record = account_record(payload, config)
        record[ext] = c.event.golden_id
        sf_id = salesforce_account_id(payload, source)
        if sf_id:
            updates.append((c, {"attributes": {"type": sobject}, "id": sf_id, **record}))
        else:
            upserts.append((c, record))
    outcomes: list[Outcome] = []
    try:
        if len(claimed) == 1 and upserts:
            outcomes.append(_single_upsert(session, upserts[0][0], ext, upserts[0][1]))
            upserts = []
        for group, path in ((upserts, f"composite/sobjects/{sobject}/{ext}"), (updates, "composite/sobjects")):
            if not group:
                continue
            records = [{"attributes": {"type": sobject}, **r} if "attributes" not in r else r for _, r in group]
            body = json.dumps({"allOrNone": False, "records": records}, default=str)
            results = session.call(lambda sf, p=path, b=body: sf.restful(p, method="PATCH", data=b, headers=session.headers))
            if not isinstance(results, list) or len(results) != len(group):
                raise SalesforceError("", 502, path, {"unexpected_response": str(results)[:500]})
            outcomes.extend(_record_outcome(c, result) for (c, _), result in zip(group, results, strict=True))
    except (SalesforceError, TokenError, requests.RequestException, ValueError) as exc:
        done = {o.delivery_id for o in outcomes}
        outcomes.extend(_whole_call_failure([c for c in claimed if c.delivery_id not in done], exc))
    finally:
        try:
            session.save_state()
        except Exception:  # noqa: BLE001 - losing a cached token only costs one refresh
            log.exception("could not store the refreshed Salesforce token")
    return outcomes
