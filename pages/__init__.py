"""Streamlit helpers shared by the page scripts (Streamlit never lists ``__init__.py`` as a page)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable
from typing import Any
from urllib.parse import urlencode

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from lab.jobs import BOARD, Job
from lab.links import PAGE_PARAMS, URL_ONLY, clean_link, link_text, show_value
from lab.viz.style import set_projector


def run_through_app() -> None:
    """Rerun through ``app.py`` if this page was opened in Streamlit's legacy pages-directory mode.

    A deep link opened before any session ran ``app.py`` runs the page alone, without the language switch
    and page list (see ``app.py``'s docstring); turning the mode off and rerunning fixes that.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def brain_link_and_try_this(tr: Callable[..., str], page: str, n_prompts: int = 3) -> None:
    """Draw the page's "brain link" panel and its numbered "try this" prompts (keys ``{page}.brain.*``)."""
    with st.container(border=True):
        st.subheader(":material/psychology: " + tr(f"{page}.brain.title"))
        st.markdown(tr(f"{page}.brain.body"))
    st.subheader(":material/science: " + tr("common.try_this"))
    st.markdown("\n".join(f"{i}. {tr(f'{page}.try.{i}')}" for i in range(1, n_prompts + 1)))


# --- The app shell's tools on every page: the link check, projector mode, "copy link", the lesson in progress ---

LINK_NOTE = "_link_note"  # (page, [lines]) of the last link that was corrected, shown until another page opens
LESSON = "classroom_progress"  # {"lesson": id, "step": 1-based} of the lesson in progress, shared across pages
ON_WORDS = ("1", "true", "yes", "on")


def apply_link(tr: Callable[..., str], page: str) -> None:
    """Open the link's set-up with the nearest valid values, before the page draws a widget, and say what changed.

    Streamlit itself drops a value it cannot read (``?k=999``, ``?lr=abc``) back to the default without a word;
    here every such value becomes the nearest valid one (:func:`lab.links.clean_link`), written into the
    widget's state so the page opens with it, and a note lists each change. (The address bar may keep the
    old text until the next change; :func:`copy_link_button` copies the corrected values.)
    """
    if page not in PAGE_PARAMS:
        return
    raw = {key: st.query_params.get_all(key) for key in st.query_params.keys()}  # noqa: SIM118
    cleaned = clean_link(raw, page)
    if cleaned.changes:
        for change in cleaned.changes:
            if change.key in URL_ONLY:  # read by the page from the link itself, not a widget
                st.query_params[change.key] = link_text(PAGE_PARAMS[page][change.key], change.value)
            else:
                st.session_state[change.key] = change.value
        lines = [tr(f"link.reason.{c.reason}", name=c.key, given=c.given[:40], value=show_value(c.value))
                 for c in cleaned.changes if c.reason != "format"]
        if lines:
            st.session_state[LINK_NOTE] = (page, lines)
    note = st.session_state.get(LINK_NOTE)
    if note and note[0] != page:
        del st.session_state[LINK_NOTE]
    elif note:
        st.info(tr("link.note") + "\n" + "\n".join(f"- {line}" for line in note[1]), icon=":material/build:")


def projector_toggle(tr: Callable[..., str]) -> bool:
    """Draw the projector-mode toggle (``?projector=1`` in the link) and style the app for it; return it."""
    if st.query_params.get("projector", "").lower() in ON_WORDS[:1] + ON_WORDS[2:]:
        st.session_state["projector"] = True  # ?projector=1 (or yes/on) as well as Streamlit's own ?projector=true
    on = st.sidebar.toggle(tr("projector.toggle"), key="projector", bind="query-params", help=tr("projector.help"))
    set_projector(on)
    if on:
        st.html(f"<style>{PROJECTOR_CSS}</style>")
    return on


def chart_columns(spec: int | list[int], **kwargs) -> list:
    """Return ``st.columns(spec, **kwargs)`` for charts side by side; in projector mode, one full-width container
    per column instead, stacked, so that large type does not squeeze the charts."""
    if st.session_state.get("projector"):
        return [st.container() for _ in range(spec if isinstance(spec, int) else len(spec))]
    return st.columns(spec, **kwargs)


def current_link(page: str) -> dict[str, str | list[str]]:
    """Return the query parameters that reproduce this page as it is now: every control's current value.

    The address bar is not enough: after a link was corrected it may still lack the corrected values (Streamlit
    writes a value set in code into it only on a later run). Values equal to a control's default are left out.
    """
    specs = PAGE_PARAMS.get(page, {})
    raw = {key: st.query_params.get_all(key) for key in st.query_params.keys()}  # noqa: SIM118
    cleaned = clean_link(raw, page).values if specs else {}
    out: dict[str, str | list[str]] = {k: (v if len(v) > 1 else v[0]) for k, v in raw.items() if v}
    for key, spec in specs.items():
        if key in URL_ONLY:
            continue
        value = st.session_state[key] if key in st.session_state else cleaned.get(key)
        default = getattr(spec, "default", None)
        if value is None or (not callable(default) and value == (list(default) if isinstance(default, tuple)
                                                                  else default)):
            out.pop(key, None)
        else:
            out[key] = link_text(spec, value)
    if st.session_state.get("projector"):
        out["projector"] = "true"
    return out


def copy_link_button(tr: Callable[..., str], page: str) -> None:
    """Draw a "copy link" button that copies this page's address with every control's current value."""
    query = urlencode(current_link(page), doseq=True)
    label, done, failed = (json.dumps(tr(k)) for k in ("link.copy", "link.copied", "link.copy_failed"))
    st.html(COPY_LINK_HTML.replace("LABEL", label).replace("DONE", done).replace("FAILED", failed)
            .replace("QUERY", json.dumps(query)), unsafe_allow_javascript=True)


def lesson_banner(tr: Callable[..., str], page: str) -> None:
    """In the sidebar of a page opened from a lesson, show the lesson's step and a link back to it."""
    progress = st.session_state.get(LESSON)
    if not progress or page == "classroom":
        return
    with st.sidebar.container(border=True):
        st.caption(tr("classroom.banner", title=progress["title"][tr.lang], step=progress["step"],
                      steps=progress["steps"]))
        st.page_link("pages/classroom.py", label=tr("classroom.back"), icon=":material/school:",
                     query_params=shell_params() | {"lesson": progress["lesson"],
                                                    "lesson_step": str(progress["step"])})


def shell_params() -> dict[str, str]:
    """Return the app shell's parameters of the current link (language, projector mode) to carry to a page."""
    return {key: st.query_params[key] for key in ("lang", "projector") if key in st.query_params}


JOB_WAIT_S = float(os.environ.get("LAB_JOB_WAIT_S", "1.5"))  # wait this long in the page run before polling
STOPPED_JOBS = "_stopped_jobs"  # session state: {job key: (done, total)} of the jobs this student stopped


def background(tr: Callable[..., str], key: Hashable, what: str, fn: Callable[[Job], Any], slot: str,
               device: str = "cpu") -> Any | None:
    """Return the result of the long job ``fn`` for ``key`` (shared by every session that asks with the same
    key, see :mod:`lab.jobs`) once it is done; until then draw where it stands — its place in the queue or
    its progress, and a Stop button — refreshed every second, and return ``None``. ``what`` names the work
    for the student; ``slot`` keeps the widgets of two jobs on one page apart. A failed job's error is
    raised here, for the page's usual message."""
    stopped = st.session_state.setdefault(STOPPED_JOBS, {})
    if key in stopped:
        done, total = stopped[key]
        st.info(tr("job.stopped", what=what, done=done, total=total), icon=":material/stop_circle:")
        if st.button(tr("job.restart"), key=f"{slot}_restart", icon=":material/replay:"):
            del stopped[key]
            st.rerun()
        return None
    job = BOARD.submit(key, fn, device, what)
    if job.wait(JOB_WAIT_S) and job.state != "stopped":
        return job.outcome()
    _job_progress(tr, job, key, what, slot)
    return None


@st.fragment(run_every=1.0)
def _job_progress(tr: Callable[..., str], job: Job, key: Hashable, what: str, slot: str) -> None:
    """Redrawn every second until the job ends, then rerun the page so that it draws the result."""
    if job.finished:
        st.rerun(scope="app")
    ahead = BOARD.queued_before(job)
    text = (tr("job.queued", what=what, n=ahead) if job.state == "queued"
            else tr("job.running", what=what, done=job.done, total=job.total or "?"))
    st.progress(job.fraction, text=text)
    if st.button(tr("job.stop"), key=f"{slot}_stop", icon=":material/stop:"):
        job.stop()
        job.wait(1.0)  # it stops at its next progress report; the page need not wait for that
        st.session_state.setdefault(STOPPED_JOBS, {})[key] = (job.done, job.total)
        st.rerun(scope="app")

PROJECTOR_CSS = """
html { font-size: 22px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.15rem; }
[data-testid="stApp"] { color: #000000; }
[data-testid="stCaptionContainer"] { color: #1a1a1a; font-size: 1.0rem; }
"""

COPY_LINK_HTML = """
<button id="lab-copy-link" class="lab-copy-link" type="button"
  style="width:100%;padding:0.45rem 0.75rem;border:1px solid rgba(49,51,63,0.3);border-radius:0.5rem;
         background:white;font:inherit;cursor:pointer">🔗 <span></span></button>
<script>
(() => {
  const button = document.getElementById("lab-copy-link");
  const text = button.querySelector("span");
  const label = LABEL, done = DONE, failed = FAILED;
  text.textContent = label;
  const fallback = (url) => {
    const area = document.createElement("textarea");
    area.value = url; document.body.appendChild(area); area.select();
    const ok = document.execCommand("copy"); area.remove(); return ok;
  };
  button.onclick = async () => {
    const query = QUERY;  // from the server: every control's current value
    const url = window.location.origin + window.location.pathname + (query ? "?" + query : "");
    let ok = false;
    try { await navigator.clipboard.writeText(url); ok = true; } catch (e) { ok = fallback(url); }
    button.dataset.copied = ok ? url : "";
    text.textContent = ok ? done : failed + " " + url;
    setTimeout(() => { text.textContent = label; }, 4000);
  };
})();
</script>
"""
