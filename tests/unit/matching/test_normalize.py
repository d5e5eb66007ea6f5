"""Each normalizer: the variants CRM and ERP copies produce collapse to one value; junk is flagged."""

from __future__ import annotations

import pytest

from matching.normalize.address import normalize_address
from matching.normalize.codes import normalize_code, normalize_uom
from matching.normalize.country import normalize_country
from matching.normalize.dates import normalize_date
from matching.normalize.email import normalize_email
from matching.normalize.gtin import normalize_gtin
from matching.normalize.identifiers import normalize_national_id, normalize_tax_id
from matching.normalize.org_name import legal_form, normalize_org_name
from matching.normalize.person_name import canonical_given_name, normalize_name_part, split_full_name
from matching.normalize.phone import normalize_phone
from matching.normalize.text import to_text
from matching.normalize.website import normalize_website


@pytest.mark.parametrize("a,b", [
    ("Acme Corp.", "ACME Corporation"),
    ("Acme, Inc.", "The Acme Incorporated"),
    ("Smith & Sons LLC", "Smith and Sons, L.L.C."),
    ("Müller GmbH", "Mueller".replace("ue", "u") + " GmbH"),
    ("Widget Intl Pty Ltd", "Widget International Pty. Limited"),
    ("A.C.M.E. Mfg Co", "ACME Manufacturing Company"),
])
def test_org_name_variants_collapse(a: str, b: str) -> None:
    assert normalize_org_name(a).text == normalize_org_name(b).text


def test_org_name_keeps_distinguishing_words_and_reports_legal_form() -> None:
    assert normalize_org_name("Acme Tools Inc").text == "acme tools"
    assert legal_form("Acme Tools Pty Ltd") == "pty ltd"
    assert normalize_org_name("Inc").text == "inc"  # a name that is only a legal form is kept
    assert normalize_org_name("N/A").text is None


def test_person_names() -> None:
    assert normalize_name_part("  Dr. José-Luis ").text == "jose-luis"
    assert normalize_name_part("O'Brien Jr.").text == "o'brien"
    assert normalize_name_part("unknown").text is None
    assert canonical_given_name("bob") == canonical_given_name("robert") == "robert"
    assert split_full_name("Smith, John A.")[:2] == ("john", "smith")
    assert split_full_name("Mrs. Jane van der Berg")[:2] == ("jane", "van der berg")


def test_us_address_components() -> None:
    a = normalize_address({"line1": "100 North Main Street, Suite 200", "city": "Springfield", "region": "Illinois",
                           "postal_code": "62701-1234"})
    b = normalize_address({"line1": "100 N Main St", "line2": "Ste. 200", "city": "SPRINGFIELD", "region": "IL",
                           "postal_code": "62701", "country": "USA"})
    for field in ("house_number", "street", "unit", "city", "region", "postal_code"):
        assert getattr(a, field) == getattr(b, field), field
    assert (a.house_number, a.street, a.unit, a.postal_code) == ("100", "n main st", "200", "62701")


def test_non_us_address_token_fallback() -> None:
    a = normalize_address({"line1": "5/15 Smith Street", "city": "Sydney", "postal_code": "2000", "country": "AU"})
    assert (a.unit, a.house_number, a.street, a.country) == ("5", "15", "smith st", "AU")
    de = normalize_address({"line1": "Hauptstrasse 5", "city": "München", "country": "Deutschland"})
    assert (de.house_number, de.city, de.country) == ("5", "munchen", "DE")


def test_street_and_building_swapped_back() -> None:
    a = normalize_address({"line1": "Acme Tower", "line2": "Main Street", "city": "X"})
    assert a.street == "main st" and a.building == "acme tower"


def test_address_bad_types_are_flagged() -> None:
    assert normalize_address(["1 Main St"]).flags["address"].startswith("address must be an object")
    assert normalize_address({"postal_code": True}).flags["address.postal_code"]


@pytest.mark.parametrize("raw", ["(217) 555-0100", "217.555.0100", "+1 217 555 0100", "1-217-555-0100",
                                 "217-555-0100 ext. 12"])
def test_phone_e164(raw: str) -> None:
    assert normalize_phone(raw).text == "+12175550100"


def test_phone_region_from_country_and_flags() -> None:
    assert normalize_phone("030 1234567", "DE").text == "+49301234567"
    assert normalize_phone("12").text is None and normalize_phone("12").flag
    assert normalize_phone("0000000000").text is None


def test_email() -> None:
    assert normalize_email("John.Doe+crm@GoogleMail.com").text == "johndoe@gmail.com"
    assert normalize_email("Jane.Doe@Acme.com").text == "jane.doe@acme.com"
    assert normalize_email("not-an-email").flag == "not an e-mail address"
    assert normalize_email("test@example.com").text is None


def test_website_registrable_domain() -> None:
    assert normalize_website("https://www.shop.acme.co.uk/path?q=1").text == "acme.co.uk"
    assert normalize_website("ACME.com").text == "acme.com"
    assert normalize_website("localhost").text is None


def test_tax_ids() -> None:
    assert normalize_tax_id("12-3456789", "US").text == "123456789"
    assert normalize_tax_id("DE 136 695 976").text == "DE136695976"
    bad = normalize_tax_id("DE 136 695 977")
    assert bad.flag and "invalid" in bad.flag and bad.text  # flagged, still usable
    assert normalize_national_id("078-05-1120", "US").text  # SSN format
    assert normalize_tax_id("000").text is None


def test_dates() -> None:
    assert normalize_date("1956-09-09").text == "1956-09-09"
    assert normalize_date("19560909").text == "1956-09-09"
    assert normalize_date("2001-02-03T10:00:00Z").text == "2001-02-03"
    assert normalize_date("25/12/1980").text == "1980-12-25"
    assert normalize_date("03/04/1980").flag == "ambiguous day/month order"
    impossible = normalize_date("19561309")
    assert impossible.text == "1956-13-09" and impossible.flag
    assert normalize_date("yesterday").text is None


@pytest.mark.parametrize("raw", ["4006381333931", "04006381333931", "4006-3813-3393-1"])
def test_gtin_padding(raw: str) -> None:
    assert normalize_gtin(raw).text == "04006381333931"


def test_gtin_upc_and_bad_check_digit() -> None:
    assert normalize_gtin("036000291452").text == "00036000291452"
    assert normalize_gtin("4006381333932").text is None
    assert "check digit" in (normalize_gtin("4006381333932").flag or "")
    assert normalize_gtin("123").flag


def test_codes_and_uom() -> None:
    assert normalize_code("ab-100/x").text == normalize_code("AB100X").text == "AB100X"
    assert normalize_code("000123").text == "123"
    assert normalize_uom("Each").text == normalize_uom("pcs").text == "EA"


def test_country_and_text() -> None:
    assert normalize_country("United States").text == "US"
    assert normalize_country("Atlantis").flag
    assert to_text(3.0).text == "3" and to_text(True).flag and to_text({"a": 1}).flag
    assert to_text("a\x00b\u200bc").text == "a b c"


def test_to_text_ascii_shortcut_equals_the_unicode_path() -> None:
    """ASCII input skips NFKC and the per-character category test; every ASCII character, alone
    and among others, must come out exactly as the general path makes it."""
    import random
    import unicodedata

    def general(text: str) -> str | None:
        text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in unicodedata.normalize("NFKC", text))
        return " ".join(text.split()) or None

    for code in range(128):
        ch = chr(code)
        assert to_text(f"a{ch}b").text == general(f"a{ch}b"), code
    rng = random.Random(5)
    for _ in range(2000):
        text = "".join(chr(rng.randrange(128)) for _ in range(rng.randrange(1, 12)))
        assert to_text(text).text == general(text), repr(text)
    assert to_text("tab\there\x7f\x1f end ").text == "tab here end"
    assert to_text("\x00\x01").flag == "blank value"
