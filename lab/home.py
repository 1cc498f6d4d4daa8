"""The per-user lab folder: where models a user trains and data sets they download are kept.

``$LAB_HOME`` if set, else the user's cache folder: ``$XDG_CACHE_HOME/neurometa-lab`` (or
``~/.cache/neurometa-lab``) on Linux and macOS, ``%LOCALAPPDATA%\\neurometa-lab`` on Windows. Inside it::

    models/   checkpoints (<name>.pt + <name>.json, see lab.checkpoint) saved by training
    data/     downloaded data sets, e.g. data/omniglot/images_background.zip

Nothing here touches the disk on import or when a path is asked for; folders are made by
:func:`ensure_dir` only when something is saved into them. The shipped sinusoid checkpoints stay in
``assets/`` (:func:`lab.checkpoint.assets_dir`); this folder is for what a user makes or fetches.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.checkpoint import CheckpointError, read_card

HOME_ENV = "LAB_HOME"
APP_NAME = "neurometa-lab"
# Config fields worth a glance in a listing, in the paper's vocabulary; the first match of each is shown.
KEY_FIELDS = ("family", "method", "n_way", "k_shot", "inner_steps", "inner_lr", "meta_batch", "image_size",
              "rotations", "iterations", "seed")

log = logging.getLogger(__name__)


def lab_home() -> Path:
    """Return the lab's per-user folder (it may not exist yet): ``$LAB_HOME``, else the user cache folder."""
    forced = os.environ.get(HOME_ENV, "").strip()
    if forced:
        return Path(forced).expanduser()
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA", "").strip()
        return (Path(local) if local else Path.home() / "AppData" / "Local") / APP_NAME
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    # The XDG spec says to ignore a relative path.
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / APP_NAME


def models_dir() -> Path:
    """Return ``lab_home()/"models"``, where trained checkpoints are saved (it may not exist yet)."""
    return lab_home() / "models"


def data_dir() -> Path:
    """Return ``lab_home()/"data"``, where downloaded data sets go (it may not exist yet)."""
    return lab_home() / "data"


def ensure_dir(path: Path | str) -> Path:
    """Create folder ``path`` with its parents if needed and return it. Raises ``OSError`` (e.g.
    ``NotADirectoryError`` for a path under a file) naming the path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class TrainedModel:
    """One checkpoint pair ``<path>.pt`` + ``<path>.json`` found in :func:`models_dir`.

    ``path`` is the stem (no suffix), as :func:`lab.checkpoint.load_checkpoint` takes it; ``card`` is the
    parsed JSON card; ``mtime`` the modification time of the ``.pt`` file (seconds since the epoch).
    """

    name: str
    kind: str
    path: Path
    card: dict[str, Any]
    mtime: float

    def key_config(self) -> dict[str, Any]:
        """Return the card's most telling settings (:data:`KEY_FIELDS` found anywhere in its config), plus
        ``final_loss`` when the trainer recorded it."""
        flat: dict[str, Any] = {}

        def walk(node: Any) -> None:
            for key, value in node.items():
                if isinstance(value, dict):
                    walk(value)
                elif key in KEY_FIELDS and not isinstance(value, list):
                    flat.setdefault(key, value)

        walk(self.card.get("config", {}))
        found = {k: flat[k] for k in KEY_FIELDS if k in flat}
        final = self.card.get("extra", {}).get("final_loss") if isinstance(self.card.get("extra"), dict) else None
        if isinstance(final, (int, float)):
            found["final_loss"] = round(float(final), 4)
        return found


@dataclass
class SkippedModel:
    """A file in :func:`models_dir` that is not a usable checkpoint pair, and why (one line)."""

    path: Path
    reason: str


@dataclass
class ModelScan:
    """What :func:`scan_models` found: usable ``models`` (newest first) and ``skipped`` broken ones."""

    folder: Path
    models: list[TrainedModel] = field(default_factory=list)
    skipped: list[SkippedModel] = field(default_factory=list)


def scan_models(kind: str | None = None, folder: Path | str | None = None) -> ModelScan:
    """Return the checkpoint pairs in ``folder`` (default :func:`models_dir`), newest first, and the broken
    ones (a card that does not parse, a ``.pt`` without its card or a card without its ``.pt``) in
    ``skipped`` with the reason, so a page can list both. With ``kind``, only models of that kind (others
    are left out, not skipped). A missing folder gives an empty scan. Cards are read, weights are not: the
    checksum is checked when a model is loaded."""
    folder = Path(folder) if folder is not None else models_dir()
    scan = ModelScan(folder)
    if not folder.is_dir():
        return scan
    stems = sorted({p.with_suffix("") for p in folder.iterdir() if p.suffix in (".pt", ".json")})
    for stem in stems:
        pt, card_path = stem.with_name(stem.name + ".pt"), stem.with_name(stem.name + ".json")
        if not pt.is_file():
            scan.skipped.append(SkippedModel(card_path, f"{card_path.name} has no weights file {pt.name}"))
            continue
        if not card_path.exists():
            scan.skipped.append(SkippedModel(pt, f"{pt.name} has no card {card_path.name}"))
            continue
        try:
            card = read_card(stem)
            mtime = pt.stat().st_mtime
        except (CheckpointError, OSError) as exc:  # OSError: e.g. a card that is a folder or unreadable
            scan.skipped.append(SkippedModel(card_path, str(exc).splitlines()[0] if str(exc) else repr(exc)))
            continue
        if kind is None or card["kind"] == kind:
            scan.models.append(TrainedModel(stem.name, str(card["kind"]), stem, card, mtime))
    scan.models.sort(key=lambda m: (-m.mtime, m.name))
    return scan


def list_trained_models(kind: str | None = None, folder: Path | str | None = None) -> list[TrainedModel]:
    """Return the trained models in ``folder`` (default :func:`models_dir`), newest first, optionally only
    those of ``kind``. Broken checkpoints are left out with a logged warning; use :func:`scan_models` to
    show them."""
    scan = scan_models(kind, folder)
    for bad in scan.skipped:
        log.warning("skipped %s: %s", bad.path, bad.reason)
    return scan.models
