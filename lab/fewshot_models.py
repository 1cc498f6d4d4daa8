"""Finding and loading trained few-shot classifiers: the ones shipped in ``assets/`` and a user's own.

Shipped checkpoints are ``assets/<kind>_glyphs.{pt,json}`` (made by ``python -m lab pretrain``); a user's
are whatever ``python -m lab train`` saved under :func:`lab.home.models_dir`. :func:`available_models`
lists both for the pages' model pickers; :func:`load_fewshot_model` rebuilds any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lab.checkpoint import REMAKE, CheckpointError, assets_dir, check_state_matches, load_checkpoint
from lab.home import scan_models
from lab.learners.fewshot import KINDS, build_model


@dataclass(frozen=True)
class ModelChoice:
    """One loadable few-shot model: a label for pickers, its kind and its checkpoint stem."""

    label: str
    kind: str
    path: str
    shipped: bool


def shipped_path(kind: str) -> Path:
    """Return the stem of the shipped glyph checkpoint of ``kind`` (it may not exist)."""
    if kind not in KINDS:
        raise ValueError(f"learner={kind!r}; choose one of {KINDS}")
    return assets_dir() / f"{kind}_glyphs"


def available_models(kind: str) -> tuple[list[ModelChoice], list[str]]:
    """Return ``(choices, problems)``: the shipped model of ``kind`` (if present) then the user's, newest
    first, and one line per checkpoint in the user's folder that could not be read."""
    choices = []
    shipped = shipped_path(kind)
    if shipped.with_suffix(".pt").exists():
        choices.append(ModelChoice(f"{kind} · glyphs (shipped)", kind, str(shipped), True))
    scan = scan_models(kind)
    for model in scan.models:
        data = model.card.get("config", {}).get("data", "?")
        choices.append(ModelChoice(f"{model.name} · {data}", kind, str(model.path), False))
    return choices, [f"{s.path}: {s.reason}" for s in scan.skipped]


def load_fewshot_model(path: str | Path, kind: str, map_location: torch.device | str = "cpu"
                       ) -> tuple[nn.Module, dict[str, Any]]:
    """Return ``(model, meta)``: the few-shot model of ``kind`` saved at stem ``path``, in test mode.

    Raises :class:`~lab.checkpoint.CheckpointError` for a missing, corrupted or mismatched checkpoint.
    """
    state, meta = load_checkpoint(path, kind, map_location)
    try:
        model = build_model(kind, meta["config"].get("net", {}))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the card's net config is not valid ({exc}); {REMAKE}") from exc
    check_state_matches(model, state, Path(str(path) + ".pt"))
    model.load_state_dict(state)
    return model.to(map_location).eval(), meta
