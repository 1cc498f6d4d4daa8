"""The compute behind each app page, as plain functions of the page's inputs (no Streamlit here).

Each demo returns a dataclass of traces that :mod:`lab.viz` turns into figures, so pages stay thin and the
same results can be tested, timed and cached without a browser.
"""
