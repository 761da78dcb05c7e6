#!/usr/bin/env bash
# Install (if missing) and start PostgreSQL and Redis on 127.0.0.1 for the test suite; idempotent.
# Used by .ci/run and by developers: `bash .ci/services.sh` then `python run_tests.py`.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v dot >/dev/null 2>&1 || need+=(graphviz)
command -v chromium >/dev/null 2>&1 || need+=(chromium)            # the dashboard's browser tests
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Redis on 127.0.0.1:6379, no persistence.
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
fi

# PostgreSQL on 127.0.0.1:5432: a private cluster owned by the postgres user, trust auth on loopback only.
PGDATA=${LLMTEAM_PGDATA:-/tmp/llmteam-pgdata}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null \
   && ! "$PGBIN/psql" -w -h 127.0.0.1 -p 5432 -U postgres -qtAc "SELECT 1" >/dev/null 2>&1; then
  # A server we cannot use holds the port (e.g. the cluster Debian's package started): stop it, start ours.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h | awk '$4 == "online" {print $1, $2}' | while read -r ver name; do
      pg_ctlcluster "$ver" "$name" stop || true
    done
  fi
  sleep 1
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  RUNAS=()
  if [ "$(id -u)" -eq 0 ]; then RUNAS=(runuser -u postgres --); fi
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"; [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PGDATA"
    "${RUNAS[@]}" "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
  fi
  mkdir -p /tmp/llmteam-pgsock; [ "$(id -u)" -eq 0 ] && chown postgres:postgres /tmp/llmteam-pgsock
  "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=5432 -k /tmp/llmteam-pgsock -c fsync=on -c max_connections=200" start >/dev/null
fi
for _ in $(seq 1 50); do "$PGBIN/pg_isready" -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
psql_() { "$PGBIN/psql" -h 127.0.0.1 -p 5432 -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
[ "$(psql_ -c "SELECT 1 FROM pg_roles WHERE rolname='llmteam'")" = "1" ] || psql_ -c "CREATE ROLE llmteam LOGIN PASSWORD 'llmteam' SUPERUSER"
[ "$(psql_ -c "SELECT 1 FROM pg_database WHERE datname='llmteam_test'")" = "1" ] || psql_ -c "CREATE DATABASE llmteam_test OWNER llmteam"
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 0.1; done
echo "services: postgresql://llmteam@127.0.0.1:5432/llmteam_test and redis://127.0.0.1:6379 are up"
