"""Resumable training state: where a run's state lives, how it is saved safely and found again.

A run's state (weights, optimizer, generator, iteration, wall time, curve) goes to
``<run_dir>/<name>_<digest>.state.pt`` beside ``.state.json`` holding the *resume key*: the run's config
as sorted JSON without the settings that do not change what is trained (how often to measure or save).
The same config started again finds its state and continues; any other config starts afresh. Used by
:mod:`lab.mann_training` and :mod:`lab.fewshot_training` (whose state files keep their names).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from lab.checkpoint import staged_write

VOLATILE = ("eval_every", "checkpoint_every")  # config fields that do not change what is trained


def resume_key(card: dict[str, Any]) -> str:
    """Return the resume key of a run's config ``card``: sorted JSON without the :data:`VOLATILE` fields."""
    return json.dumps({k: v for k, v in card.items() if k not in VOLATILE}, sort_keys=True)


def state_paths(run_dir: Path | str, name: str, key: str) -> tuple[Path, Path]:
    """Return ``(<name>_<digest>.state.pt, .state.json)`` in ``run_dir``; the digest is of ``key`` (so the
    name is readable and distinct per config; the key itself is checked on loading)."""
    stem = Path(run_dir) / f"{name}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    return stem.with_name(stem.name + ".state.pt"), stem.with_name(stem.name + ".state.json")


def load_state(paths: tuple[Path, Path], key: str, map_location: torch.device | str = "cpu") -> dict[str, Any] | None:
    """Return the saved state dict if ``paths`` hold one saved under ``key``, else ``None`` (also for a
    damaged file: that just means starting over)."""
    pt, card = paths
    if not (pt.exists() and card.exists() and card.read_text() == key):
        return None
    try:
        return torch.load(pt, map_location=map_location, weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable state means the same: start afresh
        return None


def save_state(paths: tuple[Path, Path], key: str, state: dict[str, Any]) -> None:
    """Write ``state`` to ``paths[0]`` through a temporary file (a crash never leaves half a state) and the
    key beside it."""
    pt, card = paths
    pt.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged_write(pt, lambda tmp: torch.save(state, tmp)), pt)
    card.write_text(key)


def cosine_lr(lr: float, lr_min: float, iteration: int, iterations: int) -> float:
    """Return the learning rate at ``iteration`` (0-based) of a cosine schedule from ``lr`` to ``lr_min``."""
    progress = min(1.0, iteration / max(1, iterations))
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * progress))
