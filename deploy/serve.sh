#!/usr/bin/env bash
# `make serve`: check the production settings, apply the migrations, then run gunicorn (deploy/gunicorn.conf.py).
# Environment: DATABASE_URL and SECRET_KEY (required), EXAMSYS_PII_KEY (strongly advised), WORKERS, THREADS,
# BIND, EXAMSYS_PROXY_FIX (1 behind nginx), MEDIA_DIR. See docs/deployment.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}

fail() { echo "make serve: $*" >&2; exit 2; }

[ -n "${DATABASE_URL:-}" ] || fail "DATABASE_URL is not set. Point it at the PostgreSQL database, e.g.
  export DATABASE_URL=postgresql://examsys:PASSWORD@127.0.0.1:5432/examsys
(\`make run\` is the single-process SQLite quick start; see docs/deployment.md)."
[ -n "${SECRET_KEY:-}" ] || fail "SECRET_KEY is not set. Every worker and every app server must share one key, e.g.
  export SECRET_KEY=\$(python3 -c 'import secrets; print(secrets.token_hex(32))')
and keep it (changing it logs everybody out)."
[ "${#SECRET_KEY}" -ge 32 ] || fail "SECRET_KEY is too short (${#SECRET_KEY} characters); use at least 32 random characters."
case "$DATABASE_URL" in
  postgres://*|postgresql://*|postgresql+psycopg://*) ;;
  sqlite:*) echo "make serve: warning: DATABASE_URL is SQLite; several workers work (WAL) but PostgreSQL is the" \
                 "production database." >&2 ;;
  *) fail "DATABASE_URL must be a postgresql:// URL (got scheme '${DATABASE_URL%%:*}')." ;;
esac
[ -n "${EXAMSYS_PII_KEY:-}" ] || echo "make serve: warning: EXAMSYS_PII_KEY is not set; ID numbers are encrypted with a" \
  "key derived from SECRET_KEY (see docs/deployment.md)." >&2

"$BIN/examsys" db upgrade
workers=${WORKERS:-$(( 2 * $(nproc) ))}
echo "examsys: gunicorn with ${workers} worker(s) × ${THREADS:-1} thread(s) on ${BIND:-127.0.0.1:8000}" \
     "(proxy fix: ${EXAMSYS_PROXY_FIX:-0})"
exec "$BIN/gunicorn" -c deploy/gunicorn.conf.py
