#!/usr/bin/env bash
# Set up and run the hub with demo data on the laptop defaults (SQLite file, jobs inline).
# Prints an admin API key, loads Salesforce and ERP demo records, serves on :8000.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PORT=${PORT:-8000}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
python -m pip install -q -e .
export MDM_DATABASE_URL=${MDM_DATABASE_URL:-sqlite:///$PWD/demo.sqlite3}
unset MDM_REDIS_URL
mdm db upgrade
KEY=$(mdm apikey create --name demo-admin --role admin)
mdm load demo/erp_customers.jsonl --source erp --domain customer
mdm load demo/salesforce_accounts.csv --source salesforce --domain customer
mdm load demo/erp_products.jsonl --source erp --domain product
mdm load demo/erp_prices.jsonl --source erp --domain price
cat <<MSG

  The hub is starting on http://127.0.0.1:$PORT with demo data.
  Admin API key (shown once): $KEY

  Try:
    curl -s -H "Authorization: Bearer $KEY" http://127.0.0.1:$PORT/api/v1/sources/salesforce/customer/records/001A00000000001
    curl -s -H "Authorization: Bearer $KEY" http://127.0.0.1:$PORT/api/v1/golden/customer/<golden_id from above>

MSG
exec mdm serve --port "$PORT"
