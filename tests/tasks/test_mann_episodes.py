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


class GroupedSource(CountingSource):
    """CountingSource with classes in groups of the given sizes (class ids in group order)."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        super().__init__(n_classes=sum(sizes))
        self.groups = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))

    def class_groups(self) -> torch.Tensor:
        return self.groups


def test_same_alphabet_episodes_stay_in_one_group_picked_by_size() -> None:
    source = GroupedSource((6, 18))
    batch = MANNTaskFamily(source, 5, 10, same_alphabet=1.0).sample(make_generator(4), 2000)
    groups = source.groups[batch.meta["class_ids"]]
    assert bool((groups == groups[:, :1]).all())
    # The group is that of a uniformly drawn class: 6/24 of episodes in the small group (binomial sd ~0.01).
    assert abs(float((groups[:, 0] == 0).float().mean()) - 0.25) < 0.04
    # Each class of the chosen group is equally likely (6 classes, 5 drawn: each in 5/6 of its episodes).
    small = batch.meta["class_ids"][groups[:, 0] == 0]
    share = torch.bincount(small.flatten(), minlength=6)[:6].float() / len(small)
    assert bool(((share - 5 / 6).abs() < 0.07).all())


def test_same_alphabet_share_of_episodes_and_default_draws_unchanged() -> None:
    source = GroupedSource((12, 12, 12, 12))
    batch = MANNTaskFamily(source, 5, 10, same_alphabet=0.4).sample(make_generator(5), 3000)
    groups = source.groups[batch.meta["class_ids"]]
    one_group = (groups == groups[:, :1]).all(1).float().mean()
    # 40% by construction, plus the mixed draws that land in one group by chance (4 * (11/47 ...) ~ 0.1%).
    assert abs(float(one_group) - 0.4) < 0.035
    plain = MANNTaskFamily(source, 5, 10).sample(make_generator(6), 50)
    zero = MANNTaskFamily(source, 5, 10, same_alphabet=0.0).sample(make_generator(6), 50)
    assert torch.equal(plain.images, zero.images) and torch.equal(plain.labels, zero.labels)


def test_same_alphabet_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="give a number in"):
        MANNTaskFamily(GroupedSource((12, 12)), 5, 10, same_alphabet=1.5)
    with pytest.raises(ValueError, match="has no alphabets"):
        _family(n_classes=5, length=10, same_alphabet=0.5)
    with pytest.raises(ValueError, match="smallest alphabet .* has 4 classes"):
        MANNTaskFamily(GroupedSource((4, 20)), 5, 10, same_alphabet=0.5)
