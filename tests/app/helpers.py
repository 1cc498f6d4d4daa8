"""Shared helpers for the AppTest page tests."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90  # seconds per script run: generous for a shared 2-core CPU


def page(path: str) -> AppTest:
    """Return an AppTest of one page file (run on its own, language defaults to English)."""
    return AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT)


def app() -> AppTest:
    """Return an AppTest of the whole app (app.py: language switch + navigation), already run twice.

    AppTest resets Streamlit's legacy pages-directory flag, so its first run goes through that mode (see
    app.py's docstring) and registers the sidebar widgets under other ids; from the second run on it is the
    app a browser gets. (A real server was checked in tests/e2e: switching language works on first load.)
    """
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    return at.run().run()


def figures(at: AppTest) -> dict[str, dict]:
    """Return the rendered plotly figures as ``{chart key suffix: figure JSON}``."""
    out = {}
    for chart in at.get("plotly_chart"):
        out[chart.proto.id.rsplit("-", 1)[-1]] = json.loads(chart.proto.spec)
    return out


def alerts(at: AppTest) -> list[str]:
    """Return the text of every error and warning element on the page."""
    return [e.value for e in at.error] + [w.value for w in at.warning]
