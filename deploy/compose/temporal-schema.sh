#!/bin/sh
# Creates and migrates Temporal's two Postgres databases (temporal, temporal_visibility), as
# temporalio/samples-server's compose/scripts/setup-postgres.sh does. Runs in the
# temporalio/admin-tools image before the server starts; safe to run again (create fails on an
# existing database, which is ignored; the schema steps are idempotent).
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD is required}"
PORT=${DB_PORT:-5432}

echo "Waiting for PostgreSQL at ${POSTGRES_SEEDS}:${PORT}..."
nc -z -w 10 "${POSTGRES_SEEDS}" "${PORT}"

sql() {
  temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS}" -u "${POSTGRES_USER}" -p "${PORT}" "$@"
}

sql --db temporal create || echo "database temporal exists"
sql --db temporal setup-schema -v 0.0
sql --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned

sql --db temporal_visibility create || echo "database temporal_visibility exists"
sql --db temporal_visibility setup-schema -v 0.0
sql --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned

echo "PostgreSQL schema setup complete"
