#!/usr/bin/env bash
# A headless Java runtime for the Spark engine's tests (pyspark starts a JVM).
# Idempotent and quiet: does nothing when `java` is already on PATH.
set -euo pipefail
if command -v java >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# Debian 12 ships 17; newer releases 21 (Spark 4 runs on 17 and 21).
package=$(apt-cache show openjdk-17-jre-headless >/dev/null 2>&1 \
    && echo openjdk-17-jre-headless || echo default-jre-headless)
apt-get install -y -qq --no-install-recommends "$package" >/dev/null
java -version 2>&1 | head -1
