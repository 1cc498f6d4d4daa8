"""Checkpoints: a state dict in ``<stem>.pt`` beside a JSON card ``<stem>.json`` that says what it is.

The ``.pt`` file holds tensors only and is read with ``torch.load(weights_only=True)``, so opening a
checkpoint never runs code. The JSON card records the kind of model (e.g. ``"maml_sine"``), the config that
rebuilds its network, the package version and a checkpoint format number, the sha256 of the ``.pt`` file
and whatever the trainer wants to keep (iterations, seed, final loss, wall time).

:func:`load_checkpoint` refuses, with a one-line :class:`CheckpointError` that says what to do, anything
that would otherwise fail later or silently: a missing or truncated file, a card that does not parse, a
checksum mismatch, the wrong kind, a checkpoint made by another ``major.minor`` version of the lab, or
weights whose names or shapes do not match the network the config describes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import lab
from lab.nets import SineMLP, skeleton

FORMAT = 1  # bump when the layout of the .pt/.json pair changes
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"  # shipped checkpoints, wherever the cwd is
ASSETS_ENV = "LAB_ASSETS_DIR"


def assets_dir() -> Path:
    """Return the folder the app loads checkpoints from: ``$LAB_ASSETS_DIR`` if set, else :data:`ASSETS_DIR`."""
    forced = os.environ.get(ASSETS_ENV, "").strip()
    return Path(forced) if forced else ASSETS_DIR
REMAKE = "re-run `python -m lab pretrain`"


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged or incompatible; the message says which file and what to do."""


def _show(path: Path) -> str:
    """Return ``path`` relative to the working directory when it lies below it (shorter messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _paths(stem: Path | str) -> tuple[Path, Path]:
    stem = Path(stem)
    if stem.suffix in (".pt", ".json"):
        stem = stem.with_suffix("")
    return stem.with_name(stem.name + ".pt"), stem.with_name(stem.name + ".json")


def checkpoint_stamp(stem: Path | str) -> str:
    """Return ``"mtime:size/mtime:size"`` of ``<stem>.pt`` and ``<stem>.json`` (``-`` for a missing file): it
    changes whenever the checkpoint is rewritten, so caches keyed on it pick a retrained model up."""
    stamps = []
    for path in _paths(stem):
        stat = path.stat() if path.is_file() else None
        stamps.append(f"{stat.st_mtime_ns}:{stat.st_size}" if stat else "-")
    return "/".join(stamps)


def sha256_of(path: Path) -> str:
    """Return the hex sha256 digest of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:2])


def staged_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path`` and return ``tmp`` (rename it over ``path`` to
    commit). On failure (a full disk, no permission) the temporary file is removed and ``OSError`` says that
    ``path`` was left as it was and what to do; nothing saved before is touched."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
    except (OSError, RuntimeError) as exc:  # torch.save reports a failed write as a RuntimeError
        tmp.unlink(missing_ok=True)
        if isinstance(exc, RuntimeError) and "writ" not in str(exc).lower():
            raise
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "the write failed; is the disk full?"
        raise OSError(getattr(exc, "errno", None) or errno.EIO,
                      f"could not save ({reason}); what was saved there before is left as it was — free some "
                      f"disk space or save somewhere else", str(path)) from exc
    return tmp


def save_checkpoint(path: Path | str, state_dict: dict[str, Any], config: dict[str, Any], kind: str,
                    extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``<path>.pt`` (the state dict) and ``<path>.json`` (its card); return both paths.

    ``path`` is a stem without suffix. Both files are written in full under temporary names before either
    is renamed into place, so a crash or a full disk never leaves a half-written checkpoint, nor a new
    ``.pt`` beside an old card, under the real name (:func:`staged_write` raises ``OSError`` then).
    """
    pt, card = _paths(path)
    pt.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() if isinstance(v, torch.Tensor) else v for k, v in state_dict.items()}
    pt_tmp = staged_write(pt, lambda tmp: torch.save(state, tmp))
    meta = {
        "kind": kind,
        "format": FORMAT,
        "lab_version": lab.__version__,
        "torch_version": torch.__version__,
        "sha256": sha256_of(pt_tmp),
        "config": config,
        "extra": extra or {},
    }
    try:
        card_tmp = staged_write(card, lambda tmp: tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n"))
    except OSError:
        pt_tmp.unlink(missing_ok=True)
        raise
    os.replace(pt_tmp, pt)
    os.replace(card_tmp, card)
    return pt, card


def read_card(path: Path | str) -> dict[str, Any]:
    """Return the parsed JSON card of checkpoint ``path`` (a stem); raise :class:`CheckpointError` if unusable."""
    _, card = _paths(path)
    if not card.exists():
        raise CheckpointError(f"{_show(card)} is missing; {REMAKE}")
    try:
        meta = json.loads(card.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{_show(card)} is not valid JSON ({getattr(exc, 'msg', exc)}); {REMAKE}") from exc
    if not isinstance(meta, dict) or not {"kind", "format", "lab_version", "sha256", "config"} <= meta.keys():
        raise CheckpointError(f"{_show(card)} lacks the kind/format/lab_version/sha256/config fields; {REMAKE}")
    if not isinstance(meta["config"], dict) or not isinstance(meta["config"].get("net"), dict):
        raise CheckpointError(f"{_show(card)} has no config.net object (the network's shape); {REMAKE}")
    return meta


def load_checkpoint(path: Path | str, kind: str, map_location: torch.device | str = "cpu"
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(state_dict, meta)`` of checkpoint ``path`` (a stem), after every compatibility check.

    Raises :class:`CheckpointError` for a missing/corrupted/incompatible checkpoint or the wrong ``kind``.
    """
    pt, card = _paths(path)
    if not pt.exists():
        raise CheckpointError(f"{_show(pt)} is missing; {REMAKE}")
    meta = read_card(path)
    if meta["kind"] != kind:
        raise CheckpointError(f"{_show(pt)} holds a {meta['kind']!r} model, not {kind!r}; pass the right checkpoint")
    if meta["format"] != FORMAT or _major_minor(meta["lab_version"]) != _major_minor(lab.__version__):
        raise CheckpointError(
            f"{_show(pt)} was made by lab {meta['lab_version']} (checkpoint format {meta['format']}); "
            f"this is lab {lab.__version__} (format {FORMAT}) — {REMAKE}")
    if sha256_of(pt) != meta["sha256"]:
        raise CheckpointError(f"{_show(pt)} is corrupted (checksum mismatch); {REMAKE}")
    try:
        state = torch.load(pt, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise CheckpointError(f"{_show(pt)} cannot be read by torch.load ({type(exc).__name__}); {REMAKE}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{_show(pt)} does not hold a state dict; {REMAKE}")
    return state, meta


def check_state_matches(net: nn.Module, state: dict[str, Any], where: Path | str) -> None:
    """Raise :class:`CheckpointError` unless ``state`` has exactly ``net``'s parameter names and shapes."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    if expected.keys() != got.keys():
        missing, unexpected = sorted(expected.keys() - got.keys()), sorted(got.keys() - expected.keys())
        raise CheckpointError(f"{_show(Path(where))} does not match its config's network (missing {missing}, "
                              f"unexpected {unexpected}); {REMAKE}")
    for k, shape in expected.items():
        if got[k] != shape:
            raise CheckpointError(f"{_show(Path(where))} does not match its config's network: {k} is {list(got[k])}, "
                                  f"the config needs {list(shape)}; {REMAKE}")


def build_sine_net(config: dict[str, Any]) -> SineMLP:
    """Return a :class:`SineMLP` shaped as ``config["net"]`` says (``hidden``, ``layers``), weights uninitialised.

    Built by :func:`lab.nets.skeleton`, so it draws nothing from torch's global generator: load weights into
    it, fill it with :func:`lab.nets.random_init`, or use it functionally with other parameters.
    """
    net_cfg = config.get("net", {}) if isinstance(config, dict) else None
    if not isinstance(net_cfg, dict):
        raise CheckpointError(f"the checkpoint's net config {net_cfg!r} is not an object; {REMAKE}")
    try:
        return skeleton(SineMLP, hidden=int(net_cfg.get("hidden", 40)), layers=int(net_cfg.get("layers", 2)))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint's net config {net_cfg} is not valid ({exc}); {REMAKE}") from exc


def load_sine_model(path: Path | str, kind: str = "maml_sine", map_location: torch.device | str = "cpu"
                    ) -> tuple[SineMLP, dict[str, Any]]:
    """Return ``(net, meta)``: a :class:`SineMLP` built from the card's config with the saved weights loaded."""
    state, meta = load_checkpoint(path, kind, map_location)
    net = build_sine_net(meta["config"])
    check_state_matches(net, state, _paths(path)[0])
    net.load_state_dict(state)
    return net.to(map_location), meta
