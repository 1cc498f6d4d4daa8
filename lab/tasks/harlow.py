"""The Harlow task (Harlow 1949, "The formation of learning sets"), batched over episodes.

Each episode shows a new pair of objects — two glyph characters (:mod:`lab.tasks.glyphs`) the player has
never seen together — for ``n_trials`` trials. One object of the pair is always rewarded; which one sits on
the left is shuffled every trial. Trial 1 is a guess; from trial 2 on, a player who has formed a *learning
set* ("the object that paid is the one to pick, wherever it is") is right every time. Wang et al. 2018 ran
the same task on their meta-RL network (Fig. 6).

Objects come from a pool of glyph drawings rendered once per (split, pool size): the training alphabets
for training, the held-out alphabets for testing, so a tested network meets characters it never saw. The
rewarded object of an episode is object 0 of the pair; the pair itself is a random draw, so which drawing
is rewarded is random too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from lab.compute import make_generator
from lab.tasks.base import check_positive
from lab.tasks.splits import glyph_split

HARLOW_TRIALS = 6
POOL_SPLITS = ("train", "test")
POOL_SEED = 0  # the drawings of the object pool; fixed so a pool is the same everywhere


@lru_cache(maxsize=4)
def object_pool(split: str = "train", size: int | None = None) -> torch.Tensor:
    """Return the Harlow objects of ``split``: float32 ``[n, 28, 28]`` glyph drawings (ink 1 on 0), one per
    character, the first ``size`` characters (all of the split's when ``None``)."""
    if split not in POOL_SPLITS:
        raise ValueError(f"split={split!r}; choose one of {POOL_SPLITS}")
    source = getattr(glyph_split(), split)
    n = source.n_classes if size is None else size
    if not isinstance(n, int) or not 2 <= n <= source.n_classes:
        raise ValueError(f"pool size {n!r}: the {split} split has {source.n_classes} characters; choose 2..that")
    return source.drawings(torch.arange(n), 1, make_generator(POOL_SEED))[:, 0, 0].contiguous()


@dataclass
class HarlowBatch:
    """``n_episodes`` Harlow episodes.

    ``objects`` ``[episodes, 2, S, S]``: the episode's two objects, object 0 the rewarded one;
    ``object_ids`` ``[episodes, 2]``: their indices in the pool; ``left`` ``[episodes, trials]`` (long):
    which object (0 or 1) sits on the left in each trial.
    """

    objects: torch.Tensor
    object_ids: torch.Tensor
    left: torch.Tensor

    @property
    def n_episodes(self) -> int:
        """Return the number of episodes."""
        return int(self.objects.shape[0])

    @property
    def n_trials(self) -> int:
        """Return the number of trials per episode."""
        return int(self.left.shape[1])

    def observation(self, t: int) -> torch.Tensor:
        """Return trial ``t``'s screen ``[episodes, 2, S, S]``: the object on the left, then the one on the right."""
        order = torch.stack([self.left[:, t], 1 - self.left[:, t]], dim=1)  # [episodes, 2] object per position
        idx = order.view(-1, 2, 1, 1).expand(-1, -1, *self.objects.shape[2:])
        return self.objects.gather(1, idx)

    def rewarded_side(self, t: int) -> torch.Tensor:
        """Return where the rewarded object is at trial ``t`` ``[episodes]``: 0 left, 1 right."""
        return (self.left[:, t] != 0).long()

    def reward(self, t: int, actions: torch.Tensor) -> torch.Tensor:
        """Return the rewards ``[episodes]`` (1. for the rewarded object, else 0.) of ``actions`` (0 left, 1 right)."""
        return (actions == self.rewarded_side(t)).float()

    def correct(self, actions: torch.Tensor) -> torch.Tensor:
        """Return ``[episodes, trials]`` bools: whether each action ``[episodes, trials]`` chose the rewarded object."""
        sides = torch.stack([self.rewarded_side(t) for t in range(self.n_trials)], dim=1)
        return actions == sides

    def episode(self, index: int) -> HarlowBatch:
        """Return episode ``index`` alone (an episode axis of length 1)."""
        sl = slice(index, index + 1)
        return HarlowBatch(self.objects[sl], self.object_ids[sl], self.left[sl])


def sample_harlow(rng: torch.Generator, n_episodes: int, n_trials: int = HARLOW_TRIALS, split: str = "train",
                  pool: torch.Tensor | None = None) -> HarlowBatch:
    """Return a :class:`HarlowBatch`: each episode a random pair of distinct objects from ``pool`` (default
    :func:`object_pool` of ``split``) and random left/right positions every trial, all drawn with ``rng``."""
    check_positive("n_episodes", n_episodes)
    check_positive("n_trials", n_trials)
    pool = object_pool(split) if pool is None else pool
    n = pool.shape[0]
    if n < 2:
        raise ValueError(f"a Harlow pool needs at least 2 objects; this one has {n}")
    device = rng.device
    first = torch.randint(0, n, (n_episodes,), generator=rng, device=device)
    second = (first + torch.randint(1, n, (n_episodes,), generator=rng, device=device)) % n  # never the same
    ids = torch.stack([first, second], dim=1)
    left = torch.randint(0, 2, (n_episodes, n_trials), generator=rng, device=device)
    return HarlowBatch(pool.to(device)[ids], ids, left)
