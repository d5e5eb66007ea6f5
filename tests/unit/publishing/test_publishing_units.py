"""Pure pieces of publishing: URL guard, secrets, signatures, schedule, cursors, mappings, echo."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from mdm.errors import InvalidInput
from mdm.publishing.config import STANDARD_SCHEDULE, PublishSettings
from mdm.publishing.deliveries import retry_delay
from mdm.publishing.feed import Position, decode_cursor, encode_cursor
from mdm.publishing.loop import echo_reason
from mdm.publishing.salesforce import account_record, salesforce_account_id
from mdm.publishing.subscriptions import check_secret, generate_secret
from mdm.publishing.urls import UnsafeUrl, check_url
from mdm.publishing.webhook import parse_retry_after, sign_headers


def public(_: str) -> list[str]:
    return ["93.184.216.34"]


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "", "http://", "https://user:pw@example.com/"])
def test_non_http_urls_are_rejected(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_url(url, [], resolver=public)


@pytest.mark.parametrize(
    "url, addresses",
    [
        ("http://127.0.0.1:6379/", None), ("http://10.0.0.5/hook", None), ("http://169.254.169.254/latest/meta-data", None),
        ("http://[::1]/", None), ("http://[::ffff:127.0.0.1]/", None), ("http://0.0.0.0/", None),
        ("https://sneaky.example/hook", ["93.184.216.34", "192.168.1.10"]),
    ],
)
def test_private_targets_are_refused_without_an_allow_list(url: str, addresses: list[str] | None) -> None:
    with pytest.raises(UnsafeUrl):
        check_url(url, [], resolver=lambda host: addresses or [])


def test_allow_list_by_host_and_cidr() -> None:
    assert check_url("http://127.0.0.1:8080/h", ["127.0.0.1"]) == "http://127.0.0.1:8080/h"
    assert check_url("http://erp.internal/h", ["10.0.0.0/8"], resolver=lambda h: ["10.1.2.3"])
    assert check_url("http://erp.internal/h", ["erp.internal"], resolver=lambda h: ["10.1.2.3"])
    assert check_url("https://erp.example.com/h", [], resolver=public)


def test_secrets_must_be_standard_webhooks_secrets() -> None:
    assert check_secret(generate_secret()).startswith("whsec_")
    for bad in [None, "", "whsec_!!!notbase64", "whsec_" + "QUFB", 42]:
        with pytest.raises(InvalidInput):
            check_secret(bad)


def test_signatures_verify_with_either_secret_during_rotation() -> None:
    old, new = generate_secret(), generate_secret()
    body = '{"type":"customer.updated"}'
    headers = sign_headers([new, old], "evt-1", body)
    assert Webhook(old).verify(body, headers) == {"type": "customer.updated"}
    assert Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace("updated", "created"), headers)
    stale = sign_headers([new], "evt-1", body, moment=datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body, stale)


def test_default_schedule_is_the_standard_webhooks_one_and_dead_letters_after_it() -> None:
    settings = PublishSettings(retry_jitter=0.0)
    assert settings.retry_schedule == STANDARD_SCHEDULE
    assert [retry_delay(settings, n) for n in range(1, 10)] == [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    assert retry_delay(settings, 10) is None
    assert sum(STANDARD_SCHEDULE) >= 24 * 3600


def test_jitter_and_retry_after() -> None:
    settings = PublishSettings(retry_jitter=0.2)
    rng = random.Random(7)
    delays = {retry_delay(settings, 2, rng=rng) for _ in range(50)}
    assert all(240 <= d <= 360 for d in delays) and len(delays) > 10
    assert retry_delay(PublishSettings(retry_jitter=0), 1, retry_after=120) == 120
    assert retry_delay(PublishSettings(retry_jitter=0), 1, retry_after=10**9) == 86400  # capped
    assert parse_retry_after("17") == 17
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    when = datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert parse_retry_after("Tue, 01 Jan 2030 00:00:30 GMT", now=when - timedelta(seconds=30)) == 30


def test_cursors_round_trip_and_reject_garbage() -> None:
    assert decode_cursor(encode_cursor(12345, 678)) == Position(12345, 678)
    assert decode_cursor(None) == Position(0, 0)
    for bad in ["@@", "djI6MTox", encode_cursor(1, 2)[:-2] + "!!"]:
        with pytest.raises(InvalidInput):
            decode_cursor(bad)


def test_account_mapping_writes_account_number_and_erp_fields() -> None:
    payload = {
        "id": "g1", "version": 4, "status": "active", "account_number": "A-100",
        "fields": {"kind": "person", "first_name": "Ada", "last_name": "Lovelace", "credit_limit": "1200.50", "credit_hold": True,
                   "address": {"line1": "1 Main St", "line2": "Suite 2", "city": "X"}},
        "crossref": [{"source": "erp", "source_id": "C-1"}, {"source": "salesforce", "source_id": "003000000000001"},
                     {"source": "salesforce", "source_id": "001000000000001"}],
    }
    record = account_record(payload, {"field_map": {"credit_hold": None}})
    assert record["Name"] == "Ada Lovelace" and record["AccountNumber"] == "A-100"
    assert record["MDM_Credit_Limit__c"] == 1200.5 and "MDM_Credit_Hold__c" not in record
    assert record["BillingStreet"] == "1 Main St\nSuite 2" and record["MDM_Golden_Version__c"] == 4
    # Contacts (003) are not Accounts; the 15-character Account id is normalized to 18
    assert salesforce_account_id(payload, "salesforce") == "001000000000001AAA"


def test_echo_detection() -> None:
    settings = PublishSettings(salesforce_integration_user_ids=("005000000000001",))
    assert echo_reason({"LastModifiedById": "005000000000001AAA"}, settings) == "integration_user"
    assert echo_reason({"ChangeEventHeader": {"changeOrigin": "com/salesforce/api/rest/60.0;client=mdm-hub"}}, settings) == "changeOrigin"
    assert echo_reason({"LastModifiedById": "005000000000002AAA"}, settings) is None
    assert echo_reason({"name": "erp payload"}, PublishSettings()) is None
