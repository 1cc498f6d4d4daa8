"""Download the official Omniglot archives (Lake, Salakhutdinov & Tenenbaum 2015), only when asked.

Fetches ``<name>.zip`` from :data:`BASE_URL` (github.com/brendenlake/omniglot, folder ``python/``) into
``data_dir()/"omniglot"`` by default, where :func:`lab.tasks.omniglot.default_omniglot_path` finds it.
Each archive is streamed to a hidden ``.<name>.zip.part`` file beside its final name, checked, then renamed:
a stopped or failed download never leaves a half file under the final name. An archive already there
that passes the check is not fetched again; one that fails it is fetched again.

The check: every archive is opened as a zip (``testzip`` reads every entry's CRC) and must hold exactly
its known number of PNG drawings under ``<name>/<Alphabet>/characterNN/``. On top of that, the two small
archives have a pinned SHA-256 (computed from the official files), and the two full ones the MD5 that
torchvision pins for the same URLs (``torchvision.datasets.Omniglot``): we could not fetch the full
archives to compute their SHA-256 ourselves.

Nothing is downloaded at import or when the app starts; :func:`download_omniglot` runs only from
``python -m lab data omniglot --download`` or a caller that asks for it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.home import data_dir, ensure_dir

BASE_URL = "https://github.com/brendenlake/omniglot/raw/master/python"
TIMEOUT_S = 60  # per network read: a stalled connection fails with a message instead of hanging
CHUNK = 1 << 16


@dataclass(frozen=True)
class Archive:
    """One official archive: how many PNG drawings it holds and the digest(s) it must have."""

    name: str
    n_drawings: int  # characters x 20 drawings
    sha256: str | None = None
    md5: str | None = None  # only where no SHA-256 is pinned


ARCHIVES: dict[str, Archive] = {a.name: a for a in (
    Archive("images_background", 964 * 20, md5="68d2efa1b9178cc56df9314c21c6e718"),
    Archive("images_evaluation", 659 * 20, md5="6b91aef0f799c5bb55b94e3f2daec811"),
    Archive("images_background_small1", 136 * 20,
            sha256="f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4"),
    Archive("images_background_small2", 156 * 20,
            sha256="3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f"),
)}
FULL = ("images_background", "images_evaluation")  # the standard background/evaluation split
SMALL = ("images_background_small1", "images_background_small2")  # the harder small-background subsets

Progress = Callable[[str, int, int | None], None]  # (archive name, bytes so far, total bytes or None)


class DownloadError(OSError):
    """The network failed (no connection, HTTP error, timeout); the one-line message names the URL."""


def omniglot_dir() -> Path:
    """Return the default download folder ``data_dir()/"omniglot"`` (it may not exist yet)."""
    return data_dir() / "omniglot"


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm, usedforsecurity=False)  # md5 only matches a published digest here
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _archive(name: str) -> Archive:
    if name not in ARCHIVES:
        raise ValueError(f"unknown Omniglot archive {name!r}; choose from {sorted(ARCHIVES)}")
    return ARCHIVES[name]


def archive_problem(path: Path | str, name: str | None = None) -> str | None:
    """Return what is wrong with ``path`` as the official archive ``name`` (default: the file's stem), or
    ``None`` if it is intact: pinned digest, readable zip (every CRC), the expected number of drawings in
    the expected layout."""
    path = Path(path)
    archive = _archive(name or path.name.removesuffix(".zip"))
    for algorithm in ("sha256", "md5"):
        expected = getattr(archive, algorithm)
        if expected and _digest(path, algorithm) != expected:
            return f"{algorithm} mismatch: not the official {archive.name}.zip"
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            names = zf.namelist()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        return f"not a readable zip archive: {exc}"
    if bad is not None:
        return f"entry {bad} is corrupted"
    drawings = [n for n in names if n.lower().endswith(".png")]
    misplaced = [n for n in drawings if len(n.split("/")) != 4 or n.split("/")[0] != archive.name]
    if misplaced or len(drawings) != archive.n_drawings:
        return (f"{len(drawings)} drawings ({len(misplaced)} outside {archive.name}/<Alphabet>/characterNN/), "
                f"expected {archive.n_drawings}")
    return None


def check_archive(path: Path | str, name: str | None = None) -> None:
    """Raise ``ValueError`` naming ``path`` and the fix unless :func:`archive_problem` finds it intact."""
    problem = archive_problem(path, name)
    if problem:
        raise ValueError(f"{path} is corrupted ({problem}); delete it and run "
                         f"`python -m lab data omniglot --download` again")


def find_archives(folder: Path | str) -> dict[str, Path]:
    """Return the known archives present in ``folder``, as ``<name>.zip`` or an extracted ``<name>/``
    folder, by name (nothing is checked or read)."""
    folder = Path(folder)
    found = {}
    for name in ARCHIVES:
        for candidate in (folder / f"{name}.zip", folder / name):
            if candidate.exists():
                found[name] = candidate
                break
    return found


def _fetch(url: str, part: Path, name: str, progress: Progress | None) -> None:
    """Stream ``url`` into ``part``; network failures become :class:`DownloadError`."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(part, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(name, done, total)
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        reason = exc if isinstance(exc, urllib.error.HTTPError) else getattr(exc, "reason", exc)
        raise DownloadError(f"could not download {url} ({reason}); check the connection and run it again"
                            ) from None
    if total is not None and done != total:
        raise DownloadError(f"download of {url} stopped after {done} of {total} bytes; run it again")


def download_omniglot(dest: Path | str | None = None, archives: Sequence[str] = FULL,
                      progress: Progress | None = None) -> list[Path]:
    """Download the Omniglot ``archives`` (names in :data:`ARCHIVES`) into ``dest`` (default
    :func:`omniglot_dir`) and return their paths, in the order asked.

    An archive already in ``dest`` that passes :func:`check_archive` is kept as is. ``progress`` is called
    as ``progress(name, bytes_so_far, total_bytes_or_None)`` while downloading. Raises ``ValueError`` for an
    unknown name or a download that fails the check (naming the file; it is not saved, an older file stays as it was),
    :class:`DownloadError` (an ``OSError``) when the network fails, and ``OSError`` for a ``dest`` that
    cannot be a folder (e.g. under a file).
    """
    wanted = [_archive(name) for name in archives]
    folder = ensure_dir(Path(dest).expanduser() if dest is not None else omniglot_dir())
    paths = []
    for archive in wanted:
        final = folder / f"{archive.name}.zip"
        if final.is_file():
            if archive_problem(final, archive.name) is None:
                paths.append(final)
                continue
            # else a damaged or foreign file: fetch it again (replaced only once the new one passes)
        part = folder / f".{archive.name}.zip.part"
        try:
            _fetch(f"{BASE_URL}/{archive.name}.zip", part, archive.name, progress)
            problem = archive_problem(part, archive.name)
            if problem:
                raise ValueError(f"the downloaded {final.name} is corrupted ({problem}) and was not "
                                 f"saved; run the download again")
            os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)  # after a failure or Ctrl-C; a no-op once renamed
        paths.append(final)
    return paths
