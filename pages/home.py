"""Home: what the lab is, the brain-inspired framing, and the list of pages."""

from __future__ import annotations

import streamlit as st

from lab.i18n import translator
from pages import run_through_app

run_through_app()

tr = translator(st.session_state.get("lang", "en"))

PAGES = [("pages/tasks.py", ":material/extension:", "tasks"), ("pages/maml.py", ":material/bolt:", "maml"),
         ("pages/protonet.py", ":material/scatter_plot:", "protonet"),
         ("pages/relation.py", ":material/compare_arrows:", "relation"),
         ("pages/compare.py", ":material/leaderboard:", "compare"),
         ("pages/meta_rl.py", ":material/casino:", "meta_rl"),
         ("pages/optimizers.py", ":material/route:", "optimizers")]


def main() -> None:
    """Render the page top to bottom."""
    st.title(":material/psychology: " + tr("home.title"))
    st.markdown(f"#### {tr('home.tagline')}")
    st.markdown(tr("home.intro"))
    with st.container(border=True):
        st.subheader(":material/psychology: " + tr("home.brain.title"))
        st.markdown(tr("home.brain.body"))
    st.subheader(tr("home.pages"))
    for path, icon, name in PAGES:
        left, right = st.columns([1, 3], vertical_alignment="center")
        with left:
            st.page_link(path, label=tr(f"nav.{name}"), icon=icon)
        with right:
            st.markdown(tr(f"home.page.{name}"))
    st.subheader(tr("home.howto.title"))
    st.markdown(tr("home.howto.body"))


main()
