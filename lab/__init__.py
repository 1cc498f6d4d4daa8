"""NeuroMeta Lab: meta-learning algorithms, task families and figures, free of any UI framework.

The Streamlit app (``app.py``, ``pages/``) and the command line (``python -m lab``) are thin layers over
this package. See ``../shared/DESIGN.md`` for the layer rules.
"""

__version__ = "0.1.0"
