"""Make ``tests/e2e/journey_tools.py`` importable and its ``server`` and ``page`` fixtures visible to every journey."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from journey_tools import page, server  # noqa: E402, F401
