"""Omniglot reader: counts from the small official archives, inversion, rotations, layouts and bad input.

Tests that need the real archives skip when they are absent; the error tests build broken files in tmp_path.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch

from lab.compute import make_generator
from lab.tasks import FewShotFamily, OmniglotSource, default_omniglot_path

DATA = default_omniglot_path() or Path(__file__).resolve().parents[3] / "shared" / "data" / "omniglot"
SMALL1 = DATA / "images_background_small1.zip"
SMALL2 = DATA / "images_background_small2.zip"
needs_data = pytest.mark.skipif(
    not (SMALL1.is_file() and SMALL2.is_file()),
    reason=f"Omniglot archives not found at {DATA}; set LAB_OMNIGLOT_DIR",
)


def png_bytes(size: int = 105, ink: bool = True) -> bytes:
    from PIL import Image

    image = Image.new("L", (size, size), 255)
    if ink:
        image.paste(0, (40, 10, 60, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@needs_data
def test_counts_of_the_small_archives() -> None:
    one, two = OmniglotSource.from_path(SMALL1), OmniglotSource.from_path(SMALL2)
    assert one.alphabets == ["Balinese", "Early_Aramaic", "Greek", "Korean", "Latin"]
    assert (one.n_classes, two.n_classes) == (136, 156)
    assert one.drawings_per_class == two.drawings_per_class == 20
    # Greek and Latin are in both archives, identical: a folder of both reads each character once.
    both = OmniglotSource.from_path(DATA)
    assert len(both.alphabets) == 8 and both.n_classes == 136 + 156 - 24 - 26
    assert OmniglotSource.from_path(SMALL1, rotations=True).n_classes == 4 * 136


@needs_data
def test_images_are_inverted_and_resized() -> None:
    source = OmniglotSource.from_path(SMALL1)
    x = source.drawings(torch.arange(0, 136, 9), 5, make_generator(0))
    assert x.shape == (16, 5, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.9
    assert 0.03 < x.mean() < 0.25  # ink (= 1) is the minority
    assert x[..., 0, :].mean() < 0.02  # the white margin became background 0
    assert source.class_names([0, 135]) == ["Balinese / character01", "Latin / character26"]
    assert source.alphabet_of(135) == 4


@needs_data
def test_drawings_without_replacement_and_seeded() -> None:
    source = OmniglotSource.from_path(SMALL1)
    ids = torch.tensor([4, 50])
    x = source.drawings(ids, 20, make_generator(1))
    for row, cid in enumerate(ids.tolist()):
        everything = source.class_images(cid).flatten(1)
        drawn = x[row].flatten(1)
        assert torch.cdist(drawn, everything).argmin(1).sort().values.tolist() == list(range(20))
    assert torch.equal(x, source.drawings(ids, 20, make_generator(1)))
    assert not torch.equal(x, source.drawings(ids, 20, make_generator(2)))


@needs_data
def test_rotated_classes_are_exact_rot90s() -> None:
    source = OmniglotSource.from_path(SMALL1, rotations=True)
    n = source.n_characters
    base = source.class_images(7)
    for r in range(1, 4):
        assert torch.equal(source.class_images(7 + r * n), torch.rot90(base, r, dims=(-2, -1)))
    ids = torch.tensor([7, 7 + n, 7 + 3 * n])
    x = [source.drawings(ids[i:i + 1], 3, make_generator(4)) for i in range(3)]
    assert torch.equal(x[1], torch.rot90(x[0], 1, dims=(-2, -1)))
    assert torch.equal(x[2], torch.rot90(x[0], 3, dims=(-2, -1)))
    assert source.class_names([7 + 2 * n]) == ["Balinese / character08 (rot 180)"]


@needs_data
def test_extracted_folder_matches_zip(tmp_path: Path) -> None:
    with zipfile.ZipFile(SMALL1) as archive:
        archive.extractall(tmp_path)
    from_zip = OmniglotSource.from_path(SMALL1)
    for path in (tmp_path, tmp_path / "images_background_small1"):
        folder = OmniglotSource.from_path(path)
        assert folder.alphabets == from_zip.alphabets
        assert torch.equal(folder.class_images(100), from_zip.class_images(100))
        assert folder.class_names(torch.arange(136)) == from_zip.class_names(torch.arange(136))


@needs_data
def test_alphabet_subsets_and_episodes() -> None:
    source = OmniglotSource.from_path(SMALL1, alphabets=["Greek", "Latin"])
    assert source.alphabets == ["Greek", "Latin"] and source.n_classes == 50
    train, test = OmniglotSource.from_path(SMALL1).split_by_alphabet(["Korean"])
    assert test.n_classes == 40 and "Korean" not in train.alphabets and train.n_classes == 96
    with pytest.raises(ValueError, match="choose from"):
        source.subset(["Klingon"])
    with pytest.raises(ValueError, match=r"k_shot=15 \+ n_query=10 = 25 drawings per class but Omniglot has 20"):
        FewShotFamily(source, n_way=5, k_shot=15, n_query=10)
    batch = FewShotFamily(source, n_way=20, k_shot=1, n_query=5).sample(make_generator(0), 2)
    assert batch.support_x.shape == (2, 20, 1, 28, 28) and batch.query_y.shape == (2, 100)


def test_default_path_honours_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAB_OMNIGLOT_DIR", str(tmp_path))
    assert default_omniglot_path() == tmp_path


def test_missing_empty_and_wrong_paths(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.*does not exist"):
        OmniglotSource.from_path(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no Omniglot images found"):
        OmniglotSource.from_path(tmp_path)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="notes.txt is not a .zip"):
        OmniglotSource.from_path(tmp_path / "notes.txt")


def test_corrupt_zip_and_png(tmp_path: Path) -> None:
    broken = tmp_path / "images_background.zip"
    broken.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(ValueError, match="images_background.zip: not a readable zip archive"):
        OmniglotSource.from_path(broken)
    bad_png = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad_png, "w") as archive:
        archive.writestr("top/Alpha/character01/0001_01.png", png_bytes())
        archive.writestr("top/Alpha/character01/0001_02.png", b"\x89PNG garbage")
    with pytest.raises(ValueError, match=r"0001_02.png: not a readable PNG"):
        OmniglotSource.from_path(bad_png)
    folder = tmp_path / "extracted" / "Alpha" / "character01"
    folder.mkdir(parents=True)
    (folder / "0001_01.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"character01.0001_01.png: not a readable PNG"):
        OmniglotSource.from_path(tmp_path / "extracted")


def test_incomplete_character_is_reported(tmp_path: Path) -> None:
    for char, count in (("character01", 3), ("character02", 2)):
        folder = tmp_path / "Alpha" / char
        folder.mkdir(parents=True)
        for j in range(count):
            (folder / f"{j:02d}.png").write_bytes(png_bytes())
    with pytest.raises(ValueError, match="Alpha/character02 has 2 drawings but others have 3"):
        OmniglotSource.from_path(tmp_path)
    (tmp_path / "Alpha" / "character02" / "99.png").write_bytes(png_bytes(ink=False))
    source = OmniglotSource.from_path(tmp_path)
    assert source.n_classes == 2 and source.drawings_per_class == 3
    assert source.class_images(1)[2].max() == 0 and source.class_images(0)[0].max() == 1


@needs_data
def test_class_groups_are_alphabet_and_rotation() -> None:
    source = OmniglotSource.from_path(SMALL1, rotations=True, alphabets=["Greek", "Latin"])
    groups = source.class_groups()
    assert groups.shape == (200,) and torch.bincount(groups).tolist() == [24, 26, 24, 26, 24, 26, 24, 26]
    for class_id in (0, 30, 77, 150, 199):  # same alphabet, same rotation <=> same group
        assert int(groups[class_id]) == source.alphabet_of(class_id) + 2 * (class_id // 50)
