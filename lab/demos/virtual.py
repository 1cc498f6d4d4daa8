"""What the Virtual tasks page shows: the learned generator's dreamt characters beside real ones, walks
through its class and style codes, and the accuracy of ProtoNets trained with and without virtual tasks.

The generator is the shipped :class:`~lab.learners.generative.CharacterVAE` (``assets/virtual_glyphs``,
made by ``python -m lab pretrain --only virtual-glyphs``); the curve is the shipped report of
``python -m lab eval virtual`` (``assets/virtual_eval.json``). Every draw comes from the page's seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.checkpoint import CheckpointError, assets_dir
from lab.cli_virtual import RESULTS, shipped_generator_path
from lab.compute import make_generator
from lab.evaluation import validate_report
from lab.generator_training import load_generator
from lab.learners.generative import CharacterVAE, sample_codes
from lab.tasks.base import check_positive
from lab.tasks.pen import pen_strokes
from lab.tasks.splits import data_split
from lab.virtual_training import budget_class_ids

WALK_POINTS = 9  # images along each walk


@dataclass
class Gallery:
    """Real training characters and dreamt ones, ``[classes, drawings, S, S]`` each, ink in [0, 1]."""

    real: np.ndarray
    dreamt: np.ndarray
    real_names: list[str]


@dataclass
class Walk:
    """Two walks of ``WALK_POINTS`` images ``[S, S]``: the class code moving with the style fixed, and the style
    code moving with the class fixed; ``class_t``/``style_t`` are where the sliders stand, ``current`` the image there."""

    along_class: np.ndarray  # [WALK_POINTS, S, S]
    along_style: np.ndarray  # [WALK_POINTS, S, S]
    current: np.ndarray  # [S, S]
    class_t: float
    style_t: float


def load_shipped() -> tuple[CharacterVAE, dict[str, Any]]:
    """Return the shipped generator and its card; raises :class:`~lab.checkpoint.CheckpointError` if unusable."""
    return load_generator(shipped_generator_path())


def seen_classes(card: dict[str, Any]) -> list[int]:
    """Return the glyph training class ids the generator of checkpoint card ``card`` was trained on."""
    config = card.get("config", {})
    return budget_class_ids(data_split("glyphs").train, int(config.get("real_classes", 0)),
                            int(config.get("budget_seed", 0)))


def gallery(model: CharacterVAE, n_classes: int, n_drawings: int, seed: int, temperature: float = 1.0,
            seen: list[int] | None = None, pen: bool = False) -> Gallery:
    """Return ``n_classes`` real glyph training characters and ``n_classes`` dreamt ones, ``n_drawings`` each.

    Dreamt classes: one class code per row and one style code per column, all from the prior (scaled by
    ``temperature``), drawn from ``seed``; real classes: random characters among ``seen`` (the ones the
    generator learned from; default all training characters), drawn from ``seed``. With ``pen`` the dreamt
    drawings are thinned and re-inked as pen lines (:func:`lab.tasks.pen.pen_strokes`), as Omniglot's
    virtual tasks are; the same seed gives the same drawings either way, before re-inking.
    """
    check_positive("n_classes", n_classes)
    check_positive("n_drawings", n_drawings)
    rng = make_generator(seed)
    train = data_split("glyphs").train
    pool = torch.tensor(seen if seen else range(train.n_classes))
    ids = pool[torch.rand(len(pool), generator=rng).argsort()[:n_classes]]
    real = train.drawings(ids, n_drawings, rng)[:, :, 0].numpy()
    c, z = sample_codes(model.config, n_classes, n_drawings, rng, temperature)
    with torch.no_grad():
        dreamt = model.decode(c.unsqueeze(1).expand(-1, n_drawings, -1), z)
    if pen:
        dreamt = pen_strokes(dreamt)
    dreamt = dreamt[:, :, 0].numpy()
    return Gallery(real, dreamt, train.class_names(ids))


def walk(model: CharacterVAE, seed: int, class_t: float, style_t: float) -> Walk:
    """Return the walks between two prior class codes and two prior style codes drawn from ``seed``.

    ``class_t`` and ``style_t`` in [0, 1] say where each code stands on its line (0: the first draw, 1: the
    second); the class walk holds the style at ``style_t`` and the style walk holds the class at ``class_t``.
    """
    for name, t in (("class_t", class_t), ("style_t", style_t)):
        if not 0 <= t <= 1:
            raise ValueError(f"{name}={t} must be between 0 and 1")
    rng = make_generator(seed)
    c, z = sample_codes(model.config, 2, 2, rng)
    c0, c1, z0, z1 = c[0], c[1], z[0, 0], z[1, 1]
    ts = torch.linspace(0, 1, WALK_POINTS).unsqueeze(1)
    here_c, here_z = c0 + class_t * (c1 - c0), z0 + style_t * (z1 - z0)
    with torch.no_grad():
        along_class = model.decode(c0 + ts * (c1 - c0), here_z.expand(WALK_POINTS, -1))[:, 0].numpy()
        along_style = model.decode(here_c.expand(WALK_POINTS, -1), z0 + ts * (z1 - z0))[:, 0].numpy()
        current = model.decode(here_c, here_z)[0].numpy()
    return Walk(along_class, along_style, current, class_t, style_t)


def load_results(path: Path | None = None) -> dict[str, Any]:
    """Return the shipped ``eval virtual`` report (validated); raises ``CheckpointError`` if missing or bad."""
    path = path or assets_dir() / RESULTS
    try:
        report = json.loads(path.read_text())
        validate_report(report)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; make it with `python -m lab eval virtual --json > {path.name}`") from None
    except (ValueError, OSError) as exc:
        raise CheckpointError(f"{path} is not an eval virtual report ({exc})") from exc
    return report
