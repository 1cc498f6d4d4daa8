"""FewShotFamily over a tiny fake source and over glyphs: layout, labels, seeding and limit messages."""

from __future__ import annotations

import pytest
import torch

from lab.compute import make_generator
from lab.tasks import EpisodeBatch, FewShotFamily, GlyphAlphabets


class CountingSource:
    """Class c's drawing j is a constant image of value c + j / 100: labels and order are readable."""

    name = "counting"

    def __init__(self, n_classes: int = 12, drawings_per_class: int | None = 20) -> None:
        self.n_classes, self.drawings_per_class = n_classes, drawings_per_class

    def class_names(self, class_ids: list[int]) -> list[str]:
        return [f"class {int(i)}" for i in class_ids]

    def drawings(self, class_ids: torch.Tensor, n_per_class: int, rng: torch.Generator) -> torch.Tensor:
        limit = self.drawings_per_class or 1000
        picks = torch.rand((len(class_ids), limit), generator=rng).argsort(1)[:, :n_per_class]
        values = class_ids.view(-1, 1).float() + picks.float() / 100
        return values.view(-1, n_per_class, 1, 1, 1).expand(-1, -1, 1, 28, 28).clone()


def test_layout_labels_and_meta() -> None:
    family = FewShotFamily(CountingSource(), n_way=4, k_shot=2, n_query=3)
    batch = family.sample(make_generator(0), n_tasks=5)
    assert isinstance(batch, EpisodeBatch) and batch.n_tasks == 5
    assert batch.support_x.shape == (5, 8, 1, 28, 28) and batch.query_x.shape == (5, 12, 1, 28, 28)
    assert batch.support_y.dtype == torch.long and batch.query_y.dtype == torch.long
    assert batch.support_y[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert batch.query_y[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    ids = batch.meta["class_ids"]
    assert ids.shape == (5, 4) and ids.dtype == torch.long
    assert all(len(set(row.tolist())) == 4 for row in ids)  # distinct classes within a task
    assert batch.meta["class_names"][2] == [f"class {i}" for i in ids[2].tolist()]
    # Every image carries its class id in the integer part: support and query match their labels.
    for x, y in ((batch.support_x, batch.support_y), (batch.query_x, batch.query_y)):
        cls = x[:, :, 0, 0, 0].floor().long()
        assert torch.equal(cls, torch.gather(ids, 1, y))
    # Support and query drawings of a class are different drawings (no drawing used twice).
    for t in range(5):
        values = torch.cat([batch.support_x[t, :, 0, 0, 0], batch.query_x[t, :, 0, 0, 0]])
        assert len(set(values.tolist())) == 20


def test_seeding() -> None:
    family = FewShotFamily(GlyphAlphabets(n_alphabets=3, chars_per_alphabet=10), n_way=5, k_shot=1, n_query=2)
    a, b, c = (family.sample(make_generator(s), 2) for s in (7, 7, 8))
    assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_x, b.query_x)
    assert torch.equal(a.meta["class_ids"], b.meta["class_ids"])
    assert not torch.equal(a.support_x, c.support_x)


def test_limit_messages() -> None:
    with pytest.raises(ValueError, match=r"n_way=30 but counting has 20 classes; choose n_way <= 20"):
        FewShotFamily(CountingSource(n_classes=20), n_way=30)
    with pytest.raises(ValueError, match=r"k_shot=15 \+ n_query=10 = 25 drawings per class but counting has "
                                         r"20; choose k_shot \+ n_query <= 20"):
        FewShotFamily(CountingSource(), n_way=5, k_shot=15, n_query=10)
    with pytest.raises(ValueError, match="n_way=1 must be a whole number >= 2"):
        FewShotFamily(CountingSource(), n_way=1)
    with pytest.raises(ValueError, match="k_shot=0"):
        FewShotFamily(CountingSource(), k_shot=0)
    # Unlimited sources take any number of drawings.
    family = FewShotFamily(CountingSource(drawings_per_class=None), n_way=2, k_shot=30, n_query=30)
    assert family.sample(make_generator(0), 1).query_x.shape == (1, 60, 1, 28, 28)
    assert family.name == "counting 2-way 30-shot"


def test_task_slicing_keeps_names() -> None:
    batch = FewShotFamily(CountingSource(), n_way=3, k_shot=1, n_query=1).sample(make_generator(1), 4)
    one = batch.task(2)
    assert one.support_x.shape == (1, 3, 1, 28, 28)
    assert one.meta["class_names"] == batch.meta["class_names"][2:3]
