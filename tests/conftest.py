"""Suite-wide settings: the Spark defaults of the Spark sessions that tests start in other
processes (the CLI run as a user runs it)."""

from __future__ import annotations

import os
from pathlib import Path

# Spark sessions started by real CLI processes (`mlcheck run --engine spark`) read this folder's
# spark-defaults.conf: a quick JIT and interpreted plans, as the suite's own session has
# (tests/engines/conftest.py), and 4 shuffle partitions instead of 200 (still more than one, so
# partial aggregates are merged across partitions, unlike the suite's one-partition session).
# A checklist's or the command line's settings still win over these defaults.
os.environ.setdefault("SPARK_CONF_DIR", str(Path(__file__).resolve().parent / "spark_conf"))
