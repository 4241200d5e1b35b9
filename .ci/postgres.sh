#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the storage tests and print the URL to use.
# Installs Debian's postgresql when it is missing (CI runs as root on a fresh machine).
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -d /usr/lib/postgresql ]; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$ver main$"; then
  pg_createcluster "$ver" main >&2
fi
pg_ctlcluster "$ver" main start >&2 || true   # already running is fine
for _ in $(seq 1 30); do
  su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -qAtc \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='optgan') THEN CREATE ROLE optgan LOGIN PASSWORD 'optgan-ci' CREATEDB; END IF; END \\\$\\\$;\"" >&2
su postgres -c "psql -qAtc \"SELECT 1 FROM pg_database WHERE datname='optgan_test'\"" | grep -q 1 \
  || su postgres -c "createdb -O optgan optgan_test" >&2
echo "postgresql://optgan:optgan-ci@127.0.0.1:5432/optgan_test"
