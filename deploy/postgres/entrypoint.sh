#!/usr/bin/env bash
# The entrypoint of orchest/postgres: the part of the official `postgres`
# image's entrypoint that compose.yml relies on, so either image serves.
#
#   postgres-entrypoint.sh [postgres] [-c name=value ...]
#
# Started as root: makes $PGDATA the postgres user's, then runs again as it.
# An empty $PGDATA is initialised first (initdb): superuser $POSTGRES_USER
# (postgres) with $POSTGRES_PASSWORD, trust on the local socket, password
# (scram-sha-256) over TCP from anywhere, or trust if
# POSTGRES_HOST_AUTH_METHOD=trust; then database $POSTGRES_DB (default
# $POSTGRES_USER) is created. The server listens on $PGPORT (5432).
set -euo pipefail

if [[ $# -eq 0 || $1 == -* ]]; then
    set -- postgres "$@"
fi
if [[ $1 != postgres ]]; then
    exec "$@"
fi

: "${PGDATA:?PGDATA must be set}"
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

if [[ $(id -u) -eq 0 ]]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    if [[ -z ${POSTGRES_PASSWORD:-} && $auth != trust ]]; then
        echo "postgres-entrypoint.sh: set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
        exit 1
    fi
    echo "postgres-entrypoint.sh: initialising $PGDATA" >&2
    initdb=(initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --encoding=UTF8
        --locale=C.UTF-8 --auth-local=trust --auth-host="$auth")
    if [[ -n ${POSTGRES_PASSWORD:-} ]]; then
        "${initdb[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") >&2
    else
        "${initdb[@]}" >&2
    fi
    printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    if [[ $POSTGRES_DB != postgres ]]; then
        # Single-user mode: no server listens before the database exists.
        printf 'CREATE DATABASE "%s";\n' "${POSTGRES_DB//\"/\"\"}" |
            postgres --single -D "$PGDATA" postgres >/dev/null
    fi
fi

exec "$@"
