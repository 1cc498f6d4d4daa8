"""Streamlit helpers shared by the page scripts (Streamlit never lists ``__init__.py`` as a page)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


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
