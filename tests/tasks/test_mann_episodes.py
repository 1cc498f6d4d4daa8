"""MANN episodes: delayed labels, instance counts, shuffled labels, string labels and the limits' messages."""

from __future__ import annotations

import pytest
import torch

from lab.compute import make_generator
from lab.tasks.mann_episodes import STRING_CHARS, MANNTaskFamily, instance_counts
from lab.tasks.splits import glyph_split
from tests.tasks.test_episodes import CountingSource


def _family(**kwargs) -> MANNTaskFamily:
    return MANNTaskFamily(CountingSource(n_classes=12, drawings_per_class=20), **kwargs)


def test_labels_arrive_one_step_late_and_match_the_images() -> None:
    batch = _family(n_classes=3, length=12, image_size=4).sample(make_generator(0), 2)
    assert batch.images.shape == (2, 12, 1, 4, 4)
    assert torch.equal(batch.label_inputs[:, 0], torch.zeros(2, 3))
    assert torch.equal(batch.label_inputs[:, 1:].argmax(-1), batch.labels[:, :-1])
    # CountingSource's drawings have value class + j/100, so each label's images share their integer part.
    classes = batch.images[:, :, 0, 0, 0].floor().long()
    expected = batch.meta["class_ids"].gather(1, batch.labels)
    assert torch.equal(classes, expected)


def test_every_class_appears_equally_often_and_instances_count_up() -> None:
    batch = _family(n_classes=4, length=20).sample(make_generator(1), 3)
    for row in batch.labels:
        assert torch.bincount(row, minlength=4).tolist() == [5, 5, 5, 5]
    assert int(batch.instance.max()) == 5
    labels = torch.tensor([[0, 1, 0, 0, 1]])
    assert instance_counts(labels).tolist() == [[1, 1, 2, 3, 2]]


def test_labels_are_shuffled_per_episode_and_seeded() -> None:
    family = _family(n_classes=5, length=10)
    a, b = family.sample(make_generator(2), 20), family.sample(make_generator(2), 20)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    firsts = {tuple(row.tolist()) for row in a.meta["class_ids"]}
    assert len(firsts) > 1  # different classes behind label 0..4 from episode to episode


def test_string_labels_are_distinct_five_character_codes() -> None:
    batch = _family(n_classes=10, length=20, label_mode="string").sample(make_generator(3), 4)
    assert batch.targets.shape == (4, 20, 5) and batch.label_inputs.shape == (4, 20, 25)
    assert int(batch.targets.max()) < STRING_CHARS
    for strings in batch.meta["strings"]:
        assert len({tuple(s.tolist()) for s in strings}) == 10
    # The delayed input is the previous step's string, one-hot per character.
    assert torch.equal(batch.label_inputs[:, 1:].view(4, 19, 5, 5).argmax(-1), batch.targets[:, :-1])


def test_limits_say_what_to_choose() -> None:
    with pytest.raises(ValueError, match="multiple of n_classes"):
        _family(n_classes=3, length=10)
    with pytest.raises(ValueError, match="choose length <= 100"):
        _family(n_classes=5, length=105)
    with pytest.raises(ValueError, match="choose n_classes <= 12"):
        _family(n_classes=13, length=26)
    with pytest.raises(ValueError, match="label_mode"):
        _family(label_mode="words")


def test_glyph_episodes_are_downsampled_to_20x20() -> None:
    batch = MANNTaskFamily(glyph_split().test, 5, 50).sample(make_generator(0), 2)
    assert batch.images.shape == (2, 50, 1, 20, 20)
    assert float(batch.images.min()) >= 0 and float(batch.images.max()) <= 1
