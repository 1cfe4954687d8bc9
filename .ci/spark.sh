#!/usr/bin/env bash
# The Spark engine's tests: a JRE (when missing), the mlcheck[spark] extra, `pytest -m spark`.
# The `test` extra already includes pyspark, so a full `pytest` run covers them too; this
# script runs only the Spark part (see README "Development" for its measured time).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/java.sh
python -c "import pyspark" 2>/dev/null || python -m pip install -q -e '.[spark]'
python -m pytest -m spark -q -p no:cacheprovider tests/engines
