"""The train/test class splits every few-shot learner is trained and measured on.

* ``glyphs`` — :class:`~lab.tasks.glyphs.GlyphAlphabets` with 50 alphabets of 40 characters (seed 0):
  the first 40 alphabets train, the last 10 are held out (1 600 / 400 classes).
* ``omniglot`` — depends on what the folder holds:

  - the two small background archives (``images_background_small1/2.zip``, the developers' copy): train on
    every character of ``small1`` with its 90/180/270-degree rotations as extra classes; test on the
    characters of the alphabets found only in ``small2`` (Japanese katakana, Sanskrit, Tagalog);
  - the full archives (``images_background``, ``images_evaluation``, zipped or extracted): the standard
    background/evaluation split (Lake et al. 2015), rotations in training;
  - anything else (one archive or folder): the alphabets sorted by name, the last fifth held out.

Test classes are never rotated: they are the characters as drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.tasks.glyphs import GlyphAlphabets
from lab.tasks.omniglot import OmniglotSource, default_omniglot_path

DATA_SOURCES = ("glyphs", "omniglot")
GLYPH_ALPHABETS, GLYPH_TRAIN_ALPHABETS, GLYPH_CHARS, GLYPH_SEED = 50, 40, 40, 0


@dataclass
class Split:
    """A train source, a held-out test source and a sentence saying how they were made."""

    train: object
    test: object
    description: str


def glyph_split(seed: int = GLYPH_SEED) -> Split:
    """Return the glyph split: 40 training alphabets, 10 held out."""
    full = GlyphAlphabets(GLYPH_ALPHABETS, GLYPH_CHARS, seed=seed)
    train, test = full.split(GLYPH_TRAIN_ALPHABETS)
    return Split(train, test, f"glyphs seed {seed}: alphabets 0-{GLYPH_TRAIN_ALPHABETS - 1} train "
                              f"({train.n_classes} classes), {GLYPH_TRAIN_ALPHABETS}-{GLYPH_ALPHABETS - 1} test "
                              f"({test.n_classes} classes)")


def _find(root: Path, stem: str) -> Path | None:
    for candidate in (root / f"{stem}.zip", root / stem):
        if candidate.exists():
            return candidate
    return None


def omniglot_split(path: str | Path | None = None) -> Split:
    """Return the Omniglot split for ``path`` (default :func:`default_omniglot_path`); see the module docstring.

    Raises ``FileNotFoundError`` when no path is given and no copy is found, ``ValueError`` for bad data.
    """
    if path is None:
        path = default_omniglot_path()
        if path is None:
            raise FileNotFoundError("no Omniglot copy found; pass --omniglot PATH or run "
                                    "`python -m lab data omniglot --download`")
    root = Path(path).expanduser()
    if root.is_dir():
        small1, small2 = _find(root, "images_background_small1"), _find(root, "images_background_small2")
        if small1 and small2:
            train = OmniglotSource.from_path(small1, rotations=True)
            both = OmniglotSource.from_path(small2)
            only_small2 = [a for a in both.alphabets if a not in set(train.alphabets)]
            return Split(train, both.subset(only_small2),
                         f"Omniglot: train {small1.name} with rotations ({train.n_classes} classes); test "
                         f"alphabets only in {small2.name}: {', '.join(only_small2)}")
        background, evaluation = _find(root, "images_background"), _find(root, "images_evaluation")
        if background and evaluation:
            train = OmniglotSource.from_path(background, rotations=True)
            test = OmniglotSource.from_path(evaluation)
            return Split(train, test, f"Omniglot: train {background.name} with rotations ({train.n_classes} "
                                      f"classes); test {evaluation.name} ({test.n_classes} classes)")
    whole = OmniglotSource.from_path(root)
    if len(whole.alphabets) < 2:
        raise ValueError(f"{root} holds one alphabet ({whole.alphabets[0]}); a train/test split needs at least 2")
    n_test = max(1, len(whole.alphabets) // 5)
    test_alphabets = whole.alphabets[-n_test:]
    train = OmniglotSource.from_path(root, rotations=True).subset(whole.alphabets[:-n_test])
    return Split(train, whole.subset(test_alphabets),
                 f"Omniglot {root.name}: test alphabets {', '.join(test_alphabets)}; the others train with rotations")


def data_split(data: str, omniglot: str | Path | None = None) -> Split:
    """Return the split for ``data`` (``"glyphs"`` or ``"omniglot"``)."""
    if data == "glyphs":
        return glyph_split()
    if data == "omniglot":
        return omniglot_split(omniglot)
    raise ValueError(f"data={data!r}; choose one of {DATA_SOURCES}")


# Validation splits for choosing a recipe without the test alphabets: these alphabets of Omniglot's training
# set are held out (as drawn, unrotated); the budget comes from the other training alphabets.
VALIDATION: dict[str, list[str]] = {"korean": ["Korean"], "greek-latin": ["Greek", "Latin"],
                                    "balinese-aramaic": ["Balinese", "Early_Aramaic"]}


def validation_split(name: str, omniglot: str | None = None) -> Split:
    """Return validation split ``name`` of :data:`VALIDATION`: Omniglot's training alphabets other than the
    held-out ones train (rotations as in the lab split), the held-out ones test. The test alphabets of
    :func:`data_split` take no part. Raises ``ValueError`` for an unknown name or alphabets
    the training set lacks."""
    if name not in VALIDATION:
        raise ValueError(f"validation split {name!r}; choose one of {', '.join(VALIDATION)}")
    train = data_split("omniglot", omniglot).train
    held = VALIDATION[name]
    missing = [a for a in held if a not in train.alphabets]
    if missing:
        raise ValueError(f"validation split {name!r} holds out {missing}, which the Omniglot training set lacks")
    rest = [a for a in train.alphabets if a not in held]
    return Split(train.subset(rest), OmniglotSource.from_path(train.origin).subset(held),
                 f"validation: train {', '.join(rest)} with rotations; validate on {', '.join(held)}")
