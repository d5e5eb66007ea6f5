"""Regenerate the demo files: Salesforce and ERP copies of the same retail customers,
spelled differently (legal forms, abbreviations, street suffixes, phone formats), plus
products and prices. Run: ``python demo/make_demo.py``; the outputs are committed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).parent

COMPANIES = [
    # (salesforce name, erp name, street sf, street erp, city, state, zip, phone sf, phone erp)
    ("Acme Corp.", "ACME Corporation", "1 Main St", "1 Main Street", "Springfield", "IL", "62701", "(217) 555-0100", "+1 217 555 0100"),
    ("Globex Inc", "Globex Incorporated", "9 Elm Ave", "9 Elm Avenue", "Shelbyville", "IL", "62565", "217-555-0199", "2175550199"),
    ("Initech LLC", "INITECH", "400 W Oak Blvd Ste 12", "400 West Oak Boulevard Suite 12", "Austin", "TX", "78701", "512.555.0142", "+15125550142"),
    ("Umbrella & Sons Ltd", "Umbrella and Sons Limited", "77 Harbor Rd", "77 Harbor Road", "Boston", "MA", "02110", "617-555-0177", "(617) 555-0177"),
    ("Stark Industries", "Stark Industries Inc.", "200 Park Ave", "200 Park Avenue", "New York", "NY", "10166", "212-555-0110", "+1 (212) 555-0110"),
    ("Wayne Enterprises", "Wayne Enterprises Corp", "1007 Mountain Dr", "1007 Mountain Drive", "Gotham", "NJ", "07001", "973-555-0107", "9735550107"),
    ("Soylent Green Co", "Soylent Green Company", "12 Factory Ln", "12 Factory Lane", "Portland", "OR", "97201", "503-555-0112", "+1 503 555 0112"),
    ("Hooli", "Hooli, Inc.", "1 Hacker Way", "1 Hacker Way", "Palo Alto", "CA", "94301", "650-555-0101", "650 555 0101"),
]
# Different businesses in the same building (hard negatives): they must stay apart.
NEIGHBOURS = [
    ("Pied Piper", "1 Hacker Way", "Palo Alto", "CA", "94301", "650-555-0199"),
    ("Vandelay Industries", "200 Park Ave", "New York", "NY", "10166", "212-555-0123"),
]
PRODUCTS = [
    ("SKU-1001", "00012345678905", "Anvil, 50 lb", "Acme"),
    ("SKU-1002", "00036000291452", "Rocket Skates", "Acme"),
    ("SKU-2001", "04006381333931", "Portable Hole", "Globex"),
]


def main() -> None:
    with (HERE / "salesforce_accounts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "Name", "BillingStreet", "BillingCity", "BillingState", "BillingPostalCode", "Phone", "updated_at"])
        for n, c in enumerate(COMPANIES, start=1):
            writer.writerow([f"001A00000{n:06d}", c[0], c[2], c[4], c[5], c[6], c[7], "2026-01-05T10:00:00Z"])
        for n, c in enumerate(NEIGHBOURS, start=101):
            writer.writerow([f"001A00000{n:06d}", c[0], c[1], c[2], c[3], c[4], c[5], "2026-01-05T10:00:00Z"])
    with (HERE / "erp_customers.jsonl").open("w") as handle:
        for n, c in enumerate(COMPANIES, start=1):
            doc = {
                "source_id": f"C-{1000 + n}",
                "updated_at": "2026-01-06T08:00:00Z",
                "fields": {
                    "kind": "organization",
                    "name": c[1],
                    "phone": c[8],
                    "address": {"line1": c[3], "city": c[4], "region": c[5], "postal_code": c[6], "country": "US"},
                    "account_number": f"AC-{70000 + n}",
                    "payment_terms": "NET30",
                    "credit_limit": str(10000 * n),
                    "currency": "USD",
                },
            }
            handle.write(json.dumps(doc) + "\n")
    with (HERE / "erp_products.jsonl").open("w") as handle:
        for sku, gtin, name, brand in PRODUCTS:
            doc = {"source_id": sku, "updated_at": "2026-01-06T08:00:00Z", "fields": {"sku": sku, "gtin": gtin, "name": name, "brand": brand, "uom": "EA"}}
            handle.write(json.dumps(doc) + "\n")
    with (HERE / "erp_prices.jsonl").open("w") as handle:
        for n, (sku, *_rest) in enumerate(PRODUCTS, start=1):
            doc = {
                "source_id": f"PL-RETAIL-{sku}",
                "updated_at": "2026-01-06T08:00:00Z",
                "fields": {"product": sku, "price_list": "RETAIL", "currency": "USD", "amount": f"{n * 19.99:.2f}", "min_quantity": 1, "valid_from": "2026-01-01"},
            }
            handle.write(json.dumps(doc) + "\n")


if __name__ == "__main__":
    main()
