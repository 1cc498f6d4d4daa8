"""The train/test class splits: disjoint, sized as documented, and the issue's Omniglot protocol."""

from __future__ import annotations

import pytest

from lab.tasks.omniglot import default_omniglot_path
from lab.tasks.splits import data_split, glyph_split, omniglot_split


def test_glyph_split_holds_out_ten_alphabets():
    split = glyph_split()
    assert split.train.n_classes == 1600 and split.test.n_classes == 400
    assert not set(split.train.alphabet_ids) & set(split.test.alphabet_ids)


def test_unknown_data_is_refused():
    with pytest.raises(ValueError, match="data='mnist'"):
        data_split("mnist")


def _shared_copy():
    path = default_omniglot_path()
    if path is None or not (path / "images_background_small1.zip").exists():
        pytest.skip("the small Omniglot archives are not on this machine (../shared/data/omniglot)")
    return path


def test_small_archives_train_on_small1_with_rotations_and_test_on_alphabets_only_in_small2():
    split = omniglot_split(_shared_copy())
    assert split.train.rotations and not split.test.rotations
    assert split.train.n_classes == 4 * 136
    assert split.test.alphabets == ["Japanese_(katakana)", "Sanskrit", "Tagalog"]
    assert not set(split.train.alphabets) & set(split.test.alphabets)


def test_a_single_archive_holds_out_its_last_alphabets(tmp_path):
    split = omniglot_split(_shared_copy() / "images_background_small2.zip")
    assert split.test.alphabets == ["Tagalog"]  # 5 alphabets: the last fifth
    assert "Tagalog" not in split.train.alphabets and split.train.rotations
