"""The issue's short run: with few real Omniglot classes, virtual tasks lower the held-out query loss.

10 real characters, 300 learner steps (16-channel ProtoNet) after 300 generator-only steps, Omniglot's recipe
(spliced and quarter-turned dreamt classes): the real+virtual arm's mean 5-way 1-shot query cross-entropy on
200 episodes of the test alphabets is below the real-only arm's on the very same episodes (measured 1.615 vs
1.669; 1.572 vs 1.621 with training seed 1). Shorter runs or fewer classes do not show it reliably (see the
note of issue 6): at 150 steps the two are within 0.015, and with 5 or 20 real classes virtual tasks raise
held-out accuracy but not always lower the loss.
"""

from __future__ import annotations

import pytest
import torch

from lab import nets
from lab.compute import make_generator
from lab.tasks.episodes import FewShotFamily
from lab.tasks.omniglot import default_omniglot_path
from lab.tasks.splits import data_split
from lab.virtual_training import VirtualTrainConfig, train_virtual

SHORT = dict(data="omniglot", real_classes=10, train_way=10, iterations=300, channels=16, gen_warmup=300,
             sampler="splice", rotate=True)


def _held_out_query_loss(learner, family: FewShotFamily) -> float:
    rng = make_generator(99)  # the same 200 test episodes for both arms
    with nets.test_mode(learner):
        losses = [learner.loss(family.sample(rng, 25))[0].item() for _ in range(8)]
    return sum(losses) / len(losses)


@pytest.mark.slow
def test_a_short_run_with_virtual_tasks_lowers_the_held_out_query_loss():
    path = default_omniglot_path()
    if path is None or not (path / "images_background_small1.zip").exists():
        pytest.skip("the small Omniglot archives are not on this machine (../shared/data/omniglot)")
    torch.set_num_threads(1)
    family = FewShotFamily(data_split("omniglot").test, 5, 1, 15)
    loss = {virtual: _held_out_query_loss(train_virtual(VirtualTrainConfig(virtual=virtual, **SHORT)).learner, family)
            for virtual in (False, True)}
    assert loss[True] < loss[False] - 0.02, loss
