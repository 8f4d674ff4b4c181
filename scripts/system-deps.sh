#!/usr/bin/env bash
# Install and start what the test suite needs from Debian's packages, only when missing:
# PostgreSQL (running, with an `examsys` role and `examsys_test` database), Chromium and CJK fonts.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
ls /etc/postgresql/*/main >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
fi

# PostgreSQL: start the newest cluster if it is not accepting connections.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  PGVER=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$PGVER" main start 2>/dev/null || pg_ctlcluster "$PGVER" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 1; }

# Test role and database, idempotently (password auth works whatever pg_hba.conf says for TCP).
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
as_pg psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname='examsys'" | grep -q 1 \
  || as_pg psql -qc "CREATE ROLE examsys LOGIN PASSWORD 'examsys' CREATEDB"
as_pg psql -qtAc "SELECT 1 FROM pg_database WHERE datname='examsys_test'" | grep -q 1 \
  || as_pg psql -qc "CREATE DATABASE examsys_test OWNER examsys"
echo "system dependencies ready"
