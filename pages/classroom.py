"""Classroom: lessons, each a few steps that open a page with a preset and ask a question before the answer.

Lessons are JSON files (:mod:`lab.lessons`: ``assets/lessons`` and the teacher's ``$LAB_HOME/lessons``); a
malformed one is listed with the line that is wrong. The lesson and step are in the link (``?lesson=maml&
lesson_step=2``); a student's guesses stay in their own session.
"""

from __future__ import annotations

import streamlit as st

from lab.i18n import translator
from lab.lessons import Lesson, Step, lessons_stamp, load_lessons
from pages import LESSON, run_through_app, shell_params

run_through_app()

tr = translator(st.session_state.get("lang", "en"))
GUESSES = "classroom_guesses"  # {"lesson:step": the committed guess}, this student's only


@st.cache_data(show_spinner=False, max_entries=8)
def lessons(stamp: str) -> tuple[list[Lesson], list[str]]:
    """Return the lessons and the problems of skipped files as of ``stamp`` (an edited file is re-read)."""
    found, problems = load_lessons()
    return found, [str(p) for p in problems]


def pick_lesson(found: list[Lesson]) -> tuple[Lesson, int]:
    """Draw the lesson picker; return the lesson and the 1-based step, both kept in the link."""
    ids = [lesson.id for lesson in found]
    wanted, step = st.query_params.get("lesson"), st.query_params.get("lesson_step", "1")
    if "lesson_pick" not in st.session_state or st.session_state.get("_lesson_link") != (wanted, step):
        if wanted is not None and wanted not in ids:
            st.info(tr("classroom.unknown", lesson=wanted[:40]), icon=":material/build:")
        st.session_state["lesson_pick"] = wanted if wanted in ids else ids[0]
    titles = {lesson.id: lesson.title[tr.lang] for lesson in found}
    lesson_id = st.selectbox(tr("classroom.pick"), ids, key="lesson_pick", format_func=titles.get)
    lesson = found[ids.index(lesson_id)]
    number = int(step) if step.isdigit() and wanted == lesson_id else 1
    number = min(max(number, 1), len(lesson.steps))
    st.query_params.update(lesson=lesson.id, lesson_step=str(number))
    st.session_state["_lesson_link"] = (lesson.id, str(number))
    return lesson, number


def go_to(lesson: Lesson, number: int) -> None:
    """Button callback: move to step ``number`` of ``lesson`` (the link follows)."""
    st.query_params.update(lesson=lesson.id, lesson_step=str(number))


def guess_box(lesson: Lesson, number: int, step: Step) -> None:
    """Ask the step's question; reveal the answer once the student has committed a guess."""
    key = f"{lesson.id}:{number}"
    guesses = st.session_state.setdefault(GUESSES, {})
    st.markdown(f"**{tr('classroom.question')}** {step.question[tr.lang]}")
    if key not in guesses:
        choices = step.choices.get(tr.lang)
        if choices:
            guess = st.radio(tr("classroom.your_guess"), range(len(choices)), index=None, key=f"guess_{key}",
                             format_func=lambda i: choices[i])
        else:
            guess = st.text_area(tr("classroom.your_guess"), key=f"guess_{key}", placeholder=tr("classroom.type"))
            guess = guess.strip() or None
        st.button(tr("classroom.commit"), key=f"commit_{key}", disabled=guess is None, type="primary",
                  icon=":material/lock:", on_click=guesses.__setitem__, args=(key, guess))
        st.caption(tr("classroom.commit_hint"))
        return
    guess = guesses[key]
    shown = step.choices[tr.lang][guess] if isinstance(guess, int) and step.choices else guess
    st.markdown(f"{tr('classroom.you_said')} *{shown}*")
    if step.correct is not None:
        right = guess == step.correct
        (st.success if right else st.warning)(tr("classroom.right" if right else "classroom.not_quite",
                                                 answer=step.choices[tr.lang][step.correct]))
    with st.container(border=True):
        st.markdown(f"**{tr('classroom.answer')}** {step.answer[tr.lang]}")


def step_view(lesson: Lesson, number: int) -> None:
    """Show one step: what to do, the link that opens the page with its preset, the question and answer."""
    step = lesson.steps[number - 1]
    st.subheader(tr("classroom.step", i=number, n=len(lesson.steps)))
    st.markdown(step.task[tr.lang])
    st.session_state[LESSON] = {"lesson": lesson.id, "step": number, "steps": len(lesson.steps),
                                "title": lesson.title}  # every language: the student may switch
    st.page_link(f"pages/{step.page}.py", label=tr("classroom.open", page=tr(f"nav.{step.page}")),
                 icon=":material/open_in_browser:", query_params=shell_params() | step.link())
    if step.preset:
        st.caption(tr("classroom.preset", items=", ".join(f"{k}={v}" for k, v in step.link().items())))
    guess_box(lesson, number, step)
    left, right = st.columns(2)
    left.button(tr("classroom.prev"), key="prev", disabled=number == 1, on_click=go_to, args=(lesson, number - 1),
                icon=":material/arrow_back:")
    right.button(tr("classroom.next"), key="next", disabled=number == len(lesson.steps), on_click=go_to,
                 args=(lesson, number + 1), icon=":material/arrow_forward:")


def main() -> None:
    """Render the page top to bottom."""
    st.title(":material/school: " + tr("classroom.title"))
    st.markdown(tr("classroom.intro"))
    found, problems = lessons(lessons_stamp())
    for problem in problems:
        st.warning(tr("classroom.problem", problem=problem), icon=":material/error:")
    if not found:
        st.error(tr("classroom.none"), icon=":material/block:")
        return
    lesson, number = pick_lesson(found)
    st.markdown(f"*{lesson.summary[tr.lang]}*")
    step_view(lesson, number)


main()
