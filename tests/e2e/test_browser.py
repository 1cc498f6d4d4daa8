"""Browser journeys: the real app served by `streamlit run`, driven in headless Chromium with Playwright.

Uses the system Chromium at /usr/bin/chromium (never `playwright install`). Screenshots of every page go to
$LAB_SCREENSHOTS (default /tmp/neurometa_screens) so a person can look at what a class would see.
"""

from __future__ import annotations

import hashlib
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
pytestmark = [
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


def test_deep_link_in_chinese_on_a_fresh_server(page, server: str) -> None:
    # First visit of the server process, straight to a page: must still go through app.py (see its docstring).
    page.goto(f"{server}/maml?lang=简体中文")
    _settle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    assert "一个学得快的起点" in page.locator('[data-testid="stMain"]').inner_text()
    _no_exception(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "maml_zh.png"), full_page=True)
    assert page.locator('[data-testid="stSidebarNav"]').inner_text().count("MAML") == 1


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_without_exception(page, server: str, name: str) -> None:
    page.goto(f"{server}/{PAGES[name]}")
    _settle(page)
    if name != "home":
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    _no_exception(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_maml_slider_changes_the_chart(page, server: str) -> None:
    page.goto(f"{server}/maml")
    _settle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    before = page.evaluate(PLOT_DATA)
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Inner gradient steps").get_by_role("slider")
    thumb.focus()
    for _ in range(3):
        thumb.press("ArrowRight")
    page.wait_for_function(f"(before) => ({PLOT_DATA})().join() !== before.join()", arg=before, timeout=60_000)
    _settle(page)
    after = page.evaluate(PLOT_DATA)
    assert hashlib.sha1("".join(after).encode()).hexdigest() != hashlib.sha1("".join(before).encode()).hexdigest()
    assert "steps=13" in page.url, page.url  # the moved control is in the shareable link
    _no_exception(page)


def test_language_switch_click_keeps_the_settings(page, server: str) -> None:
    page.goto(f"{server}/maml?steps=4")
    _settle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    page.get_by_role("radio", name="简体中文").click()
    page.wait_for_function("() => document.querySelector('h1').innerText.includes('起点')", timeout=60_000)
    _settle(page)
    assert "steps=4" in page.url and "lang=" in page.url, page.url
    page.get_by_role("radio", name="English").click()
    page.wait_for_function("() => document.querySelector('h1').innerText.includes('starting point')", timeout=60_000)
    _no_exception(page)


def test_maml_images_tab_animates_and_its_steps_slider_redraws(page, server: str) -> None:
    page.goto(f"{server}/maml")
    _settle(page)
    page.get_by_role("tab", name="Characters (few-shot classification)").click()
    page.wait_for_function("() => location.search.includes('tab=images')", timeout=60_000)
    _settle(page)
    chart = page.locator(".js-plotly-plot").filter(has=page.locator(".imagelayer image")).first
    chart.wait_for(timeout=60_000)  # the episode drawn as one image, with the animation's controls below it
    assert chart.locator(".updatemenu-button").count() == 2 and chart.locator(".slider-container").count() == 1
    before = page.evaluate(PLOT_DATA)
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Inner gradient steps").get_by_role("slider")
    thumb.focus()
    for _ in range(2):
        thumb.press("ArrowLeft")
    page.wait_for_function(f"(before) => ({PLOT_DATA})().join() !== before.join()", arg=before, timeout=60_000)
    _settle(page)
    assert "img_steps=3" in page.url and "tab=images" in page.url, page.url
    chart = page.locator(".js-plotly-plot").filter(has=page.locator(".imagelayer image")).first
    assert chart.evaluate("e => e.layout.sliders[0].steps.length") == 4  # frames 0..3 on the animation's slider
    chart.locator(".updatemenu-button").first.click()  # Play: the frames run without an error
    page.wait_for_timeout(2_500)
    _no_exception(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "maml_images.png"), full_page=True)
    page.get_by_role("radio", name="简体中文").click()  # the language switch keeps the open tab and its settings
    page.wait_for_function("() => document.querySelector('h1').innerText.includes('起点')", timeout=60_000)
    _settle(page)
    assert page.get_by_role("tab", name="字符（小样本分类）").get_attribute("aria-selected") == "true"
    assert "img_steps=3" in page.url and "tab=images" in page.url, page.url
    page.get_by_role("radio", name="English").click()
    page.wait_for_function("() => document.querySelector('h1').innerText.includes('starting point')", timeout=60_000)
    _settle(page)
    page.get_by_role("tab", name="Sine waves (regression)").click()
    page.wait_for_function("() => !location.search.includes('tab=')", timeout=60_000)
    _settle(page)
    _no_exception(page)


def test_protonet_shots_slider_and_a_click_on_a_query(page, server: str) -> None:
    page.goto(f"{server}/protonet")
    _settle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    before = page.evaluate(PLOT_DATA)
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Shots").get_by_role("slider")
    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_function(f"(before) => ({PLOT_DATA})().join() !== before.join()", arg=before, timeout=60_000)
    _settle(page)
    assert page.evaluate(PLOT_DATA)[0] != before[0]  # the embedding map is redrawn for 2 shots
    assert "shots=2" in page.url, page.url
    # Click the query marker (5 ways x 5 queries: the trace with 25 points) farthest from any other marker, so
    # that no star or neighbour takes the click: its drawing appears beside its class's support drawings.
    x, y = page.evaluate(CLEAR_QUERY, 25)
    page.mouse.click(x, y)
    page.locator(".gtitle", has_text="clicked query").first.wait_for(timeout=60_000)
    _settle(page)
    _no_exception(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "protonet_clicked.png"), full_page=True)


def test_compare_page_shows_the_table(page, server: str) -> None:
    # Few episodes: this journey checks the page, not the learners (with no few-shot checkpoints in the
    # assets folder only the pixel baseline runs, which is still a table and a plot).
    page.goto(f"{server}/compare?episodes=10&queries=2")
    _settle(page, timeout_ms=180_000)
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=180_000)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    _no_exception(page)
    assert page.locator('[data-testid="stDownloadButton"]').count() == 1
    assert "episodes=10" in page.url, page.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)


def test_meta_rl_play_harlow_then_see_the_network(page, server: str) -> None:
    # The student plays one Harlow episode with the buttons; the network's curves then appear beside theirs.
    page.goto(f"{server}/meta_rl?task=harlow")
    _settle(page)
    assert page.locator(".js-plotly-plot").count() == 0  # play first
    for trial in range(6):
        page.locator(".st-key-play_right button").click()
        page.wait_for_function(f"() => document.body.innerText.includes('{'trial ' if trial < 5 else 'Episode '}')")
        _settle(page)
    page.get_by_text("Episode finished").wait_for(timeout=60_000)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    _no_exception(page)
    assert page.locator(".gtitle", has_text="Who learns the pair").count() == 1
    assert "task=harlow" in page.url, page.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "meta_rl_harlow.png"), full_page=True)


def test_memory_page_steps_through_an_episode(page, server: str) -> None:
    # A class's 2nd sight: the step slider (in the URL) moves the animation's step; Play runs the frames.
    page.goto(f"{server}/memory?step=12")
    _settle(page)
    chart = page.locator(".js-plotly-plot").filter(has=page.locator(".imagelayer image")).first
    chart.wait_for(timeout=60_000)
    assert chart.locator(".updatemenu-button").count() == 2 and chart.locator(".slider-container").count() == 1
    assert chart.evaluate("e => e.layout.sliders[0].active") == 11
    title = chart.evaluate("e => e.layout.xaxis.title.text")
    assert title.startswith("Step 12:"), title
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Step to explain").get_by_role("slider")
    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_function("() => location.search.includes('step=13')", timeout=60_000)
    _settle(page)
    chart = page.locator(".js-plotly-plot").filter(has=page.locator(".imagelayer image")).first
    assert chart.evaluate("e => e.layout.xaxis.title.text").startswith("Step 13:")
    chart.locator(".updatemenu-button").first.click()  # Play: the frames run without an error
    page.wait_for_timeout(2_500)
    chart.locator(".updatemenu-button").nth(1).click()  # Pause
    _no_exception(page)
    assert page.get_by_text("Store, then recall").count() == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "memory.png"), full_page=True)


def test_optimizers_click_on_the_map_moves_the_start_and_the_race_plays(page, server: str) -> None:
    # Clicking the map starts every optimizer from there; then the race animates (Play runs the frames).
    page.goto(f"{server}/optimizers?landscape=rosenbrock&steps=60")
    _settle(page)
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=60_000)
    assert chart.locator(".updatemenu-button").count() == 2 and chart.locator(".slider-container").count() == 1
    # A point of the invisible click grid near the bottom-right corner, far from every path: (1.72, -1).
    # (Known limit: after Play has run, plotly no longer reports clicks as selections until the next rerun.)
    point = chart.locator(".scatterlayer .trace").last.locator("path.point").nth(27)
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => location.search.includes('x0=1.72')", timeout=60_000)
    _settle(page)
    _no_exception(page)
    chart = page.locator(".js-plotly-plot").first
    assert abs(chart.evaluate("e => e.data.find(t => t.name === 'start').x[0]") - 1.72) < 1e-3
    chart.locator(".updatemenu-button").first.click()  # Play
    page.wait_for_timeout(2_500)
    chart.locator(".updatemenu-button").nth(1).click()  # Pause
    assert chart.evaluate("e => e.layout.images.length") == 1  # the landscape stays under the paths
    _no_exception(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "optimizers.png"), full_page=True)


# --- Classroom journeys (issue 8): a lesson end to end, a shared link, projector mode, Chinese throughout ---


def test_a_lesson_walked_end_to_end(page, server: str) -> None:
    # Guess, commit, see the answer; open the step's page with its preset; come back; walk every step.
    page.goto(f"{server}/classroom?lesson=maml")
    page.get_by_text("Step 1 of 4").wait_for(timeout=60_000)
    _settle(page)
    main = page.locator('[data-testid="stMain"]')
    assert "Step 1 of 4" in main.inner_text() and "is not the answer to any one task" not in main.inner_text()
    page.get_by_text("No: it is a general starting curve, not fitted to this task yet").click()
    _settle(page)
    page.get_by_role("button", name="Commit my guess").click()
    page.get_by_text("Right: No: it is a general starting curve").wait_for(timeout=60_000)
    assert "is not the answer to any one task" in main.inner_text()
    page.get_by_role("link", name="Open MAML with this set-up").click()
    page.wait_for_function("() => location.pathname.endsWith('/maml')", timeout=60_000)
    _settle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    steps = page.locator('[data-testid="stSlider"]').filter(has_text="Inner gradient steps")
    assert steps.get_by_test_id("stSliderThumbValue").inner_text() == "0", page.url  # the preset is open
    assert "steps=0" in page.url, page.url
    page.get_by_role("link", name="Back to the lesson").click()
    page.wait_for_function("() => location.pathname.endsWith('/classroom')", timeout=60_000)
    _settle(page)
    assert "Step 1 of 4" in main.inner_text() and "is not the answer to any one task" in main.inner_text()
    for number, answer in ((2, "MAML was meta-trained for exactly this"), (3, "Too large a step"),
                           (4, "Usually it falls")):
        page.get_by_role("button", name="Next step").click()
        page.get_by_text(f"Step {number} of 4").wait_for(timeout=60_000)
        _settle(page)
        if number < 4:
            page.locator('[data-testid="stRadio"] [role="radiogroup"] label').first.click()
        else:  # a free answer: typed, then submitted with Ctrl+Enter like any Streamlit text area
            box = page.get_by_label("Your guess")
            box.fill("lower: more points pin the wave down")
            box.press("Control+Enter")
        _settle(page)
        page.get_by_role("button", name="Commit my guess").click()
        page.get_by_text(answer).wait_for(timeout=60_000)
        _settle(page)
    assert "lesson_step=4" in page.url and "lesson=maml" in page.url, page.url
    _no_exception(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "classroom.png"), full_page=True)


def test_a_shared_link_reproduces_the_view(page, server: str) -> None:
    browser = page.context.browser
    teacher = browser.new_context(viewport={"width": 1440, "height": 2600},
                                  permissions=["clipboard-read", "clipboard-write"])
    tab = teacher.new_page()
    tab.goto(f"{server}/protonet?ways=7&seed=5")
    _settle(tab)
    tab.wait_for_selector(".js-plotly-plot", timeout=60_000)
    before = tab.evaluate(PLOT_DATA)
    thumb = tab.locator('[data-testid="stSlider"]').filter(has_text="Shots").get_by_role("slider")
    thumb.focus()
    thumb.press("ArrowRight")
    tab.wait_for_function(f"(before) => ({PLOT_DATA})().join() !== before.join()", arg=before, timeout=60_000)
    _settle(tab)
    shown = tab.evaluate(PLOT_DATA)
    tab.locator("#lab-copy-link").click()
    link = tab.evaluate("navigator.clipboard.readText()")
    assert "ways=7" in link and "seed=5" in link and "shots=2" in link, link
    student = browser.new_context(viewport={"width": 1440, "height": 2600}).new_page()  # another session
    student.goto(link)
    _settle(student)
    student.wait_for_selector(".js-plotly-plot", timeout=60_000)
    assert student.evaluate(PLOT_DATA) == shown  # the same episode, embedding map and curves
    # A link with values the page cannot use opens with the nearest valid ones and says what changed.
    student.goto(f"{server}/maml?k=999&lr=abc&steps=3")
    _settle(student)
    note = student.locator('[data-testid="stAlert"]').filter(has_text="nearest valid").inner_text()
    assert "999" in note and "using 50" in note and "abc" in note
    k = student.locator('[data-testid="stSlider"]').filter(has_text="K shots")
    assert k.get_by_test_id("stSliderThumbValue").inner_text() == "50"
    _no_exception(student)
    teacher.close()
    student.context.close()


def test_projector_mode_on(page, server: str) -> None:
    page.goto(f"{server}/maml?projector=1")
    _settle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "22px"
    fonts = page.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(e => e.layout.font.size)")
    assert fonts and min(fonts) >= 20
    widths = page.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(e => e.data)"
                           ".filter(t => t.type === 'scatter' && (t.mode || 'lines').includes('lines'))"
                           ".map(t => t.line.width)")
    assert widths and min(widths) >= 3
    assert page.get_by_role("switch", name="Projector mode").is_checked()
    _no_exception(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "maml_projector.png"), full_page=True)
    page.get_by_text("Projector mode").click()  # and off again
    page.wait_for_function("() => getComputedStyle(document.documentElement).fontSize !== '22px'", timeout=60_000)


# Lower-case Latin words allowed on a Chinese page: the link's own option values and parameter names (kept
# language-neutral on purpose, with Chinese captions), Material icon names (ligatures), and terms quoted in
# parentheses as a glossary. Anything else is English left in a Chinese page.
ZH_PAGES = ["", "tasks", "maml", "protonet", "relation", "memory", "optimizers", "meta_rl", "virtual", "classroom"]
VISIBLE_TEXT = """() => { const c = document.querySelector('[data-testid="stApp"]').cloneNode(true);
  c.querySelectorAll('[data-testid="stIconMaterial"], .js-plotly-plot .modebar, style, script, a[href="#main"], code')
   .forEach(e => e.remove());
  return c.textContent; }"""


def test_virtual_page_style_slider_walks_only_the_style(page, server: str) -> None:
    page.goto(f"{server}/virtual")
    _settle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    before = page.evaluate(PLOT_DATA)
    assert len(before) == 3  # gallery, latent walk, accuracy curve
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Style code").get_by_role("slider")
    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_function(f"(before) => ({PLOT_DATA})().join() !== before.join()", arg=before, timeout=60_000)
    _settle(page)
    after = page.evaluate(PLOT_DATA)
    assert after[0] == before[0] and after[2] == before[2]  # gallery and curve untouched
    assert after[1] != before[1]  # the walk is redrawn
    assert "style_t=0.05" in page.url, page.url
    _no_exception(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "virtual_style.png"), full_page=True)


def _allowed_latin() -> set[str]:
    import re

    from lab.links import PAGE_PARAMS

    # Glossary terms in parentheses, "N-way K-shot", a citation's "van de Ven", math (cos, log) and Streamlit's
    # hidden "skip to main content" link. (Code, file names and paths are taken out of the text before.)
    words = {"episode", "cos", "log", "softmax", "cortex", "prefrontal", "rostrolateral", "way", "shot", "van",
             "app", "content", "main"}
    for specs in PAGE_PARAMS.values():
        for key, spec in specs.items():
            words |= set(re.findall(r"[a-z]+", key))
            for option in getattr(spec, "options", ()):
                words |= set(re.findall(r"[a-z]+", str(option).lower()))
    for source in [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]:
        words |= set(re.findall(r":material/([a-z_]+):", source.read_text(encoding="utf-8")))
        words |= {w for name in re.findall(r":material/([a-z_]+):", source.read_text(encoding="utf-8"))
                  for w in name.split("_")}
    return words


def test_chinese_pages_leave_no_english(page, server: str) -> None:
    import re

    allowed = _allowed_latin()
    for name in ZH_PAGES:
        page.goto(f"{server}/{name}?lang=简体中文")
        page.wait_for_function("() => /[\u4e00-\u9fff]{8}/.test("
                               "document.querySelector('[data-testid=\"stMain\"]')?.innerText || '')", timeout=60_000)
        _settle(page)
        if name not in ("", "classroom", "meta_rl"):
            page.wait_for_selector(".js-plotly-plot", timeout=60_000)
            _settle(page)
        text = page.evaluate(VISIBLE_TEXT) + " ".join(
            page.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot .main-svg text'))"
                          ".map(e => e.textContent)"))
        assert sum("\u4e00" <= ch <= "\u9fff" for ch in text) > 100, (name, text[:300])  # the page did render
        text = re.sub(r"[\w\-]*[/_.][\w\-/.]*", " ", text)  # file names and paths
        english = sorted({w for w in re.findall(r"(?<![A-Za-z])[a-z][a-z]{2,}(?![A-Za-z])", text)} - allowed)
        assert not english, (name, english, [text[max(0, text.find(w) - 60): text.find(w) + 40] for w in english])
        _no_exception(page)
