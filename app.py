"""NeuroMeta Lab — the Streamlit entry point: page setup, the language switch and the page list.

Run with ``streamlit run app.py``. Every page is a thin script in ``pages/`` over the ``lab`` package.

Because a ``pages/`` folder sits beside this file, Streamlit starts each server process in its legacy
"pages directory" mode until some session runs ``st.navigation``. A deep link (``/maml?k=5``) opened first
would then run the page alone, without this file's language switch and page list; each page therefore
checks for that mode at its top, turns it off and reruns, which goes through this file.
"""

from __future__ import annotations

import streamlit as st

from lab.i18n import DEFAULT_LANGUAGE, LANGUAGES, translator
from pages import apply_link, copy_link_button, lesson_banner, projector_toggle

st.set_page_config(page_title="NeuroMeta Lab", page_icon="🧠", layout="wide",
                   menu_items={"About": "NeuroMeta Lab — neuroscience-inspired meta-learning, hands on."})


def main() -> None:
    """Draw the language switch (bound to ``?lang=`` in the URL) and the tools every page shares (projector
    mode, "copy link", the lesson in progress, the check of the link's values), then run the chosen page."""
    lang = st.sidebar.segmented_control(
        "Language · 语言", list(LANGUAGES), default=DEFAULT_LANGUAGE, format_func=LANGUAGES.get,
        key="lang", bind="query-params", required=True,
    ) or DEFAULT_LANGUAGE
    tr = translator(lang)
    pages = [
        st.Page("pages/home.py", title=tr("nav.home"), icon=":material/home:", default=True),
        st.Page("pages/tasks.py", title=tr("nav.tasks"), icon=":material/extension:", url_path="tasks"),
        st.Page("pages/maml.py", title=tr("nav.maml"), icon=":material/bolt:", url_path="maml"),
        st.Page("pages/protonet.py", title=tr("nav.protonet"), icon=":material/scatter_plot:", url_path="protonet"),
        st.Page("pages/relation.py", title=tr("nav.relation"), icon=":material/compare_arrows:", url_path="relation"),
        st.Page("pages/memory.py", title=tr("nav.memory"), icon=":material/memory:", url_path="memory"),
        st.Page("pages/optimizers.py", title=tr("nav.optimizers"), icon=":material/route:", url_path="optimizers"),
        st.Page("pages/compare.py", title=tr("nav.compare"), icon=":material/leaderboard:", url_path="compare"),
        st.Page("pages/meta_rl.py", title=tr("nav.meta_rl"), icon=":material/casino:", url_path="meta_rl"),
        st.Page("pages/virtual.py", title=tr("nav.virtual"), icon=":material/bedtime:", url_path="virtual"),
        st.Page("pages/classroom.py", title=tr("nav.classroom"), icon=":material/school:", url_path="classroom"),
    ]
    page = st.navigation(pages)
    # Every page gets the same tools: projector mode, "copy link", the lesson in progress, the link check.
    projector_toggle(tr)
    copy_slot = st.sidebar.empty()
    lesson_banner(tr, page.url_path)
    apply_link(tr, page.url_path)
    with copy_slot:
        copy_link_button(tr, page.url_path)  # after apply_link: the link holds the corrected values
    page.run()


main()
