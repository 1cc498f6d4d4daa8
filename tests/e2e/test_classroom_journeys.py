"""Browser journeys of a class: a lesson walked end to end, a shared link reproducing a view, projector mode, and
no English left on the Chinese pages (the app served by `streamlit run`, headless system Chromium)."""

from __future__ import annotations

import re

from journey_tools import E2E_MARKS, PLOT_DATA, ROOT, SHOTS, _no_exception, _settle, nudge_slider

pytestmark = E2E_MARKS


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
    _, shown = nudge_slider(tab, "Shots")
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


def _allowed_latin() -> set[str]:

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
