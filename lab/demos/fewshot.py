"""What the few-shot pages share: the held-out classes they test on, and the trained models they pick from.

* :func:`held_out_source` — the test classes of the glyph or Omniglot split (:mod:`lab.tasks.splits`): the
  models never saw them in training, so every page measures generalisation to new characters.
* :func:`model_choices` — the loadable checkpoints of a *method*; ``"maml"`` and ``"fomaml"`` are both
  checkpoints of kind ``maml`` and differ in their card's ``net.first_order``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from lab.checkpoint import CheckpointError, read_card
from lab.compute import make_generator
from lab.fewshot_models import ModelChoice, available_models
from lab.tasks.episodes import ClassSource
from lab.tasks.omniglot import ENV_VAR, default_omniglot_path
from lab.tasks.splits import DATA_SOURCES, glyph_split, omniglot_split

LEARNED = ("protonet", "relation", "maml", "fomaml")  # methods that need a trained checkpoint
KIND_OF = {"protonet": "protonet", "relation": "relation", "maml": "maml", "fomaml": "maml"}


@lru_cache(maxsize=1)
def _glyph_test() -> ClassSource:
    test = glyph_split().test
    # One drawing per alphabet generates its stroke skeletons (~0.1 s each) now, once per process, so that
    # no slider move pays for them later.
    test.drawings(torch.arange(0, test.n_classes, test.chars_per_alphabet), 1, make_generator(0))
    return test


@lru_cache(maxsize=4)
def _omniglot_test(folder: str, stamp: int) -> ClassSource:
    """Return the Omniglot test split of ``folder``; ``stamp`` (its mtime) only keys the cache."""
    return omniglot_split(folder).test


def held_out_source(data: str, omniglot: str | Path | None = None) -> ClassSource:
    """Return the held-out (test) classes of ``data``: the 10 test glyph alphabets (400 classes) for
    ``"glyphs"``, or the test alphabets of the Omniglot copy at ``omniglot`` (default: the configured copy,
    :func:`lab.tasks.omniglot.default_omniglot_path`) for ``"omniglot"``.

    Both are cached; an Omniglot split by folder and the folder's modification time, so a replaced archive
    is read again. Raises ``FileNotFoundError`` when no Omniglot folder is configured or it does not exist,
    and ``ValueError`` for an unknown ``data`` or unusable Omniglot files."""
    if data == "glyphs":
        return _glyph_test()
    if data == "omniglot":
        omniglot = omniglot or default_omniglot_path()
        if not omniglot:
            raise FileNotFoundError(f"no Omniglot folder is configured; set {ENV_VAR} to the folder with the "
                                    "Omniglot archives")
        folder = Path(omniglot).expanduser()
        # A missing folder is not cached: the reader raises an error that names it.
        return _omniglot_test(str(folder), folder.stat().st_mtime_ns if folder.exists() else -1)
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

