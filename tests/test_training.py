"""Training is deterministic from the seed, and a stopped run resumes to the very same weights."""

from __future__ import annotations

import pytest
import torch

from lab.checkpoint import load_sine_model
from lab.training import SineTrainConfig, train_sine


@pytest.mark.parametrize("method", ["maml", "pretrained"])
def test_stop_and_resume_equals_an_uninterrupted_run(tmp_path, method):
    config = SineTrainConfig(method=method, iterations=60, checkpoint_every=20)
    whole = train_sine(config, out=tmp_path / "whole", run_dir=None, log_every=10)

    stopped = train_sine(config, out=tmp_path / "part", run_dir=tmp_path / "runs", log_every=10,
                         on_progress=lambda p: p.iteration < 30)
    assert stopped.stopped and stopped.iterations == 30 and stopped.paths is None
    resumed = train_sine(config, out=tmp_path / "part", run_dir=tmp_path / "runs", log_every=10)
    assert resumed.resumed_from == 30 and resumed.iterations == 60
    for a, b in zip(whole.net.state_dict().values(), resumed.net.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert resumed.curve == pytest.approx(whole.curve)
    net, meta = load_sine_model(tmp_path / "part" / f"{method}_sine", f"{method}_sine")
    assert meta["extra"]["iterations"] == 60 and meta["extra"]["resumed_from"] == 30


def test_same_seed_same_weights_other_seed_other_weights():
    a = train_sine(SineTrainConfig(iterations=10, seed=3), run_dir=None).net.state_dict()
    b = train_sine(SineTrainConfig(iterations=10, seed=3), run_dir=None).net.state_dict()
    c = train_sine(SineTrainConfig(iterations=10, seed=4), run_dir=None).net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["body.0.weight"], c["body.0.weight"])


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="method='reptile'"):
        SineTrainConfig(method="reptile")
    with pytest.raises(ValueError, match="iterations=0"):
        SineTrainConfig(iterations=0)


def test_initial_weights_come_from_the_seed_not_the_global_generator(tmp_path):
    before = torch.get_rng_state()
    maml = train_sine(SineTrainConfig(method="maml", iterations=1), run_dir=None)
    torch.manual_seed(123)  # would change the result if training drew from the global generator
    again = train_sine(SineTrainConfig(method="maml", iterations=1), run_dir=None)
    assert all(torch.equal(a, b) for a, b in zip(maml.net.state_dict().values(),
                                                 again.net.state_dict().values(), strict=True))
    torch.set_rng_state(before)
    train_sine(SineTrainConfig(method="pretrained", iterations=1), run_dir=None)
    assert torch.equal(torch.get_rng_state(), before)


def test_one_iteration_still_has_a_loss_curve(tmp_path):
    result = train_sine(SineTrainConfig(method="pretrained", iterations=1), out=tmp_path, run_dir=None)
    assert len(result.curve) == 1 and result.curve[0] == result.curve[0]  # not NaN
    card = load_sine_model(tmp_path / "pretrained_sine", "pretrained_sine")[1]
    assert card["extra"]["final_loss"] == pytest.approx(result.curve[0])
