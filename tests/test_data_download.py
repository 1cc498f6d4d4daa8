"""Omniglot download: served from a local ``file://`` folder (no network), checked, renamed, not re-fetched.

Tests that copy the real small archives skip when ``../shared/data/omniglot`` lacks them; the layout tests
build tiny zips in tmp_path.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import pytest

import lab.data_download as dl
from lab.cli import main
from lab.data_download import Archive, DownloadError, archive_problem, check_archive, download_omniglot
from lab.tasks import omniglot

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot"
SMALL1 = "images_background_small1"
needs_data = pytest.mark.skipif(not (SHARED / f"{SMALL1}.zip").is_file(),
                                reason=f"official small Omniglot archives not found in {SHARED}")


@pytest.fixture
def served(monkeypatch, tmp_path) -> Path:
    """Return a folder served as BASE_URL (file://), holding a copy of the small archives."""
    folder = tmp_path / "served"
    folder.mkdir()
    for name in dl.SMALL:
        shutil.copy(SHARED / f"{name}.zip", folder)
    monkeypatch.setattr(dl, "BASE_URL", folder.as_uri())
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    return folder


def _flip_bytes(path: Path, at: int = 5000) -> None:
    data = bytearray(path.read_bytes())
    data[at:at + 4] = bytes(b ^ 0xFF for b in data[at:at + 4])
    path.write_bytes(bytes(data))


@needs_data
def test_pinned_hashes_match_the_official_small_archives():
    for name in dl.SMALL:
        digest = hashlib.sha256((SHARED / f"{name}.zip").read_bytes()).hexdigest()
        assert digest == dl.ARCHIVES[name].sha256
        assert archive_problem(SHARED / f"{name}.zip") is None


@needs_data
def test_download_checks_and_renames(served, tmp_path):
    seen = []
    (path,) = download_omniglot(tmp_path / "dest", [SMALL1], progress=lambda *a: seen.append(a))
    assert path == tmp_path / "dest" / f"{SMALL1}.zip"
    assert path.read_bytes() == (served / f"{SMALL1}.zip").read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no .part left
    size = path.stat().st_size
    assert seen[-1] == (SMALL1, size, size)


@needs_data
def test_default_folder_is_in_lab_home_and_found_by_the_reader(served, tmp_path, monkeypatch):
    monkeypatch.delenv("LAB_OMNIGLOT_DIR", raising=False)
    # Pretend the developers' shared copy is absent: the reader's module lives somewhere without one.
    monkeypatch.setattr(omniglot, "__file__", str(tmp_path / "a" / "lab" / "tasks" / "omniglot.py"))
    assert omniglot.default_omniglot_path() is None
    (path,) = download_omniglot(archives=[SMALL1])
    assert path.parent == tmp_path / "home" / "data" / "omniglot"
    assert omniglot.default_omniglot_path() == path.parent


@needs_data
def test_a_corrupted_download_raises_naming_the_file_and_saves_nothing(served, tmp_path):
    _flip_bytes(served / f"{SMALL1}.zip")
    with pytest.raises(ValueError, match=rf"{SMALL1}\.zip is corrupted \(sha256 mismatch.*run the download again"):
        download_omniglot(tmp_path / "dest", [SMALL1])
    assert list((tmp_path / "dest").iterdir()) == []


@needs_data
def test_a_good_file_is_not_fetched_again_and_a_bad_one_is(served, tmp_path):
    (path,) = download_omniglot(tmp_path / "dest", [SMALL1])
    (served / f"{SMALL1}.zip").unlink()  # any fetch would now fail
    assert download_omniglot(tmp_path / "dest", [SMALL1]) == [path]
    _flip_bytes(path)
    with pytest.raises(ValueError, match="sha256 mismatch.*delete it and run"):
        check_archive(path)
    shutil.copy(SHARED / f"{SMALL1}.zip", served)
    assert download_omniglot(tmp_path / "dest", [SMALL1]) == [path]
    assert archive_problem(path) is None


def test_network_errors_are_one_line_oserrors(monkeypatch, tmp_path):
    monkeypatch.setattr(dl, "BASE_URL", (tmp_path / "nowhere").as_uri())
    with pytest.raises(DownloadError) as info:
        download_omniglot(tmp_path / "dest", [SMALL1])
    assert isinstance(info.value, OSError) and "\n" not in str(info.value)
    assert f"{SMALL1}.zip" in str(info.value) and "run it again" in str(info.value)
    assert list((tmp_path / "dest").iterdir()) == []


def test_unknown_archive_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown Omniglot archive 'images_nope'; choose from"):
        download_omniglot(tmp_path, ["images_nope"])


def _tiny_zip(path: Path, top: str, n: int) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(n):
            zf.writestr(f"{top}/Alphabet/character01/{i:02d}.png", b"png")
    path.write_bytes(buffer.getvalue())
    return path


def test_archives_without_a_pinned_hash_are_checked_by_layout(monkeypatch, tmp_path):
    monkeypatch.setitem(dl.ARCHIVES, "tiny", Archive("tiny", n_drawings=3))
    assert archive_problem(_tiny_zip(tmp_path / "tiny.zip", "tiny", 3)) is None
    assert "2 drawings" in archive_problem(_tiny_zip(tmp_path / "tiny.zip", "tiny", 2))
    assert "outside tiny/" in archive_problem(_tiny_zip(tmp_path / "tiny.zip", "other", 3))
    (tmp_path / "tiny.zip").write_bytes(b"PK not a zip")
    assert "not a readable zip" in archive_problem(tmp_path / "tiny.zip")


@needs_data
def test_cli_download_prints_the_folder_to_pass(served, tmp_path, capsys):
    dest = tmp_path / "dest"
    assert main(["data", "omniglot", "--download", "--small", "--dest", str(dest)]) == 0
    out = capsys.readouterr().out
    assert f"--omniglot {dest}" in out and sorted(p.name for p in dest.iterdir()) == [
        f"{name}.zip" for name in dl.SMALL]
    assert main(["data", "omniglot", "--dest", str(dest)]) == 0
    out = capsys.readouterr().out
    assert str(dest) in out and ", ".join(dl.SMALL) in out


def test_cli_bad_dest_and_network_failure_are_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(dl, "BASE_URL", (tmp_path / "nowhere").as_uri())
    (tmp_path / "file").write_text("")
    assert main(["data", "omniglot", "--download", "--dest", str(tmp_path / "file" / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "file" / "sub") in err and "Traceback" not in err
    assert main(["data", "omniglot", "--download", "--small", "--dest", str(tmp_path / "dest")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not download" in err
