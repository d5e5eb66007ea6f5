#!/usr/bin/env bash
# Make sure PostgreSQL and Redis are reachable; start them (with the commands this kind of
# machine documents) when they are not. Exits non-zero if either stays unreachable.
set -u
PGHOST_CHECK=${MDM_TEST_PG_HOST:-127.0.0.1}
REDIS_PORT=${MDM_TEST_REDIS_PORT:-6379}

pg_up() { pg_isready -q -h "$PGHOST_CHECK" -p 5432 2>/dev/null || python3 - <<'PY' 2>/dev/null
import socket; socket.create_connection(("127.0.0.1", 5432), timeout=2)
PY
}
redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  echo "PostgreSQL is down: starting it"
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! redis_up; then
  echo "Redis is down: starting it"
  if command -v redis-server >/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi

ok=0
pg_up && echo "PostgreSQL: up" || { echo "PostgreSQL: UNREACHABLE at $PGHOST_CHECK:5432" >&2; ok=1; }
redis_up && echo "Redis: up" || { echo "Redis: UNREACHABLE at 127.0.0.1:$REDIS_PORT" >&2; ok=1; }
exit $ok
