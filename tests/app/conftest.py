"""Make ``tests/app/helpers.py`` importable as ``helpers`` in this folder's tests, and let page runs wait for
their background jobs (the app itself polls after 1.5 s; ``test_background_jobs.py`` tests that path)."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("LAB_JOB_WAIT_S", "600")
