"""Parts of pages that are not pages themselves (e.g. one tab of a page), imported by the page scripts.

They live in this sub-folder because Streamlit's legacy pages-directory mode (see ``app.py``) lists every
``pages/*.py`` file as a page; it does not look into sub-folders.
"""
