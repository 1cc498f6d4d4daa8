"""The Classroom page in AppTest: lessons listed in both languages, the answer only after a committed guess,
steps that open a page with its preset, a broken teacher's lesson reported with its line."""

from __future__ import annotations

import json

import pytest
from helpers import app

from lab.lessons import SHIPPED

FIRST = "what_is_a_task"


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(tmp_path))  # the teacher's lessons folder: empty unless a test writes one


def classroom(lang: str = "en"):
    at = app()
    if lang != "en":
        at.segmented_control(key="lang").set_value(lang).run()
    return at.switch_page("pages/classroom.py").run()


def texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [s.value for s in at.subheader] + [c.value for c in at.caption]
                     + [s.value for s in at.success] + [w.value for w in at.warning])


def test_lists_the_lessons_and_asks_before_answering() -> None:
    at = classroom()
    assert not at.exception
    titles = at.selectbox(key="lesson_pick").options  # as shown: the titles, in the lessons' order
    assert titles[0] == "What is a task?" and at.selectbox(key="lesson_pick").value == FIRST
    assert {"What is a task?", "MAML: a good place to start", "Prototypes in the brain and in a network",
            "Memory that learns in one shot", "Learning to optimize"} <= set(titles)
    lesson = json.loads((SHIPPED / f"{FIRST}.json").read_text(encoding="utf-8"))
    answer = lesson["steps"][0]["answer"]["en"]
    assert "Step 1 of 3" in texts(at) and answer not in texts(at)
    commit = at.button(key=f"commit_{FIRST}:1")
    assert commit.disabled  # nothing to commit yet
    at.radio(key=f"guess_{FIRST}:1").set_value(1).run()
    at.button(key=f"commit_{FIRST}:1").click().run()
    assert not at.exception
    assert answer in texts(at)
    assert any("Not quite" in w.value for w in at.warning)  # choice 1 is wrong; 0 is right
    assert not [r for r in at.radio if r.key == f"guess_{FIRST}:1"]  # a committed guess is locked
    at.button(key="next").click().run()
    assert "Step 2 of 3" in texts(at) and at.query_params["lesson_step"] == "2"
    link = next(p for p in at.get("page_link") if "tasks" in p.proto.page)
    assert "family=glyphs" in link.proto.query_string and "ways=5" in link.proto.query_string


def test_a_free_answer_is_committed_as_typed() -> None:
    at = app()
    at.query_params.update({"lesson": "maml", "lesson_step": "4"})
    at.switch_page("pages/classroom.py").run()
    assert "Step 4 of 4" in texts(at)
    at.text_area(key="guess_maml:4").input("lower, more points").run()
    at.button(key="commit_maml:4").click().run()
    assert not at.exception
    assert "lower, more points" in texts(at) and "Usually it falls" in texts(at)


def test_chinese_lessons_and_the_way_back_from_a_page() -> None:
    at = classroom("zh")
    assert not at.exception
    assert at.title[0].value.endswith("课堂")
    assert "第 1 步，共 3 步" in texts(at)
    radio = at.radio(key=f"guess_{FIRST}:1")
    assert radio.label == "你的猜测" and "振幅" in radio.options[0]
    at.switch_page("pages/tasks.py").run()  # the lesson stays in the sidebar of the page it opened
    assert not at.exception
    back = [p for p in at.get("page_link") if "classroom" in p.proto.page]
    assert back and back[0].proto.label == "返回课程" and "lesson=what_is_a_task" in back[0].proto.query_string
    assert any("什么是“任务”？" in c.value for c in at.caption)
    at.segmented_control(key="lang").set_value("en").run()  # the banner follows a language switch
    assert any("Lesson: What is a task? — step 1 of 3" in c.value for c in at.caption)


def test_a_broken_teacher_lesson_is_reported_with_its_line(tmp_path) -> None:
    folder = tmp_path / "lessons"
    folder.mkdir()
    good = json.loads((SHIPPED / "maml.json").read_text(encoding="utf-8"))
    good["steps"][1]["preset"]["k"] = 500
    text = json.dumps(good, indent=1, ensure_ascii=False)
    (folder / "mine.json").write_text(text, encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if '"k": 500' in row)
    at = classroom()
    assert not at.exception
    (warning,) = [w.value for w in at.warning]
    assert f"mine.json, line {line}:" in warning and '"k": 500 is not valid on page "maml"' in warning
    assert len(at.selectbox(key="lesson_pick").options) == 6  # the shipped ones still load


def test_an_unknown_lesson_in_the_link_opens_the_first_with_a_note() -> None:
    at = app()
    at.query_params.update({"lesson": "nope", "lesson_step": "x"})
    at.switch_page("pages/classroom.py").run()
    assert not at.exception
    assert any("nope" in i.value for i in at.info) and "Step 1 of 3" in texts(at)
