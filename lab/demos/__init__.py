"""The compute behind each app page, as plain functions of the page's inputs (no Streamlit here).

Each demo returns a dataclass of traces that :mod:`lab.viz` turns into figures, so pages stay thin and the
same results can be tested, timed and cached without a browser.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

ASSETS_ENV = "LAB_ASSETS_DIR"


def assets_dir() -> Path:
    """Return the folder holding the pretrained checkpoints: ``$LAB_ASSETS_DIR`` or the repository's ``assets/``."""
    forced = os.environ.get(ASSETS_ENV, "").strip()
    return Path(forced) if forced else Path(__file__).resolve().parents[2] / "assets"


def interactive_threads(threads: int = 1) -> None:
    """Limit torch to ``threads`` intra-op threads.

    The demos run tiny networks (a 1-40-40-1 MLP): there, thread hand-offs cost more than they save, and
    on a shared 2-core machine two threads per request made one gradient step 50x slower (25 ms vs 0.5 ms).
    One thread per request also lets concurrent app sessions use the other cores.
    """
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
