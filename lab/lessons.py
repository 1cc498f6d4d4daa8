"""Lessons for the Classroom page: JSON files a teacher can copy and edit, checked before a class sees them.

A lesson is one JSON file (``assets/lessons/*.json`` ship with the lab; a teacher's own go in
``$LAB_HOME/lessons``, see :func:`lesson_folders`)::

    {"order": 2,
     "title":   {"en": "MAML: a good place to start", "zh": "MAML：一个好的起点"},
     "summary": {"en": "...", "zh": "..."},
     "steps": [{"page": "maml", "preset": {"k": 10, "steps": 1},
                "task":     {"en": "Open the page ...", "zh": "..."},
                "question": {"en": "Which start ...?", "zh": "..."},
                "choices":  {"en": ["MAML", "pretrained"], "zh": ["MAML", "预训练"]},   (optional)
                "correct":  0,                                                          (optional)
                "answer":   {"en": "...", "zh": "..."}}]}

Every step opens an existing page (its ``url_path``) with a preset: URL parameters that page binds, checked
against :data:`lab.links.PAGE_PARAMS` (the key must exist and the value must be valid as it stands). A
malformed file is reported with its line number and skipped; the other lessons still load.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from json import scanner
from pathlib import Path
from typing import Any

from lab.home import lab_home
from lab.i18n import LANGUAGES
from lab.links import PAGE_PARAMS, clean_value, link_text, show_value

LESSON_KEYS = {"order", "title", "summary", "steps"}
STEP_KEYS = {"page", "preset", "task", "question", "choices", "correct", "answer"}
MAX_STEPS = 12
NOT_LESSON_PAGES = ("", "classroom")  # pages a step cannot open: home and the classroom itself


@dataclass
class Step:
    """One step: open ``page`` with ``preset`` (valid values), read ``task``, guess ``question``, see ``answer``.

    Texts are ``{language: text}``; ``choices`` is ``{language: [option, ...]}`` or empty for a free answer;
    ``correct`` is the index of the right choice, or ``None``.
    """

    page: str
    preset: dict[str, Any]
    task: dict[str, str]
    question: dict[str, str]
    answer: dict[str, str]
    choices: dict[str, list[str]] = field(default_factory=dict)
    correct: int | None = None

    def link(self) -> dict[str, str | list[str]]:
        """Return the preset as URL query parameters, spelt as the page's widgets write them (lists repeat)."""
        return {k: link_text(PAGE_PARAMS[self.page][k], v) for k, v in self.preset.items()}


@dataclass
class Lesson:
    """A lesson: its ``id`` (the file name without ``.json``), texts per language and its steps."""

    id: str
    title: dict[str, str]
    summary: dict[str, str]
    steps: list[Step]
    order: float = 100.0
    path: str = ""


@dataclass
class Problem:
    """Why a lesson file was skipped: the file, the line (1-based; 0 when the file cannot be read) and why."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}, line {self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


class _Obj(dict):
    """A JSON object that remembers the line it starts on and the line of each of its keys."""

    line: int = 1
    key_lines: dict[str, int]


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _key_lines(text: str, start: int, stop: int) -> dict[str, int]:
    """Return ``{key: line}`` for the keys at the top level of the object spanning ``text[start:stop]``."""
    out, depth, i = {}, 0, start
    while i < stop:
        ch = text[i]
        if ch == '"':
            match = re.compile(r'"((?:[^"\\]|\\.)*)"').match(text, i)
            end = match.end() if match else stop
            if depth == 1 and re.match(r"\s*:", text[end:end + 50]):
                out.setdefault(json.loads(text[i:end]), _line(text, i))
            i = end
            continue
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        i += 1
    return out


def parse_with_lines(text: str) -> Any:
    """Return the JSON value of ``text`` whose objects are dicts with ``line`` and ``key_lines`` attributes.

    Raises ``json.JSONDecodeError`` (with ``lineno``) for text that is not JSON.
    """
    decoder = json.JSONDecoder()
    plain_object = decoder.parse_object

    def parse_object(s_and_end, *args):
        s, end = s_and_end
        value, stop = plain_object(s_and_end, *args)
        obj = _Obj(value)
        obj.line, obj.key_lines = _line(s, end - 1), _key_lines(s, end - 1, stop)
        return obj, stop

    decoder.parse_object = parse_object
    decoder.scan_once = scanner.py_make_scanner(decoder)  # the C scanner would ignore parse_object
    return decoder.decode(text)


def _where(obj: Any, key: str | None = None) -> int:
    if isinstance(obj, _Obj):
        return obj.key_lines.get(key, obj.line) if key else obj.line
    return 0


class _Checker:
    """Collects the problems of one lesson file."""

    def __init__(self, path: str) -> None:
        self.path, self.problems = path, []

    def fail(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    def texts(self, parent: dict, key: str, required: bool = True) -> dict[str, str]:
        value = parent.get(key)
        if value is None:
            if required:
                self.fail(_where(parent), f'"{key}" is missing; give it as {{"en": "...", "zh": "..."}}')
            return {}
        if not isinstance(value, dict):
            self.fail(_where(parent, key), f'"{key}" must be an object {{"en": "...", "zh": "..."}}')
            return {}
        for lang in LANGUAGES:
            if not isinstance(value.get(lang), str) or not value[lang].strip():
                self.fail(_where(value, lang) or _where(parent, key), f'"{key}" has no "{lang}" text')
        return {lang: value[lang] for lang in LANGUAGES if isinstance(value.get(lang), str)}

    def unknown_keys(self, obj: dict, allowed: set[str], what: str) -> None:
        for key in obj:
            if key not in allowed:
                self.fail(_where(obj, key), f'unknown field "{key}" in {what}; allowed: {", ".join(sorted(allowed))}')

    def preset(self, step: dict, page: str) -> dict[str, Any]:
        preset = step.get("preset", {})
        if not isinstance(preset, dict):
            self.fail(_where(step, "preset"), '"preset" must be an object of URL parameters, e.g. {"k": 5}')
            return {}
        specs, values = PAGE_PARAMS.get(page, {}), {}
        for key, raw in preset.items():
            if key not in specs:
                self.fail(_where(preset, key), f'page "{page}" has no control "{key}"; it has: {", ".join(specs)}')
                continue
            text = [show_value(x) for x in raw] if isinstance(raw, list) else show_value(raw)
            value, reason = clean_value(specs[key], text, values)
            if reason not in (None, "format"):
                self.fail(_where(preset, key), f'"{key}": {json.dumps(raw, ensure_ascii=False)} is not valid on '
                                               f'page "{page}" (the nearest valid value is {show_value(value)})')
                continue
            values[key] = value
        return values

    def step(self, raw: Any, number: int, line: int) -> Step | None:
        if not isinstance(raw, dict):
            self.fail(line, f"step {number} must be an object")
            return None
        before = len(self.problems)
        self.unknown_keys(raw, STEP_KEYS, f"step {number}")
        page = raw.get("page")
        if page not in PAGE_PARAMS or page in NOT_LESSON_PAGES:
            choices = ", ".join(p for p in PAGE_PARAMS if p not in NOT_LESSON_PAGES)
            self.fail(_where(raw, "page"), f'step {number}: page {json.dumps(page, ensure_ascii=False)} does not '
                                           f"exist; choose one of {choices}")
            page = None
        preset = self.preset(raw, page) if page else {}
        texts = {k: self.texts(raw, k) for k in ("task", "question", "answer")}
        choices: dict[str, list[str]] = {}
        if "choices" in raw:
            value = raw["choices"]
            ok = isinstance(value, dict) and all(
                isinstance(value.get(lang), list) and len(value[lang]) >= 2
                and all(isinstance(c, str) and c.strip() for c in value[lang]) for lang in LANGUAGES)
            if not ok or len({len(value[lang]) for lang in LANGUAGES}) != 1:
                self.fail(_where(raw, "choices"), '"choices" must give the same number (at least 2) of options '
                                                  'in every language: {"en": [...], "zh": [...]}')
            else:
                choices = {lang: list(value[lang]) for lang in LANGUAGES}
        correct = raw.get("correct")
        bad_choices = "choices" in raw and not choices  # already reported
        if correct is not None and not bad_choices and (not choices or not isinstance(correct, int) or isinstance(correct, bool)
                                    or not 0 <= correct < len(choices["en"])):
            self.fail(_where(raw, "correct"), '"correct" must be the index (from 0) of one of the "choices"')
        if len(self.problems) > before:
            return None
        return Step(page, preset, texts["task"], texts["question"], texts["answer"], choices, correct)


def parse_lesson(text: str, path: str = "<lesson>", lesson_id: str = "lesson") -> tuple[Lesson | None, list[Problem]]:
    """Return ``(lesson, [])`` for a valid lesson ``text``, else ``(None, problems)`` each with its line."""
    check = _Checker(path)
    try:
        data = parse_with_lines(text)
    except json.JSONDecodeError as exc:
        return None, [Problem(path, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})")]
    if not isinstance(data, dict):
        return None, [Problem(path, 1, "a lesson must be a JSON object with title, summary and steps")]
    check.unknown_keys(data, LESSON_KEYS, "the lesson")
    title, summary = check.texts(data, "title"), check.texts(data, "summary")
    order = data.get("order", 100)
    if not isinstance(order, int | float) or isinstance(order, bool):
        check.fail(_where(data, "order"), '"order" must be a number (lessons are listed by it)')
    raw_steps = data.get("steps")
    steps = []
    if not isinstance(raw_steps, list) or not 1 <= len(raw_steps) <= MAX_STEPS:
        check.fail(_where(data, "steps"), f'"steps" must be a list of 1 to {MAX_STEPS} steps')
    else:
        steps = [check.step(raw, i + 1, _where(data, "steps")) for i, raw in enumerate(raw_steps)]
    if check.problems:
        return None, check.problems
    return Lesson(lesson_id, title, summary, steps, float(order), path), []


SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "lessons"


def lesson_folders() -> list[Path]:
    """Return the folders lessons are read from: the shipped ``assets/lessons``, then ``$LAB_HOME/lessons``.

    Lessons are text shipped with the code, so ``LAB_ASSETS_DIR`` (another checkpoint folder) does not move them.
    """
    return [SHIPPED, lab_home() / "lessons"]


def load_lessons(folders: list[Path] | None = None) -> tuple[list[Lesson], list[Problem]]:
    """Return every valid lesson in ``folders`` (default :func:`lesson_folders`) sorted by order, and the
    problems of the files that were skipped. A lesson id (file name) seen twice keeps the first one."""
    lessons: dict[str, Lesson] = {}
    problems: list[Problem] = []
    for folder in folders if folders is not None else lesson_folders():
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(Problem(str(path), 0, f"cannot be read ({exc})"))
                continue
            lesson, trouble = parse_lesson(text, str(path), path.stem)
            problems += trouble
            if lesson is None:
                continue
            if lesson.id in lessons:
                problems.append(Problem(str(path), 0, f'lesson id "{lesson.id}" is already used by '
                                                      f"{lessons[lesson.id].path}; rename the file"))
                continue
            lessons[lesson.id] = lesson
    return sorted(lessons.values(), key=lambda x: (x.order, x.id)), problems


def lessons_stamp(folders: list[Path] | None = None) -> str:
    """Return a tag that changes whenever a lesson file is added, removed or edited (it keys the page's cache)."""
    parts = []
    for folder in folders if folders is not None else lesson_folders():
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                stat = path.stat()
            except OSError:
                continue
            parts.append(f"{path}:{stat.st_mtime_ns}:{stat.st_size}")
    return "|".join(parts)
