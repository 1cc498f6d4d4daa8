"""The "Tasks & episodes" lesson: what one task of each family looks like, and how an episode splits.

* :func:`sine_tasks_demo` — a few sinusoid regression tasks with their support and query points.
* :func:`image_episode_demo` — one N-way K-shot episode of procedural glyphs or real Omniglot, arranged as
  ``[n_way, shots, H, W]`` support and ``[n_way, queries, H, W]`` query images per class.

Impossible requests (more ways than classes, more drawings than a character has) raise the task family's
own ``ValueError``, whose message says the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from lab.compute import guarded, make_generator
from lab.tasks.episodes import FewShotFamily
from lab.tasks.glyphs import GlyphAlphabets
from lab.tasks.omniglot import OmniglotSource, default_omniglot_path
from lab.tasks.sinusoid import SinusoidFamily, curve_x, sine_targets

IMAGE_FAMILIES = ("glyphs", "omniglot")


@dataclass
class SineTasks:
    """Sinusoid tasks: ``y_true`` is ``[tasks, CURVE_POINTS]`` on ``x_grid``; support/query are ``[tasks, points]``."""

    x_grid: np.ndarray
    y_true: np.ndarray
    support_x: np.ndarray
    support_y: np.ndarray
    query_x: np.ndarray
    query_y: np.ndarray
    amplitude: np.ndarray  # [tasks]
    phase: np.ndarray  # [tasks]


@dataclass
class ImageEpisode:
    """One classification episode: ``support`` ``[n_way, k_shot, H, W]``, ``query`` ``[n_way, n_query, H, W]``
    (ink 1 on background 0), and a name per class (row)."""

    family: str
    support: np.ndarray
    query: np.ndarray
    class_names: list[str]
    n_classes: int  # classes the source could choose from


@guarded("cpu", lower="tasks, shots or queries")
def sine_tasks_demo(n_tasks: int, k_shot: int, n_query: int, seed: int) -> SineTasks:
    """Return ``n_tasks`` sinusoid tasks drawn with ``seed`` (amplitude 0.1-5, phase 0-pi as in MAML)."""
    batch = SinusoidFamily(k_shot=k_shot, n_query=n_query).sample(make_generator(seed), n_tasks)
    x = curve_x()
    amp, phase = batch.meta["amplitude"], batch.meta["phase"]
    return SineTasks(
        x_grid=x.numpy(), y_true=sine_targets(x.expand(n_tasks, -1), amp, phase).numpy(),
        support_x=batch.support_x[..., 0].numpy(), support_y=batch.support_y[..., 0].numpy(),
        query_x=batch.query_x[..., 0].numpy(), query_y=batch.query_y[..., 0].numpy(),
        amplitude=amp.numpy(), phase=phase.numpy(),
    )


@lru_cache(maxsize=8)
def glyph_source(n_alphabets: int, seed: int = 0) -> GlyphAlphabets:
    """Return the procedural glyph source with ``n_alphabets`` alphabets of 40 characters (cached)."""
    return GlyphAlphabets(n_alphabets=n_alphabets, chars_per_alphabet=40, seed=seed)


def omniglot_folder() -> Path | None:
    """Return the configured Omniglot folder (``$LAB_OMNIGLOT_DIR`` or the shared copy), or ``None``."""
    return default_omniglot_path()


def omniglot_source(folder: str) -> OmniglotSource:
    """Return the Omniglot class source read from ``folder`` (the decoded images are cached by the reader,
    keyed by the archive's modification time, so a replaced archive is read again)."""
    return OmniglotSource.from_path(Path(folder), rotations=False)


@guarded("cpu", lower="ways, shots or queries")
def image_episode_demo(family: str, n_way: int, k_shot: int, n_query: int, seed: int,
                       n_alphabets: int = 50, omniglot_path: str | None = None) -> ImageEpisode:
    """Return one ``n_way``-way ``k_shot``-shot episode with ``n_query`` queries per class, drawn with ``seed``.

    ``family`` is ``"glyphs"`` (``n_alphabets`` procedural alphabets of 40 characters) or ``"omniglot"``
    (read from ``omniglot_path``). Raises ``ValueError`` naming the limit for an impossible request.
    """
    if family == "glyphs":
        source = glyph_source(n_alphabets)
    elif family == "omniglot":
        if not omniglot_path:
            raise ValueError("no Omniglot folder is configured; set LAB_OMNIGLOT_DIR to the folder with the "
                             "Omniglot archives")
        source = omniglot_source(str(omniglot_path))
    else:
        raise ValueError(f"family={family!r}; choose one of {IMAGE_FAMILIES}")
    batch = FewShotFamily(source, n_way=n_way, k_shot=k_shot, n_query=n_query).sample(make_generator(seed), 1)
    size = batch.support_x.shape[-2:]
    support = batch.support_x[0, :, 0].reshape(n_way, k_shot, *size)
    query = batch.query_x[0, :, 0].reshape(n_way, n_query, *size)
    return ImageEpisode(family, support.numpy(), query.numpy(), list(batch.meta["class_names"][0]),
                        int(source.n_classes))
