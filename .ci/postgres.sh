#!/usr/bin/env bash
# PostgreSQL server binaries for tests/test_postgres.py (the tests start and stop their own
# server on a free port). Installs the Debian `postgresql` package only when initdb is missing.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# The package starts a cluster of its own on port 5432; the tests do not use it.
if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header | while read -r version name _; do
        $SUDO pg_ctlcluster "$version" "$name" stop >/dev/null 2>&1 || true
    done
fi
