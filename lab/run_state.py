"""Resumable training states: ``<run_dir>/<name>_<digest>.state.pt`` (tensors only, read with
``weights_only=True``) beside ``.state.json`` holding the key of the run's config.

A training loop saves its weights, optimizer, generator state and progress here every so often; started
again with the same config (the same key) it loads them and continues; a different config, a missing or a
damaged file means starting over. Files are written to a temporary name and renamed, so a stop mid-write
never leaves a broken state. (The few-shot and MANN loops keep their own copies of this logic; they can
move to :class:`RunState` unchanged in behaviour.)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch


class RunState:
    """The resumable state of one training run, or nothing when ``run_dir`` is ``None``."""

    def __init__(self, run_dir: Path | str | None, name: str, key: str) -> None:
        self.key = key
        if run_dir is None:
            self.paths = None
            return
        stem = Path(run_dir) / f"{name}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        self.paths = (stem.with_name(stem.name + ".state.pt"), stem.with_name(stem.name + ".state.json"))

    def load(self) -> dict[str, Any] | None:
        """Return the saved state of this very config, or ``None`` (no file, another config, unreadable)."""
        if self.paths is None or not all(p.exists() for p in self.paths) or self.paths[1].read_text() != self.key:
            return None
        try:
            return torch.load(self.paths[0], map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a damaged resume file just means starting over
            return None

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` (tensors, numbers, dicts of them) atomically; nothing when there is no run folder."""
        if self.paths is None:
            return
        pt, card = self.paths
        pt.parent.mkdir(parents=True, exist_ok=True)
        tmp = pt.with_name(pt.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, pt)
        card.write_text(self.key)
