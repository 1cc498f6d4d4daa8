"""Reader for the real Omniglot data set (Lake, Salakhutdinov & Tenenbaum 2015) as a class source.

Reads the official archives (``images_background.zip``, ``images_evaluation.zip``, the ``_small1/2``
subsets) or folders extracted from them, laid out as ``<top>/<Alphabet>/characterNN/*.png`` (105x105,
black ink on white). Every character becomes a class; its 20 drawings are inverted (ink = 1), resized to
``image_size`` with area averaging and kept in memory as uint8 — the whole background set is ~15 MB at
28x28. Decoded archives are cached per (path, image_size) in-process, since the web app asks repeatedly.
``rotations=True`` adds the 90/180/270-degree rotations of every character as new classes, the standard
few-shot protocol (Santoro et al. 2016; Vinyals et al. 2016).

Nothing is downloaded here; :func:`default_omniglot_path` says where a copy is looked for.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lab.home import data_dir
from lab.tasks.base import check_positive

ENV_VAR = "LAB_OMNIGLOT_DIR"
LAYOUT = "an Omniglot zip (e.g. images_background.zip), a folder of such zips, or a folder laid out as " \
         "<Alphabet>/characterNN/*.png"


def default_omniglot_path() -> Path | None:
    """Return ``$LAB_OMNIGLOT_DIR`` if set, else the developers' copy ``<repo>/../shared/data/omniglot`` if it
    exists, else the download folder ``data_dir()/"omniglot"`` (``python -m lab data omniglot --download``)
    if it holds anything but a partial download, else ``None``."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "omniglot"
    if shared.is_dir():
        return shared
    downloaded = data_dir() / "omniglot"
    ready = downloaded.is_dir() and any(not p.name.startswith(".") for p in downloaded.iterdir())
    return downloaded if ready else None


def _decode(data: bytes, where: str) -> np.ndarray:
    """Return a PNG as a float32 [H, W] array with ink = 1; ``ValueError`` naming ``where`` if unreadable."""
    from PIL import Image, UnidentifiedImageError  # Pillow ships with streamlit; imported only when reading

    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.asarray(image.convert("L"), dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"{where}: not a readable PNG image ({exc})") from None
    return 1.0 - pixels / 255.0


def _entries(root: Path) -> Iterator[tuple[str, str, str, bytes]]:
    """Yield ``(alphabet, character, where, png bytes)`` for every drawing under ``root`` (file or folder)."""
    if root.is_file():
        yield from _zip_entries(root)
        return
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() == ".zip" and path.is_file():
            yield from _zip_entries(path)
        elif path.suffix.lower() == ".png" and path.is_file():
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ValueError(f"{path}: cannot read file ({exc})") from None
            yield path.parent.parent.name, path.parent.name, str(path), data


def _zip_entries(path: Path) -> Iterator[tuple[str, str, str, bytes]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{path}: not a readable zip archive ({exc}); re-download it") from None
    with archive:
        for name in sorted(archive.namelist()):
            parts = name.split("/")
            if not name.lower().endswith(".png") or len(parts) < 3:
                continue
            try:
                data = archive.read(name)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
                raise ValueError(f"{path}!{name}: corrupted entry in zip archive ({exc}); re-download it") from None
            yield parts[-3], parts[-2], f"{path}!{name}", data


@lru_cache(maxsize=8)
def _load(root: str, image_size: int, stamp: int = 0) -> tuple[torch.Tensor, tuple[str, ...], tuple[str, ...]]:
    """Return uint8 images ``[characters, drawings, 1, S, S]`` (ink 255), and per character its alphabet
    and character folder name. The same (alphabet, character) found twice (e.g. Greek is in both small
    archives) is read once. ``stamp`` (the root's mtime) only keys the cache, so a replaced archive is reread."""
    characters: dict[tuple[str, str], list[tuple[str, np.ndarray]]] = {}
    first_source: dict[tuple[str, str], str] = {}
    for alphabet, character, where, data in _entries(Path(root)):
        key = (alphabet, character)
        source = where.split("!")[0] if "!" in where else str(Path(where).parents[2])
        if first_source.setdefault(key, source) != source:
            continue  # a duplicate copy from another archive or folder
        characters.setdefault(key, []).append((where, _decode(data, where)))
    if not characters:
        raise ValueError(f"{root}: no Omniglot images found; expected {LAYOUT}")
    keys = sorted(characters)
    counts = {len(characters[k]) for k in keys}
    if len(counts) != 1:
        key = min(keys, key=lambda k: len(characters[k]))
        raise ValueError(f"{root}: {key[0]}/{key[1]} has {len(characters[key])} drawings but others have "
                         f"{max(counts)}; the data looks incomplete, re-extract or re-download it")
    shapes = {img.shape for k in keys for _, img in characters[k]}
    if len(shapes) != 1:
        raise ValueError(f"{root}: images have different sizes {sorted(shapes)}; expected all 105x105")
    stacked = torch.from_numpy(np.stack([np.stack([img for _, img in characters[k]]) for k in keys]))
    n_chars, n_draw, h, w = stacked.shape
    small = F.adaptive_avg_pool2d(stacked.view(n_chars * n_draw, 1, h, w), image_size)
    images = (small * 255).round().to(torch.uint8).view(n_chars, n_draw, 1, image_size, image_size)
    return images, tuple(k[0] for k in keys), tuple(k[1] for k in keys)


class OmniglotSource:
    """Omniglot characters as classes: ``drawings_per_class`` (20) drawings each, ink = 1 on 0.

    With ``rotations`` the class ids ``r * n_characters + c`` (``r`` = 0..3) are character ``c`` rotated by
    ``90 * r`` degrees counter-clockwise.
    """

    name = "Omniglot"

    def __init__(self, images: torch.Tensor, alphabet_names: Sequence[str], char_names: Sequence[str],
                 rotations: bool = False, origin: str = "") -> None:
        self._images = images  # uint8 [characters, drawings, 1, S, S], shared with the cache: never modified
        self._alphabet_of_char = list(alphabet_names)
        self._char_names = list(char_names)
        self.alphabets = sorted(set(alphabet_names))
        self._alphabet_index = {a: i for i, a in enumerate(self.alphabets)}
        self.rotations = rotations
        self.origin = origin
        self.n_characters = int(images.shape[0])
        self.drawings_per_class: int | None = int(images.shape[1])
        self.image_size = int(images.shape[-1])
        self.n_classes = self.n_characters * (4 if rotations else 1)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], rotations: bool = False, image_size: int = 28,
                  alphabets: list[str] | None = None) -> OmniglotSource:
        """Return a source over every character found at ``path`` (see the module docstring for layouts),
        restricted to ``alphabets`` if given. Raises ``FileNotFoundError`` or ``ValueError`` naming the
        path or file and the problem."""
        check_positive("image_size", image_size, minimum=4)
        root = Path(path).expanduser()
        if not root.exists():
            hint = (f"fix {ENV_VAR}, which names it" if os.environ.get(ENV_VAR, "").strip()
                    else f"or set {ENV_VAR} to the right folder")
            raise FileNotFoundError(f"Omniglot path {root} does not exist; expected {LAYOUT} ({hint})")
        if root.is_file() and root.suffix.lower() != ".zip":
            raise ValueError(f"{root} is not a .zip file; expected {LAYOUT}")
        images, alphabet_names, char_names = _load(str(root.resolve()), image_size, root.stat().st_mtime_ns)
        source = cls(images, alphabet_names, char_names, rotations, origin=str(root))
        return source.subset(alphabets) if alphabets is not None else source

    def __repr__(self) -> str:
        return (f"OmniglotSource({self.origin!r}, {len(self.alphabets)} alphabets, {self.n_characters} "
                f"characters, rotations={self.rotations})")

    def subset(self, alphabets: Sequence[str]) -> OmniglotSource:
        """Return a source with only the characters of ``alphabets`` (names as in :attr:`alphabets`)."""
        unknown = [a for a in alphabets if a not in self._alphabet_index]
        if unknown or not alphabets:
            raise ValueError(f"unknown or no alphabets {unknown or list(alphabets)}; choose from {self.alphabets}")
        keep = [i for i, a in enumerate(self._alphabet_of_char) if a in set(alphabets)]
        return OmniglotSource(self._images[keep], [self._alphabet_of_char[i] for i in keep],
                              [self._char_names[i] for i in keep], self.rotations, self.origin)

    def split_by_alphabet(self, test_alphabets: Sequence[str]) -> tuple[OmniglotSource, OmniglotSource]:
        """Return ``(train, test)`` sources: ``test`` has ``test_alphabets``, ``train`` all the others."""
        test = self.subset(test_alphabets)
        rest = [a for a in self.alphabets if a not in set(test_alphabets)]
        if not rest:
            raise ValueError(f"test_alphabets={list(test_alphabets)} leaves no alphabet to train on")
        return self.subset(rest), test

    def _split_ids(self, class_ids: Sequence[int]) -> tuple[list[int], list[int]]:
        bad = [i for i in class_ids if not 0 <= i < self.n_classes]
        if bad:
            raise ValueError(f"class id {bad[0]} out of range; this source has {self.n_classes} classes")
        return [i % self.n_characters for i in class_ids], [i // self.n_characters for i in class_ids]

    def alphabet_of(self, class_id: int) -> int:
        """Return the index into :attr:`alphabets` of the alphabet of ``class_id``."""
        (char,), _ = self._split_ids([int(class_id)])
        return self._alphabet_index[self._alphabet_of_char[char]]

    def class_groups(self) -> torch.Tensor:
        """Return ``[n_classes]`` group ids: classes share a group when they share an alphabet and a rotation."""
        ids = torch.arange(self.n_classes)
        alphabet = torch.tensor([self._alphabet_index[a] for a in self._alphabet_of_char])
        return alphabet[ids % self.n_characters] + len(self.alphabets) * (ids // self.n_characters)

    def class_names(self, class_ids: torch.Tensor | Sequence[int]) -> list[str]:
        """Return ``"Alphabet / characterNN"`` per class id, with ``" (rot 90)"`` etc. for rotated classes."""
        ids = [int(i) for i in (class_ids.tolist() if isinstance(class_ids, torch.Tensor) else class_ids)]
        chars, rots = self._split_ids(ids)
        return [f"{self._alphabet_of_char[c]} / {self._char_names[c]}" + (f" (rot {90 * r})" if r else "")
                for c, r in zip(chars, rots, strict=True)]

    def class_images(self, class_id: int) -> torch.Tensor:
        """Return all drawings of ``class_id`` as float32 ``[drawings_per_class, 1, S, S]`` in [0, 1]."""
        (char,), (rot,) = self._split_ids([int(class_id)])
        return torch.rot90(self._images[char], rot, dims=(-2, -1)).float() / 255.0

    def drawings(self, class_ids: torch.Tensor, n_per_class: int, rng: torch.Generator) -> torch.Tensor:
        """Return float32 ``[N, n_per_class, 1, S, S]`` in [0, 1]: distinct drawings (without replacement)
        of each class, chosen with ``rng``; the images live on ``rng.device``."""
        check_positive("n_per_class", n_per_class)
        if n_per_class > self.drawings_per_class:
            raise ValueError(f"n_per_class={n_per_class} but Omniglot has {self.drawings_per_class} drawings "
                             f"per character; choose at most {self.drawings_per_class}")
        chars, rots = self._split_ids([int(i) for i in class_ids.reshape(-1).tolist()])
        keys = torch.rand((len(chars), self.drawings_per_class), generator=rng, device=rng.device)
        picks = keys.argsort(dim=1)[:, :n_per_class].cpu()
        chars_t = torch.tensor(chars, dtype=torch.long)
        out = self._images[chars_t.unsqueeze(1), picks]  # [N, n_per_class, 1, S, S] uint8
        rots_t = torch.tensor(rots)
        for r in range(1, 4):
            rows = (rots_t == r).nonzero().view(-1)
            if len(rows):
                out[rows] = torch.rot90(out[rows], r, dims=(-2, -1))
        return out.to(rng.device).float().div_(255.0)
