"""lab.lessons: the shipped lessons load; a malformed file is reported with its line and skipped alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.i18n import LANGUAGES
from lab.lessons import SHIPPED, load_lessons, parse_lesson, parse_with_lines
from lab.links import PAGE_PARAMS, clean_link

REQUIRED = {"What is a task?", "MAML: a good place to start", "Prototypes in the brain and in a network",
            "Memory that learns in one shot", "Learning to optimize"}


def good_lesson() -> dict:
    def text() -> dict:
        return {"en": "x", "zh": "某"}

    return {"order": 1, "title": {"en": "T", "zh": "题"}, "summary": text(),
            "steps": [{"page": "maml", "preset": {"k": 5, "steps": 1}, "task": text(), "question": text(),
                       "choices": {"en": ["a", "b"], "zh": ["甲", "乙"]}, "correct": 1, "answer": text()}]}


def test_shipped_lessons_load_in_both_languages_and_presets_are_valid() -> None:
    lessons, problems = load_lessons([SHIPPED])
    assert not problems, [str(p) for p in problems]
    assert REQUIRED <= {lesson.title["en"] for lesson in lessons}
    for lesson in lessons:
        assert set(lesson.title) == set(LANGUAGES) and 1 <= len(lesson.steps) <= 12
        for step in lesson.steps:
            assert step.page in PAGE_PARAMS and set(step.preset) <= set(PAGE_PARAMS[step.page])
            assert all(step.question[lang] and step.answer[lang] for lang in LANGUAGES)
            # The preset, spelt as a link, reads back as itself with nothing changed.
            cleaned = clean_link(step.link(), step.page)
            assert cleaned.values == step.preset and not [c for c in cleaned.changes if c.reason != "format"]
    assert [lesson.order for lesson in lessons] == sorted(lesson.order for lesson in lessons)


def test_positions_of_objects_and_keys() -> None:
    data = parse_with_lines('{\n "a": 1,\n "b": {\n   "c": [1, {"d": 2}]\n }\n}')
    assert data.line == 1 and data.key_lines == {"a": 2, "b": 3}
    assert data["b"].line == 3 and data["b"].key_lines == {"c": 4}
    assert data["b"]["c"][1].line == 4


def _problems(lesson: dict | str) -> list[str]:
    text = lesson if isinstance(lesson, str) else json.dumps(lesson, indent=1, ensure_ascii=False)
    result, problems = parse_lesson(text, "x.json")
    assert result is None
    return [str(p) for p in problems]


def _line_of(lesson: dict, needle: str) -> int:
    text = json.dumps(lesson, indent=1, ensure_ascii=False)
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_good_lesson_parses() -> None:
    lesson, problems = parse_lesson(json.dumps(good_lesson()), "x.json", "x")
    assert not problems and lesson.steps[0].preset == {"k": 5, "steps": 1} and lesson.steps[0].correct == 1


def test_invalid_json_names_its_line() -> None:
    text = json.dumps(good_lesson(), indent=1).replace('"order": 1,', '"order": 1,,')
    (problem,) = _problems(text)
    assert "line 2:" in problem and "not valid JSON" in problem


@pytest.mark.parametrize("change,needle,message", [
    (lambda d: d["steps"][0].update(page="mamll"), '"page"', 'page "mamll" does not exist'),
    (lambda d: d["steps"][0]["preset"].update(kk=3), '"kk"', 'page "maml" has no control "kk"'),
    (lambda d: d["steps"][0]["preset"].update(k=999), '"k"', '"k": 999 is not valid on page "maml" (the nearest '
                                                             'valid value is 50)'),
    (lambda d: d["steps"][0]["question"].pop("zh"), '"question"', '"question" has no "zh" text'),
    (lambda d: d["steps"][0].update(qustion={"en": "?"}), '"qustion"', 'unknown field "qustion" in step 1'),
    (lambda d: d["steps"][0].update(correct=5), '"correct"', '"correct" must be the index'),
    (lambda d: d["steps"][0]["choices"]["zh"].pop(), '"choices"', 'same number (at least 2) of options'),
    (lambda d: d.update(steps=[]), '"steps"', '"steps" must be a list of 1 to 12 steps'),
])
def test_each_mistake_is_reported_with_its_line(change, needle: str, message: str) -> None:
    lesson = good_lesson()
    change(lesson)
    problems = _problems(lesson)
    assert len(problems) == 1 and message in problems[0], problems
    assert f"line {_line_of(lesson, needle)}:" in problems[0], problems


def test_a_malformed_file_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "a_good.json").write_text(json.dumps(good_lesson()), encoding="utf-8")
    (tmp_path / "b_broken.json").write_text('{"title": ', encoding="utf-8")
    (tmp_path / "c_bad_page.json").write_text(json.dumps(dict(good_lesson(), order=0), indent=1)
                                              .replace('"maml"', '"nowhere"'), encoding="utf-8")
    (tmp_path / "d_binary.json").write_bytes(b"\xff\xfe\x00garbage")
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "a_good.json").write_text(json.dumps(good_lesson()), encoding="utf-8")  # same id: reported
    lessons, problems = load_lessons([tmp_path, teacher, tmp_path / "missing"])
    assert [lesson.id for lesson in lessons] == ["a_good"]
    text = "\n".join(str(p) for p in problems)
    assert "b_broken.json, line 1: not valid JSON" in text
    assert "c_bad_page.json, line" in text and 'page "nowhere" does not exist' in text
    assert "d_binary.json: cannot be read" in text
    assert 'lesson id "a_good" is already used' in text
