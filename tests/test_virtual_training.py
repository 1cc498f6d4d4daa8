"""Virtual-task training: the budget of real classes, virtual episodes, BatchNorm statistics kept to real
drawings, the alternating loop (both arms see the same real episodes; the generator learns while the
learner does), resuming, and the eval command's report and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from lab.cli import main
from lab.compute import make_generator
from lab.evaluation import validate_report
from lab.learners.generative import CharacterVAE, CharacterVAEConfig
from lab.learners.protonet import ProtoNet, ProtoNetConfig
from lab.nets import load_params_, random_init
from lab.virtual_training import (
    VirtualTrainConfig,
    budget_class_ids,
    real_statistics_only,
    train_virtual,
    virtual_episode,
)

TINY = dict(data="glyphs", real_classes=5, iterations=4, train_way=5, gen_warmup=3, gen_batch=4, gen_drawings=2,
            channels=4, vae={"hidden": 16}, checkpoint_every=2)


class _Chars:
    """A stand-in Omniglot source: 30 characters, each also rotated (120 class ids)."""

    name, n_characters, n_classes, drawings_per_class = "chars", 30, 120, 20


def test_budget_is_seeded_distinct_and_unrotated():
    ids = budget_class_ids(_Chars(), 6, budget_seed=3)
    assert len(set(ids)) == 6 and all(0 <= i < 30 for i in ids)  # rotated copies (ids >= 30) never count
    assert ids == budget_class_ids(_Chars(), 6, budget_seed=3)
    assert ids != budget_class_ids(_Chars(), 6, budget_seed=4)
    assert budget_class_ids(_Chars(), 0, 0) == list(range(30))  # 0: all characters
    with pytest.raises(ValueError, match="real_classes=31 but the training set has 30 characters"):
        budget_class_ids(_Chars(), 31, 0)
    with pytest.raises(ValueError, match="at least 5 real classes"):
        budget_class_ids(_Chars(), 3, 0)


def test_virtual_episode_has_labelled_classes_of_dreamt_drawings():
    model = CharacterVAE(CharacterVAEConfig(hidden=16))
    load_params_(model, random_init(model, 0))
    pool = torch.randn(4, model.config.class_dim)
    for codes in (None, pool):
        ep = virtual_episode(model, 3, 2, 4, make_generator(1), codes)
        assert ep.support_x.shape == (1, 6, 1, 28, 28) and ep.query_x.shape == (1, 12, 1, 28, 28)
        assert ep.support_y.tolist() == [[0, 0, 1, 1, 2, 2]]
        assert ep.query_y.tolist() == [[0] * 4 + [1] * 4 + [2] * 4]
        assert 0 <= float(ep.support_x.min()) and float(ep.query_x.max()) <= 1


def test_virtual_drawings_leave_the_running_statistics_to_real_ones():
    net = ProtoNet(ProtoNetConfig(channels=4))
    first_norm = net.encoder.encoder[0][1]
    before = first_norm.running_mean.clone()
    with real_statistics_only(net):
        net.encoder(torch.rand(6, 1, 28, 28))
    assert torch.equal(first_norm.running_mean, before) and first_norm.momentum == 0.1
    net.encoder(torch.rand(6, 1, 28, 28))
    assert not torch.equal(first_norm.running_mean, before)


def test_both_arms_see_the_same_real_episodes_and_the_generator_learns():
    real: dict[bool, list[float]] = {False: [], True: []}
    warmup: list[float] = []

    def record(virtual: bool):
        def report(it: int, means: dict[str, float]) -> None:
            (real[virtual] if it > 0 else warmup).append(means["real"] if it > 0 else means["vae"])
        return report

    results = {v: train_virtual(VirtualTrainConfig(virtual=v, **{**TINY, "iterations": 1, "gen_warmup": 60}),
                                on_progress=record(v), log_every=1) for v in (False, True)}
    # One iteration from the same initial weights: the real loss is equal only if the real episode is.
    assert len(real[False]) == 1 and real[False] == pytest.approx(real[True])
    assert results[False].generator is None and results[True].generator is not None
    assert len(warmup) == 15 and warmup[-1] < 0.8 * warmup[0]  # the generator's negative ELBO falls
    _, real_loss, virtual_loss, vae_loss = results[True].curve[-1]
    assert all(torch.isfinite(torch.tensor([real_loss, virtual_loss, vae_loss])))  # both phases ran


def test_a_stopped_run_resumes_to_the_same_weights(tmp_path):
    config = VirtualTrainConfig(**TINY)
    whole = train_virtual(config)
    stopped = train_virtual(config, run_dir=tmp_path, on_progress=lambda it, m: it < 2, log_every=1)
    assert stopped.stopped and stopped.iterations == 2
    resumed = train_virtual(config, run_dir=tmp_path)
    for a, b in zip(whole.learner.state_dict().values(), resumed.learner.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float())


def test_eval_virtual_prints_both_arms_per_budget_and_reuses_trained_models(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    args = ["eval", "virtual", "--data", "glyphs", "--real-classes", "5", "--iterations", "2", "--warmup", "1",
            "--channels", "4", "--episodes", "3", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    validate_report(report)
    assert [(r["method"], r["real_classes"]) for r in report["results"]] == [("real-only", 5), ("real+virtual", 5)]
    virtual_row = report["results"][1]
    assert virtual_row["gain"] == pytest.approx(virtual_row["mean"] - report["results"][0]["mean"], abs=1e-3)
    saved = sorted(p.name for p in (tmp_path / "home" / "models" / "virtual").glob("*.pt"))
    assert saved == ["virtual_glyphs_5_real_seed0_it2.pt", "virtual_glyphs_5_virtual_seed0_it2.pt",
                     "virtual_glyphs_5_virtual_seed0_it2_generator.pt"]
    assert len(list((tmp_path / "home" / "models" / "virtual").glob("*.eval.json"))) == 2  # the measured episodes
    stamps = [p.stat().st_mtime_ns for p in (tmp_path / "home" / "models" / "virtual").glob("*.pt")]
    assert main(args) == 0  # the second time loads them: same numbers, nothing rewritten
    assert json.loads(capsys.readouterr().out)["results"] == report["results"]
    assert [p.stat().st_mtime_ns for p in (tmp_path / "home" / "models" / "virtual").glob("*.pt")] == stamps


@pytest.mark.parametrize("argv, message", [
    (["--real-classes", "abc"], "must be whole numbers >= 5 or 'all'"),
    (["--real-classes", "3"], "must be whole numbers >= 5 or 'all'"),
    (["--real-classes", "5000", "--data", "glyphs"], "real_classes=5000 but the training set has 1600 characters"),
    (["--data", "mnist"], "choose from glyphs, omniglot"),
    (["--episodes", "1", "--data", "glyphs"], "at least 2 episodes"),
    (["--warmup", "-1", "--data", "glyphs"], "--warmup -1 must be >= 0"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    assert main(["eval", "virtual", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "home").exists()  # nothing trained before the input was checked
