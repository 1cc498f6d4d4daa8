"""What the browser journeys share: the app served by `streamlit run` for a module of tests, a headless
system-Chromium page, and the helpers that wait for a rerun or look for an exception on the page."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("LAB_SCREENSHOTS", "/tmp/neurometa_screens"))
PAGES = {"home": "", "tasks": "tasks", "maml": "maml", "protonet": "protonet", "virtual": "virtual"}
PLOT_DATA = "() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(e => JSON.stringify(e.data))"
# Screen centre of the marker, in the first chart's trace of n points, that lies farthest from every other marker.
CLEAR_QUERY = """(n) => {
  const centre = p => { const r = p.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; };
  const traces = Array.from(document.querySelector('.js-plotly-plot').querySelectorAll('.scatterlayer .trace'));
  const all = traces.flatMap(t => Array.from(t.querySelectorAll('path.point')).map(centre));
  const mine = traces.map(t => Array.from(t.querySelectorAll('path.point')).map(centre)).find(c => c.length === n);
  const gap = c => Math.min(...all.filter(o => o !== c && (o[0] !== c[0] || o[1] !== c[1]))
                                  .map(o => Math.hypot(o[0] - c[0], o[1] - c[1])));
  return mine.reduce((best, c) => gap(c) > gap(best) ? c : best);
}"""

# CI sets LAB_REQUIRE_E2E=1 (and installs chromium) so a missing browser fails there instead of skipping.
_MISSING_CHROMIUM = not CHROMIUM.exists() and not os.environ.get("LAB_REQUIRE_E2E")
E2E_MARKS = [  # every journey module sets pytestmark = E2E_MARKS
    pytest.mark.e2e,
    pytest.mark.skipif(_MISSING_CHROMIUM, reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer on port {port} within {timeout}s")


def _assets_for_run(test_assets: Path, folder: Path) -> Path:
    """Return ``folder`` filled with links to every checkpoint the app loads: the shipped one where it exists
    (meaningful screenshots), else the untrained test one (a checkpoint not yet made still gets its page)."""
    shipped = ROOT / "assets"
    for pt in test_assets.glob("*.pt"):
        stem = pt.stem
        source = shipped if all((shipped / f"{stem}.{ext}").exists() for ext in ("pt", "json")) else test_assets
        for ext in ("pt", "json"):
            (folder / f"{stem}.{ext}").symlink_to(source / f"{stem}.{ext}")
    for report in test_assets.glob("*.json"):  # result files without weights (the Virtual tasks curve)
        if not report.with_suffix(".pt").exists():
            (folder / report.name).symlink_to(shipped / report.name if (shipped / report.name).exists() else report)
    return folder


@pytest.fixture(scope="module")
def server(lab_assets: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `streamlit run app.py` on a free port; yield its URL; stop it at the end."""
    port = _free_port()
    assets = _assets_for_run(lab_assets, tmp_path_factory.mktemp("e2e_assets"))
    # Pages wait for their background evaluations (the app polls after 1.5 s), so that a journey comparing two
    # sessions' figures never catches one of them mid-poll; test_background_jobs.py covers the polling.
    env = dict(os.environ, LAB_ASSETS_DIR=str(assets), LAB_HOME=str(tmp_path_factory.mktemp("e2e_home")),
               LAB_JOB_WAIT_S="600")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
         str(port), "--client.showErrorDetails", "full"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def page(server: str):
    """Yield a Playwright page in headless system Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"])
        tab = browser.new_page(viewport={"width": 1440, "height": 2600})
        yield tab
        browser.close()


def _settle(tab, timeout_ms: int = 60_000) -> None:
    """Wait until the app has finished its rerun (the 'running' status widget is gone)."""
    tab.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    tab.wait_for_timeout(500)
    tab.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)
    tab.wait_for_timeout(300)


def _no_exception(tab) -> None:
    assert tab.locator('[data-testid="stException"]').count() == 0, tab.locator(
        '[data-testid="stException"]').first.inner_text()


def nudge_slider(tab, label: str) -> tuple[list, list]:
    """Press ArrowRight on the slider labelled ``label`` once the page's charts are drawn; return the plotly data
    of every chart before and after the page redrew."""
    tab.wait_for_selector(".js-plotly-plot", timeout=60_000)
    before = tab.evaluate(PLOT_DATA)
    thumb = tab.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
    thumb.focus()
    thumb.press("ArrowRight")
    tab.wait_for_function(f"(before) => ({PLOT_DATA})().join() !== before.join()", arg=before, timeout=60_000)
    _settle(tab)
    return before, tab.evaluate(PLOT_DATA)
