"""NeuroMeta Lab: meta-learning algorithms, task families and figures, free of any UI framework.

The Streamlit app (``app.py``, ``pages/``) and the command line (``python -m lab``) are thin layers over
this package. See ``../shared/DESIGN.md`` for the layer rules.

The public API, for running a learner on your own images, is :func:`load_learner` (see :mod:`lab.api`).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Learner", "Prediction", "__version__", "load_learner"]
_API = ("Learner", "Prediction", "load_learner")


def __getattr__(name: str) -> Any:
    """Import :mod:`lab.api` on first use of its names, so ``import lab`` stays cheap (no torch)."""
    if name in _API:
        from lab import api

        return getattr(api, name)
    raise AttributeError(f"module 'lab' has no attribute {name!r}")
