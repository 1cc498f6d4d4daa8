"""Home page and the app shell: navigation, page links, language switch."""

from __future__ import annotations

from helpers import app


def test_home_renders_with_page_links() -> None:
    at = app()
    assert not at.exception
    assert "NeuroMeta Lab" in at.title[0].value
    links = [e.proto.page for e in at.get("page_link")]
    assert any("tasks" in p for p in links) and any("maml" in p for p in links)
    assert any("Harlow" in m.value for m in at.markdown)


def test_language_switch_translates_home() -> None:
    at = app()
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception
    assert "实验室" in at.title[0].value
    assert any("为什么受大脑启发" in s.value for s in at.subheader)
