"""What the few-shot pages share: the held-out classes they test on, and the trained models they pick from.

* :func:`held_out_source` — the test classes of the glyph or Omniglot split (:mod:`lab.tasks.splits`): the
  models never saw them in training, so every page measures generalisation to new characters.
* :func:`model_choices` — the loadable checkpoints of a *method*; ``"maml"`` and ``"fomaml"`` are both
  checkpoints of kind ``maml`` and differ in their card's ``net.first_order``.
* :func:`checkpoint_stamp` — a tag that changes when a checkpoint is rewritten, for the pages' caches.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lab.checkpoint import CheckpointError, read_card
from lab.fewshot_models import ModelChoice, available_models
from lab.tasks.episodes import ClassSource
from lab.tasks.splits import DATA_SOURCES, glyph_split, omniglot_split

LEARNED = ("protonet", "relation", "maml", "fomaml")  # methods that need a trained checkpoint
KIND_OF = {"protonet": "protonet", "relation": "relation", "maml": "maml", "fomaml": "maml"}


@lru_cache(maxsize=1)
def _glyph_test() -> ClassSource:
    return glyph_split().test


def held_out_source(data: str, omniglot: str | Path | None = None) -> ClassSource:
    """Return the held-out (test) classes of ``data``: ``"glyphs"`` or ``"omniglot"`` (read from ``omniglot``,
    default the configured copy). Raises ``FileNotFoundError`` when no Omniglot copy is found and
    ``ValueError`` for an unknown ``data`` or unusable Omniglot files."""
    if data == "glyphs":
        return _glyph_test()
    if data == "omniglot":
        return omniglot_split(omniglot).test  # the decoded archives are cached by the reader
    raise ValueError(f"data={data!r}; choose one of {DATA_SOURCES}")


def _is_first_order(choice: ModelChoice) -> bool | None:
    """Return the card's ``net.first_order`` of a MAML checkpoint, ``None`` when the card cannot be read."""
    try:
        net = read_card(choice.path).get("config", {}).get("net", {})
    except (CheckpointError, OSError):
        return None
    return bool(net.get("first_order", False)) if isinstance(net, dict) else False


def model_choices(method: str) -> tuple[list[ModelChoice], list[str]]:
    """Return ``(choices, problems)`` for ``method`` (one of :data:`LEARNED`): the shipped model first, then
    the user's newest first, and one line per unreadable checkpoint in the user's folder. A MAML checkpoint
    counts as ``"fomaml"`` when it was trained first-order, else as ``"maml"``."""
    if method not in KIND_OF:
        raise ValueError(f"method={method!r}; choose one of {LEARNED}")
    choices, problems = available_models(KIND_OF[method])
    if KIND_OF[method] == "maml":
        flags = [_is_first_order(c) for c in choices]
        problems += [f"{c.path}.json: the card cannot be read" for c, f in zip(choices, flags, strict=True)
                     if f is None]
        choices = [c for c, f in zip(choices, flags, strict=True) if f is (method == "fomaml")]
    return choices, problems


def checkpoint_stamp(stem: str | Path) -> str:
    """Return ``"mtime:size/mtime:size"`` of ``<stem>.pt`` and ``<stem>.json`` (``-`` for a missing file): it
    changes whenever the checkpoint is rewritten, so caches keyed on it pick a retrained model up."""
    stamps = []
    for suffix in (".pt", ".json"):
        path = Path(f"{stem}{suffix}")
        stat = path.stat() if path.is_file() else None
        stamps.append(f"{stat.st_mtime_ns}:{stat.st_size}" if stat else "-")
    return "/".join(stamps)
